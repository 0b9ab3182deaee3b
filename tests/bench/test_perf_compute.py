"""The compute section: the matmul peak over sizes, bf16 detection, the settings timed,
the choice of per-device defaults from the figures, the TCN pair (with and without
pytorch-tcn), torchvision's model code as a peer, and the allocator switch. No timed
assertions: only what the figures are made of."""

from __future__ import annotations

import builtins
import importlib.util
import math
import sys

import pytest
import torch

from convkit.bench import compute, perf
from convkit.bench.compute import Workload
from convkit.train import runtime

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_matmul_peak_is_the_best_size_and_respects_the_time_cap():
    peak = perf.matmul_peak_gflops(CPU, sizes=(64, 128), min_seconds=0.01)
    assert set(peak["by_size"]) == {64, 128} and peak["dtype"] == "float32"
    assert peak["gflops"] == max(peak["by_size"].values()) and peak["by_size"][peak["size"]] == peak["gflops"]
    capped = perf.matmul_peak_gflops(CPU, sizes=(64, 2048), min_seconds=0.01, max_seconds=0.0)
    assert list(capped["by_size"]) == [64]  # the first size always runs; the next would pass the cap
    assert perf.matmul_peak_gflops(CPU, sizes=(64,), min_seconds=0.01, dtype=torch.bfloat16)["dtype"] == "bfloat16"


def test_bf16_units_read_the_cpu_flags(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    assert runtime.bf16_units(CPU) == (True, "CPU flags avx512_bf16")
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx512f", "avx2"})
    ok, why = runtime.bf16_units(CPU)
    assert not ok and "no avx512_bf16/amx_bf16" in why
    assert runtime.bf16_units(torch.device("mps"))[0] is False


def test_settings_timed_per_dimension_and_bf16_only_with_units():
    names = [s.name for s in compute.settings_for(CPU, 2, with_compile=True, bf16=True)]
    assert names == ["fp32", "fp32 cl", "bf16", "bf16 cl", "fp32 compile"]
    assert [s.name for s in compute.settings_for(CPU, 3, False, False)] == ["fp32", "fp32 cl"]
    assert [s.name for s in compute.settings_for(CPU, 1, False, True)] == ["fp32", "bf16"]  # no layout in 1D


def _row(dims: int, **ratios: float) -> dict:
    settings = [{"setting": "fp32", "ms": 100.0, "vs_baseline": 1.0, "warmup_s": 0.2}]
    for name, ratio in ratios.items():
        settings.append({"setting": name.replace("_", " "), "ms": 100.0 * ratio, "vs_baseline": ratio,
                         "warmup_s": 60.0 if "compile" in name else 0.2})
    return {"spatial_dims": dims, "settings": settings}


def test_defaults_follow_the_geometric_mean_and_never_bf16_without_units():
    rows = [_row(2, fp32_cl=0.8, bf16=0.5, fp32_compile=0.9), _row(2, fp32_cl=1.1, bf16=0.5, fp32_compile=0.9),
            _row(3, fp32_cl=1.2, bf16=0.5, fp32_compile=0.9)]
    picked = compute.chosen_defaults(rows, bf16=True)
    assert picked["channels_last"] == {"2D": True, "3D": False}  # sqrt(0.8 * 1.1) < 1; 1.2 > 1
    assert picked["ratios"]["fp32 cl 2D"] == pytest.approx(math.sqrt(0.88))
    assert picked["precision"] == "bf16"
    assert compute.chosen_defaults(rows, bf16=False)["precision"] == "fp32"  # faster, but emulated
    # compile saves 10 ms a step for ~60 s of warm-up: ~6000 steps to pay back, not a default
    assert picked["compile"] is False and picked["compile_payback_steps"] == pytest.approx((60 - 0.3) / 0.01)


def test_a_workload_times_every_setting_on_the_same_flops():
    work = Workload("tiny", "resnet18", 2, 2, (3, 16, 16), {"widths": [4, 8, 8, 8]})
    peaks = {"fp32": {"gflops": 10.0}}
    row = compute.run_workload(work, CPU, peaks, with_compile=False, bf16=False, rounds=2, max_seconds=5)
    assert [s["setting"] for s in row["settings"]] == ["fp32", "fp32 cl"]
    assert row["input"] == [2, 3, 16, 16] and row["params"] > 0 and "peer" not in row
    assert row["settings"][0]["vs_baseline"] == 1.0 and row["fastest"] in ("fp32", "fp32 cl")
    for s in row["settings"]:
        assert s["gflops"] == pytest.approx(row["train_flops"] / (s["ms"] / 1e3) / 1e9)
        assert s["peak_fraction"] == pytest.approx(s["gflops"] / 10.0)
    model = __import__("convkit.models", fromlist=["create_model"]).create_model(
        "resnet18", spatial_dims=2, in_channels=3, num_classes=10, widths=[4, 8, 8, 8])
    labels = torch.zeros(2, dtype=torch.long)
    assert row["train_flops"] == compute.train_step_flops(
        model, torch.zeros(2, 3, 16, 16), lambda out: torch.nn.functional.cross_entropy(out, labels))


class _FakeModels:
    """Stands in for ``torchvision.models``: its "resnet18" is convkit's own network."""

    @staticmethod
    def resnet18(num_classes: int) -> torch.nn.Module:
        from convkit.models import create_model
        return create_model("resnet18", spatial_dims=2, in_channels=3, num_classes=num_classes,
                            widths=[4, 8, 8, 8])


def test_a_peer_is_timed_beside_the_settings_with_its_ratio():
    work = Workload("tiny", "resnet18", 2, 2, (3, 16, 16), {"widths": [4, 8, 8, 8]}, peer="resnet18")
    row = compute.run_workload(work, CPU, {"fp32": {"gflops": 10.0}}, False, False, rounds=2, max_seconds=5,
                               peers=_FakeModels)
    peer = row["peer"]
    assert peer["params"] == row["params"] and peer["train_flops"] == row["train_flops"]
    assert peer["ratio"] == pytest.approx(row["settings"][0]["ms"] / peer["ms"])
    assert "torchvision fp32 |" in compute.markdown({"device": "cpu", "threads": 1, "peaks": {
        "fp32": {"gflops": 10.0, "size": 64}}, "bf16_units": False, "bf16_why": "x", "workloads": [row],
        "torchvision": "fake"})


def test_tcn_pair_matches_pytorch_tcn_in_params_and_flops():
    pytest.importorskip("pytorch_tcn")
    out = compute.run_tcn(CPU, {"fp32": {"gflops": 10.0}}, shape=(2, 4, 64), rounds=2, max_seconds=5)
    assert out["peer"] == "installed"
    assert out["params"]["convkit"] == out["params"]["pytorch-tcn"] == 28964
    assert out["train_flops"]["convkit"] == out["train_flops"]["pytorch-tcn"] > 0
    ms = {s["setting"]: s["ms"] for s in out["settings"]}
    assert out["ratio"] == pytest.approx(ms["convkit"] / ms["pytorch-tcn"])


def test_tcn_pair_without_pytorch_tcn_reports_it_not_installed(monkeypatch):
    real_import = builtins.__import__

    def no_peer(name, *args, **kwargs):
        if name == "pytorch_tcn":
            raise ImportError("No module named 'pytorch_tcn'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_peer)
    out = compute.run_tcn(CPU, {"fp32": {"gflops": 10.0}}, shape=(2, 4, 64), rounds=2, max_seconds=5)
    assert out["peer"].startswith("not installed") and "ratio" not in out
    assert [s["setting"] for s in out["settings"]] == ["convkit"]
    assert "pytorch-tcn not installed" in compute.markdown({
        "device": "cpu", "threads": 1, "peaks": {"fp32": {"gflops": 10.0, "size": 64}}, "bf16_units": False,
        "bf16_why": "x", "workloads": [], "tcn": out, "torchvision": "x"})


def test_torchvision_model_code_mounts_without_its_package_init(tmp_path, monkeypatch):
    package = tmp_path / "torchvision"
    (package / "models" / "video").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('operator torchvision::nms does not exist')\n")
    (package / "version.py").write_text("__version__ = '9.9.9'\n")
    (package / "models" / "__init__.py").write_text("from .resnet import resnet18\n")
    (package / "models" / "resnet.py").write_text("def resnet18(num_classes=1000):\n    return num_classes\n")
    (package / "models" / "video" / "__init__.py").write_text("")
    monkeypatch.setenv("CONVKIT_TORCHVISION_SRC", str(tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path))  # the broken package is the importable one
    models, how = compute.torchvision_models()
    assert models.resnet18(7) == 7
    assert how.startswith("torchvision 9.9.9 model code from") and "RuntimeError" in how
    assert not any(n == "torchvision" or n.startswith("torchvision.") for n in sys.modules)
    monkeypatch.delenv("CONVKIT_TORCHVISION_SRC")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])
    if importlib.util.find_spec("torchvision") is None:  # no torchvision at all: the bench says so
        models, how = compute.torchvision_models()
        assert models is None and "torchvision not importable" in how


def test_torchvision_model_code_with_absolute_imports_loads_under_a_private_name(tmp_path, monkeypatch):
    package = tmp_path / "torchvision"
    (package / "models" / "video").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('operator torchvision::nms does not exist')\n")
    (package / "utils.py").write_text("def scale(n):\n    return 2 * n\n")
    (package / "models" / "__init__.py").write_text("from .resnet import *\n")
    (package / "models" / "resnet.py").write_text(
        "import torchvision\nimport torchvision.utils\nfrom torchvision.utils import scale\n"
        "import torchvision.utils as tv_utils\n__all__ = ['resnet18']\n\n"
        "def resnet18(num_classes=1000):\n"
        "    return scale(num_classes) + tv_utils.scale(0) + torchvision.utils.scale(0)\n")
    (package / "models" / "video" / "__init__.py").write_text("")
    monkeypatch.setenv("CONVKIT_TORCHVISION_SRC", str(tmp_path))
    models, how = compute.torchvision_models()
    assert models.resnet18(7) == 14 and "model code from" in how
    assert not any(n == "torchvision" or n.startswith("torchvision.") for n in sys.modules)
    assert compute.torchvision_models()[0] is models  # loaded once


def test_large_allocations_kept_in_the_heap_once(monkeypatch):
    calls = []

    class _Libc:
        def mallopt(self, param: int, value: int) -> int:
            calls.append((param, value))
            return 1

    monkeypatch.setattr(runtime, "_heap_kept", False)
    monkeypatch.setattr(runtime.sys, "platform", "linux")
    monkeypatch.setattr(runtime.platform, "libc_ver", lambda: ("glibc", "2.36"))
    monkeypatch.setattr(runtime.ctypes, "CDLL", lambda name: _Libc())
    assert runtime.keep_large_allocations_in_heap() is True
    assert runtime.keep_large_allocations_in_heap() is True
    assert calls == [(-4, 0), (-1, 2**31 - 1)]  # M_MMAP_MAX = 0, M_TRIM_THRESHOLD: once
    monkeypatch.setattr(runtime, "_heap_kept", False)
    monkeypatch.setattr(runtime.platform, "libc_ver", lambda: ("", ""))
    assert runtime.keep_large_allocations_in_heap() is False and len(calls) == 2  # musl, macOS: untouched


def test_peaks_are_the_best_of_the_run_and_fractions_follow(monkeypatch):
    measured = iter([30.0, 20.0])
    monkeypatch.setattr(compute, "matmul_peak_gflops",
                        lambda device, sizes=None, dtype=torch.float32: {"gflops": next(measured), "size": 2048})
    section = {"peaks": {"fp32": {"gflops": 10.0, "size": 1024}},
               "workloads": [{"settings": [{"setting": "fp32", "precision": "fp32", "gflops": 15.0,
                                            "peak_fraction": 1.5}]}],
               "tcn": {"settings": [{"setting": "convkit", "precision": "fp32", "gflops": 3.0, "peak_fraction": 0.3}]}}
    compute.refresh_peaks(section, CPU)  # 30 beats 10
    assert section["peaks"]["fp32"] == {"gflops": 30.0, "size": 2048, "measurements": 2}
    assert section["workloads"][0]["settings"][0]["peak_fraction"] == pytest.approx(0.5)
    assert section["tcn"]["settings"][0]["peak_fraction"] == pytest.approx(0.1)
    compute.refresh_peaks(section, CPU)  # 20 does not
    assert section["peaks"]["fp32"]["gflops"] == 30.0 and section["peaks"]["fp32"]["measurements"] == 3


def test_device_defaults_cpu_channels_last_in_2d_only_and_fp32():
    assert [runtime.device_defaults(CPU, d) for d in (1, 2, 3)] == [
        {"precision": "fp32", "channels_last": False}, {"precision": "fp32", "channels_last": True},
        {"precision": "fp32", "channels_last": False}]
    assert runtime.device_defaults(torch.device("mps"), 2) == {"precision": "fp32", "channels_last": False}
    assert runtime.memory_format(2, None, CPU) == (torch.channels_last, 4)  # none: the device's default
    assert runtime.memory_format(2, False, CPU) == (None, 0) and runtime.memory_format(3, None, CPU) == (None, 0)
    assert runtime.memory_format(3, True, CPU) == (torch.channels_last_3d, 5)
    assert isinstance(runtime.autocast(CPU, "auto"), type(runtime.autocast(CPU, "fp32")))  # auto: no autocast


def test_the_bench_times_the_engines_own_step():
    from convkit.train import engine

    assert perf.train_step is engine.train_step and compute.train_step is engine.train_step
    assert not hasattr(perf, "autocast") and not hasattr(compute, "_autocast")  # no copies of the policy


def test_train_config_defaults_are_auto():
    from convkit.config import TrainConfig

    cfg = TrainConfig()
    assert (cfg.precision, cfg.channels_last, cfg.compile) == ("auto", None, False)


def test_the_peak_is_the_best_of_sizes_and_layouts_per_dtype():
    for dtype in (torch.float32, torch.bfloat16):
        peak = perf.matmul_peak_gflops(CPU, sizes=(64, 128), min_seconds=0.01, dtype=dtype)
        assert set(peak["by_kernel"]) == set(perf.PEAK_KERNELS)  # a plain matmul and a channels-last 1x1 conv
        best = max(v for by in peak["by_kernel"].values() for v in by.values())
        assert peak["gflops"] == best == peak["by_kernel"][peak["kernel"]][peak["size"]]


def test_a_workload_reports_the_median_and_range_of_its_rounds_and_the_runs_default():
    work = Workload("tiny", "resnet18", 2, 2, (3, 16, 16), {"widths": [4, 8, 8, 8]}, peer="resnet18")
    row = compute.run_workload(work, CPU, {"fp32": {"gflops": 1e6}}, False, False, rounds=4, max_seconds=30,
                               peers=_FakeModels)
    for s in row["settings"] + [row["peer"]]:
        assert s["rounds"] == 4 and s["ms_min"] <= s["ms"] <= s["ms_max"]
        assert s["vs_baseline_range"][0] <= s["vs_baseline_range"][1]
    table = runtime.device_defaults(CPU, 2)  # the suite turns the probe off: the table decides
    assert row["default"]["source"] == "table" and row["default"]["setting"] == (
        "fp32 cl" if table["channels_last"] else "fp32")
    assert all(s["vs_peer"] == pytest.approx(s["ms"] / row["peer"]["ms"]) for s in row["settings"])
    text = compute.markdown({"device": "cpu", "threads": 1, "peaks": {"fp32": {"gflops": 1e6, "size": 64}},
                             "bf16_units": False, "bf16_why": "x", "workloads": [row], "torchvision": "fake"})
    assert f"| {row['default']['setting']} (default: table) |" in text


def test_the_summary_is_the_median_over_runs():
    def section(fp32: float, cl: float, peer: float, fraction: float) -> dict:
        return {"workloads": [{"name": "m", "default": {"setting": "fp32 cl", "source": "cache"},
                               "settings": [{"setting": "fp32", "ms": fp32, "peak_fraction": fraction},
                                            {"setting": "fp32 cl", "ms": cl, "peak_fraction": None}],
                               "peer": {"ms": peer, "peak_fraction": 0.1}},
                              {"name": "no twin", "settings": [{"setting": "fp32", "ms": 1.0}]}]}

    out = compute.summary([section(100, 90, 100, 0.5), section(110, 80, 100, 0.7), section(95, 99, 100, 0.6)])
    assert list(out["models"]) == ["m"] and out["runs"] == 3 and out["max_peak_fraction"] == 0.7
    m = out["models"]["m"]
    assert m["fp32_vs_peer_median"] == pytest.approx(1.0) and m["default_vs_peer_median"] == pytest.approx(0.9)
    assert "| m | 1.000 | 1.000, 1.100, 0.950 | fp32 cl (cache) | 0.900 |" in compute.summary_markdown(
        [section(100, 90, 100, 0.5), section(110, 80, 100, 0.7), section(95, 99, 100, 0.6)])
