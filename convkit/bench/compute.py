"""Compute efficiency side by side: ``python -m convkit.bench.compute``.

Times the engine's own training step (``convkit.train.engine.train_step``: forward,
cross-entropy, backward, SGD with momentum, under the autocast, memory format, loss scaler
and ``torch.compile`` of ``convkit.train.runtime``) of zoo models on random inputs under
every setting the engine offers, all in one process and interleaved round by round (one
step of every setting per round, the order rotated; so a load change on a shared machine
hits every setting alike), and reports each setting's median milliseconds per step over
the rounds with their range, its ratio to plain fp32, its achieved GFLOP/s and that as a
fraction of the peak of the dtype it computes in (``perf.matmul_peak_gflops``: the best
of sizes and layouts, measured several times in the same run):

* ``fp32``: plain (contiguous, eager); ``cl``: channels-last memory format (2D and 3D);
* ``bf16``: bf16 autocast, only where the device has bf16 units
  (``convkit.train.runtime.bf16_units``: on a CPU without them a bf16 matmul is emulated
  and far slower than fp32);
* ``compile``: ``torch.compile`` of the fp32 model; its warm-up (the first steps, which
  compile) is reported apart from its step time.

The setting a training run of the same model and batch takes on this machine
(``train.precision=auto``, ``train.channels_last`` unset: the runtime's probe, its cache
or its table, :func:`engine_default`) is marked ``default``. Peers with the same
parameters and FLOPs are timed in the same rounds: torchvision's ResNets, EfficientNet-B0
and video ResNets (:func:`torchvision_models`: its model code also loads where its C
extension does not, e.g. from ``$CONVKIT_TORCHVISION_SRC``, under a private module name),
and ``pytorch-tcn`` beside the zoo's TCN on the time-series default's shape (optional:
"not installed" when absent; ``pip install --no-deps pytorch-tcn``).
:func:`chosen_defaults` says which settings the figures favour for the runtime's fixed
table (``convkit.train.runtime.device_defaults``, the fallback), printed beside them.
``--summarize`` prints the median over several runs' ``--json`` files.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import math
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from convkit.analysis import flop_counter
from convkit.bench.perf import matmul_peak_gflops, synchronize
from convkit.train.engine import train_step
from convkit.train.runtime import (Choice, Placement, bf16_units, choose_settings, compiled, device_defaults,
                                   grad_scaler, interleaved_rounds, probe_enabled, select_device, set_threads)
from convkit.train.task import Task

PRECISION_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


# --------------------------------------------------------------------------- settings and workloads


@dataclass(frozen=True)
class Setting:
    """One way to run a training step: autocast ``precision``, ``channels_last``, ``compile``."""

    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False

    @property
    def name(self) -> str:
        """``fp32``, ``fp32 cl``, ``bf16``, ``bf16 cl``, ``fp32 compile``, ..."""
        return " ".join([self.precision] + (["cl"] if self.channels_last else [])
                        + (["compile"] if self.compile else []))


@dataclass(frozen=True)
class Workload:
    """A zoo ``model`` built with ``build`` options, trained on ``[batch, *shape]`` inputs
    of random data with ``num_classes`` random labels."""

    name: str
    model: str
    spatial_dims: int
    batch: int
    shape: tuple[int, ...]
    build: dict = field(default_factory=dict)
    num_classes: int = 10
    peer: str | None = None
    """torchvision's builder of the same network (``resnet18``, ``video.r3d_18``), if any."""
    compile: bool = False
    """Whether ``torch.compile`` is timed (its warm-up is minutes per model on a small CPU)."""


def workloads(profile: str) -> list[Workload]:
    """The models of ``profile``: ``smoke`` one tiny 2D ResNet; ``default`` and ``full`` the
    2D ResNet-18/50 and EfficientNet-B0 at batch 32 of 64x64 images, the image and audio
    tasks' default CNNs at their batch and input size, and the 3D
    ResNet-18, R3D-18 and R(2+1)D-18 on 4 clips of 8 frames of 64x64 (``full``: 16 frames)."""
    if profile == "smoke":
        return [Workload("resnet18 2D tiny", "resnet18", 2, 4, (3, 32, 32), {"widths": [8, 16, 32, 64]},
                         compile=True)]
    frames = 16 if profile == "full" else 8  # torch.compile: on the two ResNet-18s only
    return [
        Workload("resnet18 2D", "resnet18", 2, 32, (3, 64, 64), peer="resnet18", compile=True),
        Workload("resnet50 2D", "resnet50", 2, 32, (3, 64, 64), peer="resnet50"),
        Workload("efficientnet_b0 2D", "efficientnet_b0", 2, 32, (3, 64, 64), peer="efficientnet_b0"),
        Workload("lenet5 2D (image default)", "lenet5", 2, 64, (1, 32, 32)),
        Workload("audio_cnn 2D (audio default)", "audio_cnn", 2, 64, (1, 40, 101)),
        Workload("resnet18 3D", "resnet18", 3, 4, (3, frames, 64, 64), compile=True),
        Workload("r3d_18", "r3d_18", 3, 4, (3, frames, 64, 64), peer="video.r3d_18"),
        Workload("r2plus1d_18", "r2plus1d_18", 3, 4, (3, frames, 64, 64), peer="video.r2plus1d_18"),
    ]


def settings_for(device: torch.device, spatial_dims: int, with_compile: bool, bf16: bool) -> list[Setting]:
    """Every setting worth timing: fp32 and (with ``bf16`` units) bf16, each contiguous and
    (in 2D and 3D) channels-last, plus fp32 compiled when ``with_compile``."""
    layouts = (False, True) if spatial_dims in (2, 3) else (False,)
    precisions = ("fp32", "bf16") if bf16 else ("fp32",)
    out = [Setting(p, cl) for p in precisions for cl in layouts]
    if with_compile:
        out.append(Setting("fp32", False, True))
    return out


# --------------------------------------------------------------------------- timing


def train_step_flops(model: nn.Module, x: torch.Tensor, loss_fn: Callable[[torch.Tensor], torch.Tensor]) -> int:
    """FLOPs of one forward and backward pass of ``model`` on ``x`` (2 per multiply-add,
    ``convkit.analysis.flop_counter``), on a copy of the model."""
    model = copy.deepcopy(model).train()
    with flop_counter() as counter:
        loss_fn(model(x)).backward()
    return int(counter.get_total_flops())


class _LossOfOutput(Task):
    """The adapter that lets the engine's ``train_step`` train a bare model: its batch is
    one input tensor and its loss ``loss_fn(model(x))``."""

    name = "compute"

    def __init__(self, loss_fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.loss_fn = loss_fn

    def training_step(self, model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        """``loss_fn(model(batch))``."""
        return self.loss_fn(model(batch))


class Candidate:
    """A model and its optimizer (SGD with momentum unless ``make_optimizer`` says
    otherwise) under one ``setting``, stepping on fixed inputs through the engine's
    ``train_step`` (placement, loss scaler and compilation from ``convkit.train.runtime``)."""

    def __init__(self, model: nn.Module, setting: Setting, spatial_dims: int, x: torch.Tensor,
                 loss_fn: Callable[[torch.Tensor], torch.Tensor], device: torch.device,
                 make_optimizer: Callable[[nn.Module], torch.optim.Optimizer] | None = None) -> None:
        self.setting, self.device = setting, device
        self.placement = Placement.of(device, spatial_dims, setting.precision, setting.channels_last)
        self.model = self.placement.model(copy.deepcopy(model).train())
        self.x = self.placement.batch(x)
        self.optimizer = (make_optimizer(self.model) if make_optimizer is not None
                          else torch.optim.SGD(self.model.parameters(), lr=1e-3, momentum=0.9))
        self.scaler = grad_scaler(device, setting.precision)
        self.run = compiled(self.model, setting.compile)
        self.task = _LossOfOutput(loss_fn)

    def step(self) -> None:
        """One training step (``train_step``)."""
        train_step(self.task, self.run, self.x, self.optimizer, self.scaler, self.placement)


def _warm_up(step: Callable[[], None], device: torch.device, steps: int) -> float:
    synchronize(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return time.perf_counter() - t0


def _peak_for(peaks: dict[str, dict], precision: str) -> float | None:
    peak = peaks.get(precision) or {}
    return peak.get("gflops")


def compare(candidates: dict[str, Callable[[], None]], device: torch.device, flops: dict[str, int],
            peaks: dict[str, dict], precisions: dict[str, str], baseline: str, rounds: int,
            max_seconds: float, warmup_steps: dict[str, int] | None = None) -> list[dict]:
    """Warm every candidate up (``warmup_steps``, default 2; the seconds are reported),
    time them in ``rounds`` interleaved rounds (``runtime.interleaved_rounds``: one step of
    each per round, the order rotated; fewer after ``max_seconds``), and describe each:
    ``{"setting", "precision", "ms" (the median over the rounds), "ms_min", "ms_max",
    "rounds", "vs_baseline" (median over the baseline's median), "vs_baseline_range" (the
    lowest and highest ratio of one round's steps), "gflops", "peak_fraction",
    "warmup_s"}``; the fraction is of the peak of the dtype it computes in
    (``peaks[precision]``)."""
    warm = {name: _warm_up(step, device, (warmup_steps or {}).get(name, 2)) for name, step in candidates.items()}
    times = interleaved_rounds(candidates, device, min_rounds=rounds, max_rounds=rounds, max_seconds=max_seconds,
                               warm_up=False)
    base = statistics.median(times[baseline])
    rows = []
    for name, t in times.items():
        s = statistics.median(t)
        paired = [a / b for a, b in zip(t, times[baseline])]
        gflops = flops[name] / s / 1e9
        peak = _peak_for(peaks, precisions[name])
        rows.append({"setting": name, "precision": precisions[name], "ms": s * 1e3, "ms_min": min(t) * 1e3,
                     "ms_max": max(t) * 1e3, "rounds": len(t), "vs_baseline": s / base,
                     "vs_baseline_range": [min(paired), max(paired)], "gflops": gflops,
                     "peak_fraction": gflops / peak if peak else None, "warmup_s": warm[name]})
    return rows


def _cross_entropy(labels: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda out: F.cross_entropy(out.float(), labels)


PEER = "torchvision fp32"
"""The name of torchvision's model in a workload's settings (plain fp32, contiguous, eager)."""


def run_workload(work: Workload, device: torch.device, peaks: dict[str, dict], with_compile: bool, bf16: bool,
                 rounds: int = 7, max_seconds: float = 60.0, peers: Any = None) -> dict:
    """Time ``work`` under every setting (:func:`settings_for`) and, when ``peers`` (the
    ``torchvision.models`` module) has ``work.peer``, torchvision's network in plain fp32
    beside them: ``{"name", "model", "spatial_dims", "input", "params", "train_flops",
    "settings": [...], "fastest", "default"}``, plus ``"peer": {"params", "train_flops",
    "ratio"}`` (convkit fp32 ms / torchvision ms) and each setting's ``vs_peer`` (its ms /
    torchvision's). ``default`` is what a training run of this model and batch takes on
    this machine (:func:`engine_default`: the runtime's probe, its cache or its table)."""
    from convkit.models import create_model

    torch.manual_seed(0)
    model = create_model(work.model, spatial_dims=work.spatial_dims, in_channels=work.shape[0],
                         num_classes=work.num_classes, **work.build)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(work.batch, *work.shape, generator=generator)
    labels = torch.randint(0, work.num_classes, (work.batch,), generator=generator).to(device)
    loss_fn = _cross_entropy(labels)
    flops = train_step_flops(model, x, _cross_entropy(labels.cpu()))
    candidates = {s.name: Candidate(model, s, work.spatial_dims, x, loss_fn, device)
                  for s in settings_for(device, work.spatial_dims, with_compile and work.compile, bf16)}
    default = engine_default(model, [work.batch, *work.shape], device, work.spatial_dims, candidates)
    steps = {n: c.step for n, c in candidates.items()}
    precisions = {n: c.setting.precision for n, c in candidates.items()}
    all_flops = dict.fromkeys(candidates, flops)
    peer_model = _peer(peers, work)
    if peer_model is not None:
        all_flops[PEER] = train_step_flops(peer_model, x, _cross_entropy(labels.cpu()))
        steps[PEER] = Candidate(peer_model, Setting(), work.spatial_dims, x, loss_fn, device).step
        precisions[PEER] = "fp32"
    rows = compare(steps, device, all_flops, peaks, precisions, "fp32", rounds, max_seconds,
                   {n: 3 if c.setting.compile else 2 for n, c in candidates.items()})
    ours = [r for r in rows if r["setting"] != PEER]
    default_name = Setting(default.precision, default.channels_last).name
    out = {"name": work.name, "model": work.model, "spatial_dims": work.spatial_dims,
           "input": [work.batch, *work.shape], "params": sum(p.numel() for p in model.parameters()),
           "train_flops": flops, "settings": ours, "fastest": min(ours, key=lambda r: r["ms"])["setting"],
           "default": {"setting": default_name, "source": default.source, "why": default.why}}
    if peer_model is not None:
        peer_row = next(r for r in rows if r["setting"] == PEER)
        out["peer"] = {**peer_row, "params": sum(p.numel() for p in peer_model.parameters()),
                       "train_flops": all_flops[PEER], "ratio": 1.0 / peer_row["vs_baseline"]}
        for row in ours:
            row["vs_peer"] = row["ms"] / peer_row["ms"]
    return out


def engine_default(model: nn.Module, batch_shape: list[int], device: torch.device, spatial_dims: int,
                   candidates: dict[str, Candidate]) -> Choice:
    """The precision and layout a training run of ``model`` on ``batch_shape`` batches
    takes here (``train.precision=auto``, ``train.channels_last`` unset): the runtime's
    own choice (``convkit.train.runtime.choose_settings``: cached, or probed now on the
    ``candidates``' steps, or the table)."""
    by_setting = {(c.setting.precision, c.setting.channels_last): c for c in candidates.values()
                  if not c.setting.compile}

    def make_step(placement: Placement) -> Callable[[], None]:
        return by_setting[(placement.precision, placement.memory_format is not None)].step

    return choose_settings(device, spatial_dims, "auto", None, model=model, batch_shape=batch_shape,
                           make_step=make_step)


def _peer(peers: Any, work: Workload) -> nn.Module | None:
    if peers is None or work.peer is None:
        return None
    builder = peers
    for part in work.peer.split("."):
        builder = getattr(builder, part)
    torch.manual_seed(0)
    return builder(num_classes=work.num_classes)


def refresh_peaks(section: dict, device: torch.device, sizes: tuple[int, ...] | None = None) -> None:
    """Measure the matmul peaks again and keep the best of every measurement, then
    recompute every ``peak_fraction`` of ``section`` against it: on a shared machine a
    peak measured once, under someone else's load, is too low (fractions above 1)."""
    for precision, old in section["peaks"].items():
        new = matmul_peak_gflops(device, sizes, dtype=PRECISION_DTYPES[precision])
        best = new if new["gflops"] > old["gflops"] else old
        section["peaks"][precision] = {**best, "measurements": old.get("measurements", 1) + 1}
    rows = [s for w in section["workloads"] for s in w.get("settings", []) + ([w["peer"]] if "peer" in w else [])]
    rows += (section.get("tcn") or {}).get("settings", [])
    for row in rows:
        peak = _peak_for(section["peaks"], row.get("precision", "fp32"))
        row["peak_fraction"] = row["gflops"] / peak if peak else None


def torchvision_models() -> tuple[Any, str]:
    """torchvision's ``models`` package and how it was found, or ``(None, why not)``.

    Its model code is plain Python; only its package ``__init__`` loads the C extension
    (operators for detection) and registers meta kernels for them, which fails when the
    extension does not match this torch. So when ``import torchvision`` fails, the
    package's folder (the installed one, else ``$CONVKIT_TORCHVISION_SRC``: a folder
    holding ``torchvision/``, e.g. an unpacked wheel) is loaded without running that
    ``__init__``, under a private package name (:func:`_load_peer_models`): no module
    named ``torchvision`` is added or replaced, so the rest of the process never sees it."""
    try:
        import torchvision.models as models
        return models, f"torchvision {getattr(sys.modules['torchvision'], '__version__', '?')}"
    except Exception as err:  # noqa: BLE001 - a broken C extension raises anything
        why = f"{type(err).__name__}: {str(err).strip().splitlines()[0][:120] if str(err).strip() else ''}"
    folders = []
    try:
        spec = importlib.util.find_spec("torchvision")
        folders += list(spec.submodule_search_locations or []) if spec else []
    except (ImportError, ValueError):
        pass
    if os.environ.get("CONVKIT_TORCHVISION_SRC"):
        folders.append(str(Path(os.environ["CONVKIT_TORCHVISION_SRC"]) / "torchvision"))
    folders = [f for f in folders if (Path(f) / "models" / "resnet.py").is_file()]
    if not folders:
        return None, f"torchvision not importable ({why}); set CONVKIT_TORCHVISION_SRC to a folder holding " \
                     "torchvision/ (an unpacked wheel) to compare against its model code"
    try:
        models = _load_peer_models(Path(folders[0]))
    except Exception as err:  # noqa: BLE001
        return None, f"torchvision not importable ({why}), nor its model code from {folders[0]} " \
                     f"({type(err).__name__}: {str(err).strip()[:120]})"
    version = Path(folders[0]) / "version.py"
    found = re.search(r"__version__ = '([^']+)'", version.read_text()) if version.is_file() else None
    return models, f"torchvision {found.group(1) if found else '?'} model code from {folders[0]} " \
                   f"(import torchvision: {why})"


_TORCHVISION_IMPORT = re.compile(r"^([ \t]*)(from|import)[ \t]+torchvision((?:\.\w+)*)\b(.*)$", re.MULTILINE)
"""A line of torchvision's code that imports torchvision by its absolute name."""


def _renamed_imports(source: str, package: str) -> str:
    """``source`` with its absolute ``torchvision`` imports naming ``package`` instead
    (``import torchvision`` still binds the name ``torchvision``, to ``package``)."""
    def rename(match: re.Match) -> str:
        indent, keyword, submodule, rest = match.groups()
        if keyword == "from" or rest.lstrip().startswith("as "):
            return f"{indent}{keyword} {package}{submodule}{rest}"
        if rest.strip() and not rest.lstrip().startswith("#"):
            return match.group(0)  # several modules on one line: left as written
        if submodule:
            return f"{indent}import {package}{submodule}; import {package} as torchvision{rest}"
        return f"{indent}import {package} as torchvision{rest}"

    return _TORCHVISION_IMPORT.sub(rename, source)


class _RenamedSourceLoader(importlib.machinery.SourceFileLoader):
    """Loads a module of the private copy from its source with ``_renamed_imports`` (never
    from a cached bytecode file, which holds the original imports)."""

    def __init__(self, fullname: str, path: str, package: str) -> None:
        super().__init__(fullname, path)
        self.package = package

    def get_code(self, fullname: str) -> Any:
        source = importlib.util.decode_source(self.get_data(self.path))
        return compile(_renamed_imports(source, self.package), self.path, "exec", dont_inherit=True)


class _PeerFinder(importlib.abc.MetaPathFinder):
    """Finds the modules of one private package (and nothing else), with
    ``_RenamedSourceLoader``."""

    def __init__(self, package: str) -> None:
        self.package = package

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(self.package + "."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            spec.loader = _RenamedSourceLoader(fullname, spec.origin, self.package)
        return spec


def _load_peer_models(folder: Path) -> Any:
    """``models`` (with ``models.video``) of the torchvision package in ``folder``, loaded
    under a private package name made from the folder (its ``__init__`` not run, its
    absolute imports renamed to it). Loading the same folder again returns the same
    modules."""
    package = "_convkit_peer_torchvision_" + hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:12]
    if f"{package}.models.video" in sys.modules:
        return sys.modules[f"{package}.models"]
    if not any(isinstance(f, _PeerFinder) and f.package == package for f in sys.meta_path):
        sys.meta_path.insert(0, _PeerFinder(package))  # answers for the private name only
    root = sys.modules.get(package)
    if root is None:
        spec = importlib.machinery.ModuleSpec(package, None, is_package=True)
        spec.submodule_search_locations = [str(folder)]
        root = importlib.util.module_from_spec(spec)
        sys.modules[package] = root
    models = importlib.import_module(f"{package}.models")
    importlib.import_module(f"{package}.models.video")
    return models


# --------------------------------------------------------------------------- TCN vs pytorch-tcn


TCN_SHAPE = (16, 4, 256)
"""``[N, C, L]`` of the time-series default's training batch (batch 16, 4 channels, window 256)."""


def tcn_pair(channels: int = 32, levels: int = 5, kernel_size: int = 3, in_channels: int = 4) -> dict[str, nn.Module]:
    """The time-series default's forecaster (causal, weight norm, no dropout) and the same
    network from ``pytorch-tcn`` (``TCN(..., output_projection=C)``): ``{"convkit": ...,
    "pytorch-tcn": ...}``; only ``convkit`` when the peer is not installed."""
    from convkit.models.tcn import tcn_forecaster

    torch.manual_seed(0)
    out = {"convkit": tcn_forecaster(in_channels, 1, channels=channels, levels=levels, kernel_size=kernel_size,
                                     dropout=0.0, norm="weight")}
    try:
        from pytorch_tcn import TCN as PeerTCN
    except ImportError:
        return out
    out["pytorch-tcn"] = PeerTCN(in_channels, [channels] * levels, kernel_size=kernel_size,
                                 dilations=[2 ** i for i in range(levels)], dropout=0.0, causal=True,
                                 use_norm="weight_norm", output_projection=in_channels)
    return out


def run_tcn(device: torch.device, peaks: dict[str, dict], shape: tuple[int, int, int] = TCN_SHAPE,
            rounds: int = 8, max_seconds: float = 30.0) -> dict:
    """The zoo's TCN forecaster against ``pytorch-tcn`` on one ``shape`` batch (MSE on the
    input, AdamW as the time-series default): ``{"params", "train_flops", "peer":
    "installed" | "not installed", "settings": [...], "ratio"}`` (convkit / peer ms)."""
    models = tcn_pair(in_channels=shape[1])
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=generator).to(device)

    def loss_fn(out: torch.Tensor) -> torch.Tensor:
        return (out.reshape_as(x).float() - x).pow(2).mean()

    flops = {name: train_step_flops(m, x.cpu(), lambda o: (o.reshape(shape).float() - x.cpu()).pow(2).mean())
             for name, m in models.items()}
    adamw = lambda model: torch.optim.AdamW(model.parameters(), 1e-3)  # noqa: E731
    steps = {name: Candidate(model, Setting(), 1, x, loss_fn, device, adamw).step for name, model in models.items()}
    rows = compare(steps, device, flops, peaks, dict.fromkeys(models, "fp32"), "convkit", rounds, max_seconds,
                   dict.fromkeys(models, 3))
    params = {name: sum(p.numel() for p in m.parameters()) for name, m in models.items()}
    out = {"input": list(shape), "params": params, "train_flops": flops, "settings": rows,
           "peer": "installed" if "pytorch-tcn" in models else "not installed (pip install --no-deps pytorch-tcn)"}
    if "pytorch-tcn" in models:
        ms = {r["setting"]: r["ms"] for r in rows}
        out["ratio"] = ms["convkit"] / ms["pytorch-tcn"]
    return out


# --------------------------------------------------------------------------- defaults and the section


def chosen_defaults(rows: list[dict], bf16: bool) -> dict:
    """The settings the figures favour for this device type, by the geometric mean over
    ``rows`` of each setting's step time relative to fp32 (below 1: faster): channels-last
    per spatial dimension count, bf16 only with ``bf16`` units, compile only when its
    warm-up is paid back within ``COMPILE_PAYBACK_STEPS`` steps."""
    def gmean(values: list[float]) -> float | None:
        return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None

    def ratio(setting: str, dims: int | None = None) -> float | None:
        return gmean([s["vs_baseline"] for r in rows if dims in (None, r["spatial_dims"])
                      for s in r["settings"] if s["setting"] == setting])

    out: dict[str, Any] = {"channels_last": {}, "ratios": {}}
    for dims in sorted({r["spatial_dims"] for r in rows}):
        cl = ratio("fp32 cl", dims)
        out["ratios"][f"fp32 cl {dims}D"] = cl
        out["channels_last"][f"{dims}D"] = cl is not None and cl < 1.0
    bf = ratio("bf16")
    out["ratios"]["bf16"] = bf
    out["precision"] = "bf16" if bf16 and bf is not None and bf < 1.0 else "fp32"
    comp = ratio("fp32 compile")
    out["ratios"]["fp32 compile"] = comp
    payback = []
    for r in rows:
        by = {s["setting"]: s for s in r["settings"]}
        if "fp32 compile" in by:
            saved = (by["fp32"]["ms"] - by["fp32 compile"]["ms"]) / 1e3
            extra = by["fp32 compile"]["warmup_s"] - by["fp32"]["warmup_s"] * 3 / 2
            payback.append(extra / saved if saved > 0 else math.inf)
    out["compile_payback_steps"] = max(payback) if payback else None
    out["compile"] = bool(payback) and max(payback) <= COMPILE_PAYBACK_STEPS
    return out


COMPILE_PAYBACK_STEPS = 500
"""``torch.compile`` is worth making a default when its warm-up is paid back within this
many steps (a short run of the tasks' defaults is a few hundred steps)."""


def run_compute(profile: str, device: torch.device, peak: dict | None = None, with_compile: bool | None = None,
                log: Callable[[str], None] | None = None, names: set[str] | None = None) -> dict:
    """The bench's ``compute`` section: matmul peaks (fp32, and bf16 where the device has
    bf16 units; the best of measurements before, between and after the workloads), every
    workload of ``profile`` under every setting (torchvision's network beside it where its
    model code loads) with the setting a training run takes (``default``), the TCN pair,
    the table's settings the figures favour and the table itself on ``device``.
    ``names``: only the workloads (by name or model) and ``tcn`` in it. A workload that
    fails is reported with its error."""
    say = log or (lambda text: None)
    bf16, why = bf16_units(device)
    sizes = (1024,) if profile == "smoke" else None
    peaks = {"fp32": dict(peak) if peak else matmul_peak_gflops(device, sizes)}
    if bf16:
        peaks["bf16"] = matmul_peak_gflops(device, sizes, dtype=torch.bfloat16)
    compile_on = with_compile if with_compile is not None else profile != "smoke"
    peers, peer_status = torchvision_models()
    out: dict[str, Any] = {"device": str(device), "threads": torch.get_num_threads(), "bf16_units": bf16,
                           "bf16_why": why, "peaks": peaks, "compile_timed": compile_on, "workloads": []}
    for work in workloads(profile):
        if names is not None and not names & {work.name, work.model}:
            continue
        say(f"compute: {work.name}")
        try:
            out["workloads"].append(run_workload(work, device, peaks, compile_on, bf16,
                                                 rounds=3 if profile == "smoke" else 7,
                                                 max_seconds=5.0 if profile == "smoke" else 120.0, peers=peers))
        except Exception as err:  # noqa: BLE001 - one model must not stop the section
            out["workloads"].append({"name": work.name, "model": work.model, "spatial_dims": work.spatial_dims,
                                     "skipped": f"{type(err).__name__}: {str(err).strip()[:200]}"})
        if profile != "smoke":
            refresh_peaks(out, device)  # the peak is the best of the run: re-measured between workloads
    if names is None or "tcn" in names:
        say("compute: tcn vs pytorch-tcn")
        try:
            out["tcn"] = run_tcn(device, peaks, rounds=3 if profile == "smoke" else 8)
        except Exception as err:  # noqa: BLE001
            out["tcn"] = {"skipped": f"{type(err).__name__}: {str(err).strip()[:200]}"}
    refresh_peaks(out, device, sizes)
    measured = [w for w in out["workloads"] if "settings" in w]
    out["defaults"] = chosen_defaults(measured, bf16) if measured else None
    out["engine_defaults"] = {f"{d}D": device_defaults(device, d) for d in (1, 2, 3)}
    out["probe"] = "on" if probe_enabled() else "off"
    out["torchvision"] = peer_status
    return out


# --------------------------------------------------------------------------- text


def _ms_cell(row: dict) -> str:
    """``median [min–max]`` of a row's step times (one figure when the range is missing)."""
    if "ms_min" not in row:
        return f"{row['ms']:.1f}"
    return f"{row['ms']:.1f} [{row['ms_min']:.1f}–{row['ms_max']:.1f}]"


def _fraction(row: dict) -> str:
    return f"{row['peak_fraction']:.3f}" if row.get("peak_fraction") is not None else "–"


def markdown(section: dict) -> str:
    """The ``compute`` section as Markdown: one table of every workload and setting (the
    median step time over the interleaved rounds, its range, the ratios, the fraction of
    the dtype's peak; the setting a run takes marked ``default``), the TCN pair, the
    table's defaults."""
    peaks = section["peaks"]
    lines = [f"## Compute: settings side by side ({section['device']}, {section['threads']} thread(s))", "",
             "Matmul peak " + ", ".join(f"{k} {v['gflops']:.1f} GFLOP/s (n={v['size']}"
                                        + (f", {v['kernel']}" if v.get("kernel") else "") + ")"
                                        for k, v in peaks.items())
             + f"; bf16 units: {'yes' if section['bf16_units'] else 'no'} ({section['bf16_why']}).", "",
             "| model | input | GFLOP/step | setting | ms/step median [min–max] | rounds | vs fp32 | "
             "vs torchvision fp32 | GFLOP/s | of peak | warm-up s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for w in section["workloads"]:
        if "settings" not in w:
            lines.append(f"| {w['name']} | {' – |' * 9} skipped: {w['skipped']} |")
            continue
        default = (w.get("default") or {}).get("setting")
        source = (w.get("default") or {}).get("source", "")
        for s in w["settings"]:
            name = s["setting"] + (f" (default: {source})" if s["setting"] == default else "")
            lines.append(f"| {w['name']} | {'x'.join(map(str, w['input']))} | {w['train_flops'] / 1e9:.2f} | "
                         f"{name} | {_ms_cell(s)} | {s.get('rounds', '–')} | {s['vs_baseline']:.3f} | "
                         + (f"{s['vs_peer']:.3f}" if "vs_peer" in s else "–")
                         + f" | {s['gflops']:.1f} | {_fraction(s)} | {s['warmup_s']:.1f} |")
        if "peer" in w:
            s = w["peer"]
            lines.append(f"| {w['name']} | {'x'.join(map(str, w['input']))} | {s['train_flops'] / 1e9:.2f} | "
                         f"torchvision fp32 | {_ms_cell(s)} | {s.get('rounds', '–')} | {s['vs_baseline']:.3f} | "
                         f"1 | {s['gflops']:.1f} | {_fraction(s)} | {s['warmup_s']:.1f} |")
    tcn = section.get("tcn")
    lines.append("")
    if tcn is None:
        pass
    elif "settings" in tcn:
        cells = "; ".join(f"{s['setting']} {s['ms']:.1f} ms ({s['gflops']:.1f} GFLOP/s, "
                          + (f"{s['peak_fraction']:.3f}" if s["peak_fraction"] is not None else "–") + " of peak)"
                          for s in tcn["settings"])
        ratio = f", ratio convkit/pytorch-tcn {tcn['ratio']:.3f}" if "ratio" in tcn else ""
        lines.append(f"TCN forecaster train step {'x'.join(map(str, tcn['input']))} (params "
                     + ", ".join(f"{k} {v:,}" for k, v in tcn["params"].items()) + f"): {cells}{ratio}; "
                     f"pytorch-tcn {tcn['peer']}.")
    else:
        lines.append(f"TCN pair skipped: {tcn.get('skipped')}.")
    defaults = section.get("defaults")
    if defaults:
        ratios = ", ".join(f"{k} {v:.3f}" for k, v in defaults["ratios"].items() if v is not None)
        lines.append(f"Faster in these figures: precision {defaults['precision']}, channels-last "
                     + ", ".join(f"{k} {'on' if v else 'off'}" for k, v in defaults["channels_last"].items())
                     + f", compile {'on' if defaults['compile'] else 'off'} (geometric-mean step time vs fp32: "
                     f"{ratios}).")
    engine = section.get("engine_defaults")
    if engine:
        lines.append(f"A run's setting (train.precision=auto, train.channels_last unset) is measured per model "
                     f"and machine (runtime.choose_settings; the probe is {section.get('probe', 'on')} here); "
                     f"the table it falls back to on {section['device']} (runtime.device_defaults): " + ", ".join(
                         f"{k} {v['precision']}{' channels-last' if v['channels_last'] else ''}"
                         for k, v in engine.items()) + "; compile off.")
    if not section.get("compile_timed", True):
        lines.append("torch.compile not timed in this profile (its warm-up is minutes per model on a small CPU).")
    lines.append(f"2D/3D peer: {section['torchvision']}.")
    return "\n".join(lines) + "\n"


def summary(sections: list[dict]) -> dict:
    """The median over several runs of the section (``--json`` files) of each model with a
    torchvision twin: ``{name: {"fp32_vs_peer": [per run], "default": setting,
    "default_vs_peer": [per run], ...medians}}``, and ``"max_peak_fraction"`` over every
    row of every run."""
    models: dict[str, dict] = {}
    fractions = []
    for section in sections:
        for w in section["workloads"]:
            rows = w.get("settings", []) + ([w["peer"]] if "peer" in w else [])
            fractions += [r["peak_fraction"] for r in rows if r.get("peak_fraction") is not None]
            if "peer" not in w:
                continue
            by = {r["setting"]: r for r in w["settings"]}
            default = w.get("default", {}).get("setting", "fp32")
            entry = models.setdefault(w["name"], {"fp32_vs_peer": [], "default_vs_peer": [], "defaults": []})
            entry["fp32_vs_peer"].append(by["fp32"]["ms"] / w["peer"]["ms"])
            entry["default_vs_peer"].append(by[default]["ms"] / w["peer"]["ms"])
            entry["defaults"].append(f"{default} ({w.get('default', {}).get('source', '?')})")
    for entry in models.values():
        entry["fp32_vs_peer_median"] = statistics.median(entry["fp32_vs_peer"])
        entry["default_vs_peer_median"] = statistics.median(entry["default_vs_peer"])
    return {"runs": len(sections), "models": models, "max_peak_fraction": max(fractions, default=None)}


def summary_markdown(sections: list[dict]) -> str:
    """:func:`summary` as a Markdown table."""
    out = summary(sections)
    lines = [f"| model (median of {out['runs']} runs) | convkit fp32 / torchvision fp32 | per run | "
             "default setting | default / torchvision fp32 | per run |", "|---|---|---|---|---|---|"]
    for name, e in out["models"].items():
        runs = {k: ", ".join(f"{v:.3f}" for v in e[k]) for k in ("fp32_vs_peer", "default_vs_peer")}
        lines.append(f"| {name} | {e['fp32_vs_peer_median']:.3f} | {runs['fp32_vs_peer']} | "
                     f"{'; '.join(dict.fromkeys(e['defaults']))} | {e['default_vs_peer_median']:.3f} | "
                     f"{runs['default_vs_peer']} |")
    if out["max_peak_fraction"] is not None:
        lines += ["", f"Highest fraction of peak in any row of any run: {out['max_peak_fraction']:.3f}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the section on its own and print it (``--json`` writes every figure)."""
    parser = argparse.ArgumentParser(prog="python -m convkit.bench.compute", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default", choices=("smoke", "default", "full"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: one per idle core)")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--only", default="", help="comma-separated workload names (default: all), or 'tcn'")
    parser.add_argument("--json", default="", help="write the section's figures to this file")
    parser.add_argument("--summarize", nargs="+", metavar="JSON", default=None,
                        help="print the median over these --json files of earlier runs (nothing is timed)")
    args = parser.parse_args(argv)
    if args.summarize:
        print(summary_markdown([json.loads(Path(p).read_text()) for p in args.summarize]))
        return 0
    set_threads(args.threads)
    device = select_device(args.device)
    names = set(args.only.split(",")) if args.only else None
    section = run_compute(args.profile, device, with_compile=not args.no_compile,
                          log=lambda text: print(text, file=sys.stderr, flush=True), names=names)
    if args.json:
        Path(args.json).write_text(json.dumps(section, indent=1))
    print(markdown(section))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
