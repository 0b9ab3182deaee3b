"""Pretrained weights by name: torchvision's own model code (its Python files, as
``convkit.bench.compute`` loads them) builds each listed architecture, its state dict is
saved and loaded into convkit's model by name, and the logits must be identical in eval
and train mode; the transfer rules (new classes, new input channels, 2D -> 3D / 1D) and
the one-line errors for files that do not fit.

torchvision comes from an importable package, ``$CONVKIT_TORCHVISION_SRC`` (a folder
holding an unpacked ``torchvision/``), or ``pip download torchvision==0.29.1`` into the
cache folder (a short timeout); without any of them those tests skip with the reason."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from convkit.bench.compute import torchvision_models
from convkit.data.cache import cache_dir
from convkit.errors import ConfigError
from convkit.models import create_model, inflate
from convkit.models.weights import (
    TORCHVISION_PREPROCESSING,
    Weights,
    adapt_input_conv,
    load_weights,
    preprocessing_of,
    read_weights,
    save_weights,
)

TORCHVISION_VERSION = "0.29.1"


def _download_torchvision() -> Path | None:
    """torchvision's wheel unpacked in the cache folder (downloaded once, no install), or None."""
    folder = cache_dir("torchvision-src", TORCHVISION_VERSION)
    if (folder / "torchvision" / "models" / "resnet.py").is_file():
        return folder
    wheels = folder / "wheel"
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", f"torchvision=={TORCHVISION_VERSION}", "--no-deps",
                        "--only-binary=:all:", "-d", str(wheels), "-q"], check=True, timeout=120,
                       capture_output=True)
        (wheel,) = wheels.glob("torchvision-*.whl")
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(folder, [n for n in zf.namelist() if n.startswith("torchvision/") and n.endswith(".py")])
    except (subprocess.SubprocessError, OSError, ValueError, zipfile.BadZipFile):
        return None
    return folder if (folder / "torchvision" / "models" / "resnet.py").is_file() else None


@pytest.fixture(scope="module")
def tv():
    """torchvision's ``models`` package (its Python model code), or a skip with the reason."""
    models, why = torchvision_models()
    if models is None and not os.environ.get("CONVKIT_TORCHVISION_SRC"):
        folder = _download_torchvision()
        if folder is not None:
            os.environ["CONVKIT_TORCHVISION_SRC"] = str(folder)
            try:
                models, why = torchvision_models()
            finally:
                del os.environ["CONVKIT_TORCHVISION_SRC"]
    if models is None:
        pytest.skip(f"torchvision's model code is not available: {why}")
    return models


IMAGE = [("resnet18", 64), ("resnet34", 64), ("resnet50", 64), ("resnet101", 64), ("resnet152", 64),
         ("resnext50_32x4d", 64), ("wide_resnet50_2", 64), ("alexnet", 64),
         *[(f"vgg{n}{bn}", 32) for n in (11, 13, 16, 19) for bn in ("", "_bn")],
         *[(f"efficientnet_b{i}", 32) for i in range(8)]]
VIDEO = ["r3d_18", "mc3_18", "r2plus1d_18"]
CLASSES = 10


def _logits(model: torch.nn.Module, x: torch.Tensor, train: bool) -> torch.Tensor:
    model.train(train)
    torch.manual_seed(7)  # dropout and stochastic depth draw the same numbers in both models
    with torch.no_grad():
        return model(x)


def _same_logits(reference: torch.nn.Module, model: torch.nn.Module, x: torch.Tensor) -> None:
    for train in (False, True):
        a, b = _logits(reference, x, train), _logits(model, x, train)
        assert a.shape == b.shape == (x.shape[0], CLASSES)
        assert float((a - b).abs().max()) <= 1e-5, ("train" if train else "eval", float((a - b).abs().max()))


@pytest.mark.parametrize("name,size", IMAGE)
def test_torchvision_image_weights_load_by_name_with_identical_logits(tv, tmp_path, one_thread, name, size):
    torch.manual_seed(0)
    reference = getattr(tv, name)(num_classes=CLASSES)
    path = tmp_path / f"{name}.pth"
    torch.save(reference.state_dict(), path)
    model = create_model(name, num_classes=CLASSES, pretrained=path)
    _same_logits(reference, model, torch.randn(2, 3, size, size))


@pytest.mark.parametrize("name", VIDEO)
def test_torchvision_video_weights_load_by_name_with_identical_logits(tv, tmp_path, one_thread, name):
    torch.manual_seed(0)
    reference = getattr(tv.video, name)(num_classes=CLASSES)
    path = tmp_path / f"{name}.pth"
    torch.save(reference.state_dict(), path)
    model = create_model(name, num_classes=CLASSES, pretrained=path)
    _same_logits(reference, model, torch.randn(2, 3, 4, 32, 32))


def test_torchvision_weights_as_safetensors(tv, tmp_path, one_thread):
    from safetensors.torch import save_file

    reference = tv.resnet18(num_classes=CLASSES)
    save_file(reference.state_dict(), str(tmp_path / "resnet18.safetensors"))
    model = create_model("resnet18", num_classes=CLASSES, pretrained=tmp_path / "resnet18.safetensors")
    _same_logits(reference, model, torch.randn(2, 3, 32, 32))


def test_key_maps_are_explicit_and_name_every_key_once():
    """Spot checks of each family's map, and every key of every listed architecture gets a
    distinct torchvision name (no torchvision needed)."""
    def names(model: torch.nn.Module) -> dict[str, str]:
        from convkit.models.weights import _rename
        pairs = model.torchvision_prefixes()
        return {k: _rename(k, pairs) for k in model.state_dict()}

    with torch.device("meta"):
        expected = {
            "resnet50": {"features.0.weight": "conv1.weight", "features.1.running_var": "bn1.running_var",
                         "features.4.0.downsample.0.weight": "layer1.0.downsample.0.weight",
                         "features.7.2.conv3.weight": "layer4.2.conv3.weight", "head.1.bias": "fc.bias"},
            "vgg16_bn": {"features.0.0.weight": "features.0.weight", "features.0.1.bias": "features.1.bias",
                         "features.1.0.weight": "features.3.weight", "features.3.0.weight": "features.7.weight",
                         "features.20.weight": "classifier.0.weight", "features.23.weight": "classifier.3.weight",
                         "head.1.weight": "classifier.6.weight"},
            "vgg11": {"features.2.0.weight": "features.3.weight", "features.15.weight": "classifier.0.weight"},
            "alexnet": {"features.10.weight": "features.10.weight", "features.16.weight": "classifier.1.weight",
                        "features.19.bias": "classifier.4.bias", "head.1.weight": "classifier.6.weight"},
            "efficientnet_b3": {"features.1.0.block.0.0.weight": "features.1.0.block.0.0.weight",
                                "head.1.weight": "classifier.1.weight"},
            "r3d_18": {"features.0.weight": "stem.0.weight", "features.3.0.conv1.weight": "layer1.0.conv1.0.weight",
                       "features.3.0.bn2.bias": "layer1.0.conv2.1.bias",
                       "features.4.0.downsample.1.weight": "layer2.0.downsample.1.weight"},
            "mc3_18": {"features.4.1.conv1.weight": "layer2.1.conv1.0.weight"},
            "r2plus1d_18": {"features.3.weight": "stem.3.weight", "features.6.0.conv1.3.weight":
                            "layer1.0.conv1.0.3.weight", "features.6.0.bn1.weight": "layer1.0.conv1.1.weight",
                            "head.1.weight": "fc.weight"},
        }
        for name, spots in expected.items():
            mapped = names(create_model(name))
            for key, tv_key in spots.items():
                assert mapped[key] == tv_key, (name, key, mapped[key])
        for name, _ in IMAGE + [(v, 0) for v in VIDEO]:
            mapped = names(create_model(name))
            assert len(set(mapped.values())) == len(mapped), name
        assert create_model("resnet18", small_input=True).torchvision_prefixes()[2] == ("features.3.", "layer1.")
        assert create_model("lenet5").torchvision_prefixes() is None


# --------------------------------------------------------------------------- transfer rules


def _saved(tmp_path: Path, model: torch.nn.Module, name: str = "w.pth") -> Path:
    torch.save(model.state_dict(), tmp_path / name)
    return tmp_path / name


def test_a_new_number_of_classes_keeps_the_backbone_and_starts_a_fresh_head(tmp_path, one_thread):
    torch.manual_seed(0)
    source = create_model("resnet18", num_classes=10, widths=(8, 16, 32, 64)).eval()
    model = create_model("resnet18", num_classes=3, widths=(8, 16, 32, 64)).eval()
    report = load_weights(model, _saved(tmp_path, source))
    assert report.reinitialised == ["head.1.weight", "head.1.bias"] and report.layout == "convkit"
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model.forward_features(x), source.forward_features(x))
        assert model(x).shape == (2, 3)


def test_one_input_channel_sums_the_first_conv(tmp_path, one_thread):
    """A grey image in the 1-channel model gives what the RGB model gives on that grey in all
    three channels (timm's adapt_input_conv)."""
    torch.manual_seed(0)
    source = create_model("resnet18", num_classes=5, widths=(8, 16, 32, 64)).eval()
    model = create_model("resnet18", in_channels=1, num_classes=5, widths=(8, 16, 32, 64),
                         pretrained=_saved(tmp_path, source)).eval()
    grey = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(grey), source(grey.expand(-1, 3, -1, -1)), atol=1e-5)
    six = adapt_input_conv(source.features[0].weight, 6)  # repeated twice, halved
    assert six.shape[1] == 6 and torch.allclose(six.sum((1, 2, 3)), source.features[0].weight.sum((1, 2, 3)))
    assert adapt_input_conv(source.features[0].weight, 2).shape[1] == 2


def test_inflated_pretrained_2d_weights_give_the_2d_logits_on_a_clip_of_identical_frames(tmp_path, one_thread):
    """2D weights (a file) in the 2D model, inflated to 3D (I3D: repeat over time, divide):
    a clip whose frames all equal one image gives that image's 2D logits; create_model with
    the same file builds the same 3D weights directly."""
    torch.manual_seed(0)
    path = _saved(tmp_path, create_model("resnet18", num_classes=6, widths=(8, 16, 32, 64)))
    model_2d = create_model("resnet18", num_classes=6, widths=(8, 16, 32, 64), pretrained=path).eval()
    model_3d = inflate(model_2d, spatial_dims=3).eval()
    frame = torch.rand(2, 3, 32, 32)
    clip = frame.unsqueeze(2).expand(-1, -1, 8, -1, -1).contiguous()
    with torch.no_grad():
        assert float((model_3d(clip) - model_2d(frame)).abs().max()) <= 1e-5
    direct = create_model("resnet18", spatial_dims=3, num_classes=6, widths=(8, 16, 32, 64), pretrained=path)
    zeros_twin = inflate(model_2d, spatial_dims=3, time_padding="zeros")
    assert all(torch.equal(a, b) for a, b in zip(direct.state_dict().values(), zeros_twin.state_dict().values()))


def test_torchvision_imagenet_weights_inflate_into_a_3d_model(tv, tmp_path, one_thread):
    """I3D from torchvision's 2D ResNet-18 file: create_model(spatial_dims=3, pretrained=...)
    is the inflated 2D model, and the inflated model (edge frames repeated in time) gives
    torchvision's 2D logits on a clip of identical frames."""
    reference = tv.resnet18(num_classes=CLASSES).eval()
    path = _saved(tmp_path, reference, "resnet18.pth")
    model_2d = create_model("resnet18", num_classes=CLASSES, pretrained=path).eval()
    model_3d = create_model("resnet18", spatial_dims=3, num_classes=CLASSES, pretrained=path)
    twin = inflate(model_2d, spatial_dims=3, time_padding="zeros")
    assert all(torch.equal(a, b) for a, b in zip(model_3d.state_dict().values(), twin.state_dict().values()))
    frame = torch.rand(2, 3, 32, 32)
    clip = frame.unsqueeze(2).expand(-1, -1, 4, -1, -1).contiguous()
    with torch.no_grad():
        assert float((inflate(model_2d).eval()(clip) - reference(frame)).abs().max()) <= 1e-5


def test_dense_layers_over_a_flattened_grid_inflate(tmp_path, one_thread):
    """VGG's first dense layer reads the flattened pooled grid: 2D weights in the 3D model
    spread it over time, as inflate does."""
    options = dict(width_mult=0.125, hidden=32, pool_size=2)
    path = _saved(tmp_path, create_model("vgg11", num_classes=4, **options))
    model_2d = create_model("vgg11", num_classes=4, pretrained=path, **options)
    model_3d = create_model("vgg11", spatial_dims=3, num_classes=4, pretrained=path, **options)
    twin = inflate(model_2d, spatial_dims=3, time_padding="zeros")
    assert model_3d.features[15].weight.shape == (32, 64 * 2 ** 3)
    assert all(torch.equal(a, b) for a, b in zip(model_3d.state_dict().values(), twin.state_dict().values()))


def test_2d_weights_in_a_1d_model_sum_over_height(tmp_path, one_thread):
    torch.manual_seed(0)
    source = create_model("lenet5", num_classes=4).eval()
    model = create_model("lenet5", spatial_dims=1, num_classes=4, pretrained=_saved(tmp_path, source)).eval()
    twin = inflate(source, spatial_dims=1)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), twin.state_dict().values()))


def test_a_wrapper_prefix_is_found_and_safetensors_round_trip(tmp_path, one_thread):
    torch.manual_seed(0)
    source = create_model("audio_cnn", num_classes=4, channels=(4, 8))
    wrapped = {f"backbone.{k}": v for k, v in source.state_dict().items()}
    wrapped["frontend.0.window"] = torch.ones(8)
    path = tmp_path / "run.safetensors"
    save_weights(wrapped, path, {"model": "audio_cnn", "preprocessing": {"mean": [0.5], "std": [0.2], "x": 1},
                                 "label_names": list("abcd")})
    weights = read_weights(path)
    assert weights.architecture == "audio_cnn" and weights.label_names == list("abcd")
    assert weights.preprocessing == {"mean": [0.5], "std": [0.2]}
    model = create_model("audio_cnn", num_classes=4, channels=(4, 8))
    assert load_weights(model, weights).left_out == ["frontend.0.window"]  # the wrapper's own
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), source.state_dict().values()))
    headless = create_model("audio_cnn", num_classes=4, channels=(4, 8), pretrained=weights.without_head())
    assert not torch.equal(headless.head[1].weight, source.head[1].weight)


def test_preprocessing_travels_with_torchvision_weights():
    tv_like = Weights({"fc.weight": torch.zeros(1)}, "x.pth")
    assert preprocessing_of(tv_like, "resnet50")["mean"] == [0.485, 0.456, 0.406]
    assert preprocessing_of(tv_like, "r2plus1d_18")["dataset"] == "Kinetics-400"
    assert preprocessing_of(tv_like, "efficientnet_b3")["input_size"] == [300, 300]
    assert preprocessing_of(Weights({"features.0.weight": torch.zeros(1)}, "own.pth"), "resnet50") == {}
    assert set(TORCHVISION_PREPROCESSING) >= {name for name, _ in IMAGE} | set(VIDEO)


# --------------------------------------------------------------------------- errors


def _one_line(err: pytest.ExceptionInfo, *words: str) -> None:
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_files_that_do_not_fit_are_one_line_and_change_nothing(tmp_path, one_thread):
    torch.manual_seed(0)
    model = create_model("resnet18", num_classes=5, widths=(8, 16, 32, 64))
    before = {k: v.clone() for k, v in model.state_dict().items()}

    other = create_model("resnet34", num_classes=5, widths=(8, 16, 32, 64))
    with pytest.raises(ConfigError) as err:
        load_weights(model, _saved(tmp_path, other, "resnet34.pth"))
    _one_line(err, "resnet34.pth", "does not fit model resnet18", "keys the model does not have",
              "features.4.2.conv1.*")

    wider = create_model("resnet18", num_classes=5, widths=(16, 16, 32, 64))
    with pytest.raises(ConfigError) as err:
        load_weights(model, _saved(tmp_path, wider, "wider.pth"))
    _one_line(err, "shapes that do not fit", "features.0.weight [16, 3, 7, 7] vs features.0.weight [8, 3, 7, 7]")

    partial = {k: v for k, v in other.state_dict().items() if not k.startswith("features.7")}
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(ConfigError) as err:
        load_weights(create_model("resnet34", num_classes=5, widths=(8, 16, 32, 64)), tmp_path / "partial.pth")
    _one_line(err, "keys the model has are missing", "features.7.0.conv1.*")

    noise = random.Random(0)
    for name, first in (("noise.pth", b"N"), ("pickle_noise.pth", b"\x80")):  # not a pickle; a pickle's first byte
        (tmp_path / name).write_bytes(first + bytes(noise.randrange(256) for _ in range(2000)))
        with pytest.raises(ConfigError) as err:
            load_weights(model, tmp_path / name)
        _one_line(err, name, "not a readable weights file")

    good = _saved(tmp_path, create_model("resnet18", num_classes=5, widths=(8, 16, 32, 64)), "cut.pth")
    good.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(ConfigError) as err:
        load_weights(model, good)
    _one_line(err, "cut.pth", "not a readable weights file")

    torch.save(model, tmp_path / "pickled.pth")  # the module object: unpickling would run code
    with pytest.raises(ConfigError) as err:
        load_weights(model, tmp_path / "pickled.pth")
    _one_line(err, "pickled.pth", "refused", "pickled code")

    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}......")
    with pytest.raises(ConfigError) as err:
        load_weights(model, tmp_path / "bad.safetensors")
    _one_line(err, "bad.safetensors", "not a readable safetensors file")

    torch.save({"epochs": 3}, tmp_path / "notes.pth")
    with pytest.raises(ConfigError) as err:
        load_weights(model, tmp_path / "notes.pth")
    _one_line(err, "notes.pth", "not a state dict")

    torch.save({"text.weight": torch.zeros(2)}, tmp_path / "text.pth")
    with pytest.raises(ConfigError) as err:
        load_weights(model, tmp_path / "text.pth")
    _one_line(err, "no key fits model resnet18")

    with pytest.raises(ConfigError) as err:
        create_model("resnet18", pretrained=tmp_path / "absent.pth")
    _one_line(err, "absent.pth", "no such weights file")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
