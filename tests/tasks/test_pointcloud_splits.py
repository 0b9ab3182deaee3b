"""A point-cloud dataset whose stratified split would leave a part empty names the file
and the cause (the shared ``check_split_parts``), like the text, image and audio loaders."""

from __future__ import annotations

import numpy as np
import pytest

from convkit.errors import DataError
from convkit.tasks.pointcloud.data import load_pointcloud_dataset


def test_one_cloud_per_class_names_the_file_and_why_a_split_would_be_empty(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "clouds.npz"
    np.savez(path, points=rng.normal(size=(300, 16, 3)).astype(np.float32), labels=np.arange(300))
    with pytest.raises(DataError, match=r"clouds.npz: the val split would be empty: a stratified train/val/test "
                                        r"split needs a class with at least 3 examples, and every class has fewer"):
        load_pointcloud_dataset(path, num_points=16)
