"""Point-cloud data: OFF meshes (area-weighted surface sampling, ModelNet's header quirk,
bad meshes), point files of every format, the .npz format, folder layouts and splits,
the cache (never next to the data), per-epoch subsets, the generated solids."""

import os
import stat
import warnings

import numpy as np
import pytest
import torch

from convkit.errors import DataError
from convkit.tasks.pointcloud.data import (
    PointCloudDataset,
    load_point_files,
    load_pointcloud_dataset,
    load_pointcloud_eval_set,
    normalize,
    read_off,
    read_ply,
    read_points,
    sample_surface,
)
from convkit.tasks.pointcloud.synthetic import SOLID_CLASSES, make_solids

CUBE_V = [[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)]
CUBE_QUADS = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]


def write_off(path, vertices, faces, header="OFF"):
    lines = [header, f"{len(vertices)} {len(faces)} 0"] if header == "OFF" else [header]
    lines += [" ".join(map(str, v)) for v in vertices]
    lines += [" ".join(map(str, [len(f), *f])) for f in faces]
    path.write_text("\n".join(lines) + "\n")
    return path


def tetra(scale=1.0):
    return [[0, 0, 0], [scale, 0, 0], [0, scale, 0], [0, 0, scale]], [(0, 2, 1), (0, 1, 3), (0, 3, 2), (1, 2, 3)]


def test_read_off_triangulates_quads_and_reads_modelnets_glued_header(tmp_path):
    v, f = read_off(write_off(tmp_path / "cube.off", CUBE_V, CUBE_QUADS))
    assert v.shape == (8, 3) and f.shape == (12, 3)
    glued = tmp_path / "glued.off"
    glued.write_text("OFF8 12 0\n# a comment\n" + "\n".join(" ".join(map(str, p)) for p in CUBE_V) + "\n"
                     + "\n".join(f"3 {a} {b} {c}" for a, b, c in f) + "\n")
    v2, f2 = read_off(glued)
    np.testing.assert_array_equal(v2, v)
    np.testing.assert_array_equal(f2, f)


@pytest.mark.parametrize("text,message", [
    ("PLY\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n", "expected the header 'OFF'"),
    ("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n", "indexes vertex 7, but the mesh has 3 vertices"),
    ("OFF\n3 0 0\n0 0 0\n1 0 0\n0 1 0\n", "no faces"),
    ("OFF\n3 1 0\n0 0 0\n1 0 0\n", "ends early"),
    ("OFF\n3 1 0\n0 0 0\n1 0 0\n0 x 0\n3 0 1 2\n", "bad number"),
])
def test_bad_meshes_are_clear_errors_naming_the_file(tmp_path, text, message):
    path = tmp_path / "bad.off"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as err:
        read_off(path)
    assert str(path) in str(err.value)


def test_surface_sampling_is_area_weighted_and_on_the_surface():
    # a 1x1 square (area 1) and a 1x4 rectangle (area 4), side by side in the plane z=0
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [2, 0, 0], [6, 0, 0], [6, 1, 0], [2, 1, 0]], float)
    f = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    pts = sample_surface(v, f, 20000, np.random.default_rng(0))
    assert np.all(pts[:, 2] == 0) and np.all((pts[:, 1] >= 0) & (pts[:, 1] <= 1))
    assert np.all((pts[:, 0] <= 1) | (pts[:, 0] >= 2))           # nothing in the gap
    assert (pts[:, 0] <= 1).mean() == pytest.approx(0.2, abs=0.01)  # area 1 of 5
    # uniform within a triangle: the share in the lower half of the big rectangle is 1/2
    big = pts[pts[:, 0] >= 2]
    assert (big[:, 1] < 0.5).mean() == pytest.approx(0.5, abs=0.02)


def test_point_files_of_every_format(tmp_path):
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(50, 6))
    np.save(tmp_path / "a.npy", pts)
    np.savetxt(tmp_path / "a.txt", pts, delimiter=",")                 # ModelNet40-normal style
    np.savetxt(tmp_path / "a.xyz", pts[:, :3])
    header = ("ply\nformat {}\nelement vertex 50\nproperty float nx\nproperty float x\nproperty float y\n"
              "property float z\nelement face 0\nproperty list uchar int vertex_indices\nend_header\n")
    (tmp_path / "ascii.ply").write_text(header.format("ascii 1.0")
                                        + "\n".join(f"{r[3]} {r[0]} {r[1]} {r[2]}" for r in pts) + "\n")
    table = np.stack([pts[:, 3], pts[:, 0], pts[:, 1], pts[:, 2]], 1).astype("<f4")
    (tmp_path / "bin.ply").write_bytes(header.format("binary_little_endian 1.0").encode() + table.tobytes())
    np.testing.assert_allclose(read_points(tmp_path / "a.npy"), pts)
    np.testing.assert_allclose(read_points(tmp_path / "a.txt"), pts)
    np.testing.assert_allclose(read_points(tmp_path / "a.xyz"), pts[:, :3])
    for name in ("ascii.ply", "bin.ply"):                               # x, y, z first, then the rest
        np.testing.assert_allclose(read_ply(tmp_path / name), np.concatenate([pts[:, :3], pts[:, 3:4]], 1), rtol=1e-5)
    bad = tmp_path / "bad.txt"
    bad.write_text("1 2 3\n4 5\n")
    with pytest.raises(DataError, match="same count on every row"):
        read_points(bad)


def test_normalize_centres_and_fits_the_unit_sphere():
    pts = np.random.default_rng(0).normal(5, 3, size=(100, 6))
    out = normalize(pts)
    np.testing.assert_allclose(out[:, :3].mean(0), 0, atol=1e-12)
    assert np.linalg.norm(out[:, :3], axis=1).max() == pytest.approx(1.0)
    np.testing.assert_array_equal(out[:, 3:], pts[:, 3:])              # normals untouched


def _class_folders(root, split=None):
    """<class>/<sample> of every format: cubes (meshes, .npy, .ply) and tetrahedra."""
    rng = np.random.default_rng(1)
    for cls, (v, f) in {"cube": (CUBE_V, CUBE_QUADS), "tetra": tetra()}.items():
        d = root / cls if split is None else root / cls / split
        d.mkdir(parents=True)
        for i in range(6):
            write_off(d / f"{cls}_{i}.off", (np.array(v) * (1 + i)).tolist(), f)
        cloud = sample_surface(np.array(v, float), np.array([t for q in f for t in _tris(q)]), 40, rng)
        np.save(d / f"{cls}_pts.npy", cloud)
        np.savetxt(d / f"{cls}_pts.txt", cloud)
    return root


def _tris(face):
    return [(face[0], face[i], face[i + 1]) for i in range(1, len(face) - 1)]


def test_modelnet_layout_uses_its_splits_and_caches_outside_the_data(tmp_path):
    data = tmp_path / "ModelNet2"
    _class_folders(data, "train")
    _class_folders_test = data / "cube" / "test"
    _class_folders_test.mkdir()
    write_off(_class_folders_test / "c.off", CUBE_V, CUBE_QUADS)
    (data / "tetra" / "test").mkdir()
    write_off(data / "tetra" / "test" / "t.off", *tetra())
    os.chmod(data, stat.S_IRUSR | stat.S_IXUSR)                        # read-only data folder
    cache = tmp_path / "cache"
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            splits = load_pointcloud_dataset(data, num_points=32, cache_dir=cache, seed=0)
    finally:
        os.chmod(data, stat.S_IRWXU)
    assert splits.label_names == ["cube", "tetra"]
    assert len(splits.test) == 2 and len(splits.train) + len(splits.val) == 16
    assert sorted(splits.test.labels.tolist()) == [0, 1]
    x, y = splits.train[0]
    assert x.shape == (3, 32) and x.dtype == torch.float32
    assert torch.linalg.norm(x, dim=0).max() == pytest.approx(1.0, abs=1e-5)
    assert [p.name for p in cache.iterdir()] and not any(p.suffix == ".npz" for p in data.rglob("*"))
    assert any("resampled 4 clouds of 40..40 points to 32" in str(w.message) for w in caught)
    again = load_pointcloud_dataset(data, num_points=32, cache_dir=cache, seed=0)   # from the cache
    assert torch.equal(again.train.points, splits.train.points)


def test_bad_files_are_skipped_and_named_or_errors_when_strict(tmp_path):
    data = _class_folders(tmp_path / "d")
    (data / "cube" / "nan.npy").write_bytes(b"")
    np.save(data / "cube" / "nan.npy", np.array([[0, 0, np.nan]] * 10))
    np.save(data / "cube" / "same.npy", np.ones((10, 3)))
    (data / "tetra" / "noface.off").write_text("OFF\n3 0 0\n0 0 0\n1 0 0\n0 1 0\n")
    (data / "tetra" / "short.xyz").write_text("0 0 0\n1 0 0\n0 1 0\n0 0 1\n")
    with pytest.warns(UserWarning) as caught:
        splits = load_pointcloud_dataset(data, num_points=16, cache_dir=tmp_path / "c")
    text = "\n".join(str(w.message) for w in caught)
    assert "nan.npy: has NaN" in text and "same.npy: every point is the same" in text
    assert "noface.off: the mesh has no faces" in text
    assert "1 with fewer: the rest drawn again with replacement" in text
    assert len(splits.train) + len(splits.val) + len(splits.test) == 2 * 8 + 1
    with pytest.raises(DataError, match="nan.npy: has NaN"):
        load_pointcloud_dataset(data, num_points=16, cache_dir=tmp_path / "c2", strict=True)


def test_one_class_and_empty_folders_are_errors(tmp_path):
    d = tmp_path / "one"
    (d / "cube").mkdir(parents=True)
    write_off(d / "cube" / "a.off", CUBE_V, CUBE_QUADS)
    with pytest.raises(DataError, match="only one class"):
        load_pointcloud_dataset(d, num_points=8, cache_dir=tmp_path / "c")
    (tmp_path / "empty" / "x").mkdir(parents=True)
    with pytest.raises(DataError, match="no point clouds found"):
        load_pointcloud_dataset(tmp_path / "empty", num_points=8, cache_dir=tmp_path / "c")
    with pytest.raises(DataError, match="no such folder"):
        load_pointcloud_dataset(tmp_path / "missing", num_points=8)


def test_npz_with_labels_names_and_split(tmp_path):
    points, labels, names = make_solids(4, 20, seed=0, classes=("sphere", "cube", "cone"))
    points[0, 0, 0] = np.nan
    split = np.array(["train"] * 8 + ["test"] * 4)
    np.savez(tmp_path / "d.npz", points=points, labels=labels, label_names=np.array(names), split=split)
    with pytest.warns(UserWarning, match="skipping cloud 0: NaN"):
        splits = load_pointcloud_dataset(tmp_path / "d.npz", num_points=16)
    assert splits.label_names == names
    assert len(splits.test) == 4 and len(splits.train) + len(splits.val) == 7
    assert splits.train[0][0].shape == (3, 16)
    np.savez(tmp_path / "bad.npz", points=points[:, :, :2], labels=labels)
    with pytest.raises(DataError, match=r"expected points \[S, P, 3\+\]"):
        load_pointcloud_dataset(tmp_path / "bad.npz", num_points=16)
    np.savez(tmp_path / "nolabels.npz", points=points)
    with pytest.raises(DataError, match="'labels'"):
        load_pointcloud_dataset(tmp_path / "nolabels.npz", num_points=16)


def test_eval_set_maps_classes_by_name_and_predict_files(tmp_path):
    data = _class_folders(tmp_path / "d")
    test = load_pointcloud_eval_set(data, ["other", "tetra", "cube"], num_points=16, cache_dir=tmp_path / "c")
    assert set(test.labels.tolist()) == {1, 2} and len(test) == 16
    with pytest.raises(DataError, match="not among the model's classes"):
        load_pointcloud_eval_set(data, ["cube"], num_points=16, cache_dir=tmp_path / "c")
    clouds = load_point_files([data / "cube" / "cube_0.off", data / "tetra" / "tetra_pts.txt"], 24)
    assert clouds.shape == (2, 3, 24)
    with pytest.raises(DataError, match="no such file"):
        load_point_files([tmp_path / "nope.npy"], 24)


def test_per_epoch_subsets_are_fixed_by_seed_epoch_and_index():
    points = torch.randn(3, 50, 3)
    ds = PointCloudDataset(points, torch.tensor([0, 1, 0]), num_points=20, resample_per_epoch=True, seed=7)
    ds.set_epoch(0)
    a = ds[1][0]
    ds.set_epoch(1)
    b = ds[1][0]
    ds.set_epoch(0)
    assert torch.equal(ds[1][0], a) and not torch.equal(a, b)
    rows = {tuple(r) for r in points[1].tolist()}
    assert all(tuple(c) in rows for c in a.t().tolist())            # a subset of the cloud's points
    fixed = PointCloudDataset(points, torch.tensor([0, 1, 0]), num_points=20)
    assert torch.equal(fixed[2][0], points[2, :20].t())


def test_generated_solids_are_deterministic_normalised_and_varied():
    points, labels, names = make_solids(5, 64, seed=3)
    again, _, _ = make_solids(5, 64, seed=3)
    assert names == list(SOLID_CLASSES) and len(names) >= 8
    np.testing.assert_array_equal(points, again)
    assert points.shape == (5 * len(names), 64, 3) and np.bincount(labels).tolist() == [5] * len(names)
    np.testing.assert_allclose(np.linalg.norm(points, axis=2).max(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(points.mean(1), 0, atol=1e-5)
    spheres = points[labels == 0]
    assert not np.allclose(spheres[0], spheres[1])                  # different instances
    # random pose: the principal axes of the cubes point in different directions
    cubes = points[labels == names.index("cylinder")]
    axes = [np.linalg.svd(c - c.mean(0))[2][0] for c in cubes]
    assert min(abs(axes[0] @ a) for a in axes[1:]) < 0.99
