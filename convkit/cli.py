"""The command line shared by every task: ``train``, ``evaluate``, ``predict``, ``export``, ``info``.

A task's ``__main__.py`` only names its task::

    from convkit.cli import main
    from convkit.tasks.image.task import TASK
    raise SystemExit(main(TASK))

User errors (``ConvkitError``) end as one line ``error: ...`` on stderr and exit status 2;
``--debug`` (before or after the command) shows the traceback instead. A training run
stopped by Ctrl-C or SIGTERM saves a resumable ``last.pt``, says how to resume and exits
130 / 143. Machine-readable results go to stdout as JSON
lines; progress and logs go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import warnings
from collections.abc import Callable, Iterator

import torch

from convkit import config as config_io
from convkit.errors import ConvkitError, Interrupted
from convkit.train.task import Data, Task

FLAG_KEYS: dict[str, str] = {
    "data": "data.path",
    "model": "model.name",
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "lr": "train.lr",
    "seed": "train.seed",
    "device": "train.device",
}
"""``train`` flags and the config keys they set (applied before ``--set``)."""


def add_train_options(parser: argparse.ArgumentParser) -> None:
    """The ``train`` options (DESIGN.md's CLI block plus ``--out``, ``--resume``)."""
    parser.add_argument("--config", metavar="FILE.toml", help="experiment recipe (TOML) over the defaults")
    parser.add_argument("--data", metavar="PATH", help="dataset folder (default: the task's embedded data)")
    parser.add_argument("--model", metavar="NAME", help="zoo model (see `info`)")
    parser.add_argument("--epochs", metavar="N")
    parser.add_argument("--batch-size", metavar="N", dest="batch_size")
    parser.add_argument("--lr", metavar="X")
    parser.add_argument("--seed", metavar="N")
    parser.add_argument("--device", metavar="auto|cpu|cuda|mps")
    parser.add_argument("--out", metavar="DIR", default=".", help="write runs/<task>/<run>/ under DIR (default .)")
    parser.add_argument("--resume", metavar="CKPT", help="continue the run of this last.pt")
    parser.add_argument("--set", metavar="KEY=VALUE", nargs="+", action="extend", default=[],
                        help="override any config key, e.g. train.max_minutes=5 model.options.width=32")


def config_from_args(task: Task, args: argparse.Namespace) -> config_io.RunConfig:
    """Resolve the run config from parsed ``train`` options: defaults (or the resumed
    checkpoint's config), ``--config``, flags, ``--set``; an empty model name becomes the
    task's default model."""
    from convkit.train.checkpoint import load_training_checkpoint

    base = load_training_checkpoint(args.resume, task.name)["config"] if args.resume else None
    flags = {key: value for attr, key in FLAG_KEYS.items() if (value := getattr(args, attr)) is not None}
    cfg = config_io.resolve_config(task.config_class, args.config, flags, args.set, base=base)
    if not cfg.model.name:  # the default of the task that runs this config (e.g. its mode's)
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, name=task.for_config(cfg).default_model))
    return cfg


def command_aliases(task: Task, command: str) -> list[str]:
    """Other names a task gives ``command`` in its ``command_aliases`` class attribute
    (``{"detect": "predict"}``: ``detect`` runs ``predict``)."""
    return [alias for alias, target in task.command_aliases.items() if target == command]


def build_parser(task: Task) -> argparse.ArgumentParser:
    """The argument parser for ``python -m convkit.tasks.<task>``."""
    common = argparse.ArgumentParser(add_help=False)  # --debug after the command (before it: the main parser's)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    parser = argparse.ArgumentParser(prog=f"python -m convkit.tasks.{task.name}",
                                     description=f"convkit {task.name} task (default model: {task.default_model})")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser("train", parents=[common], aliases=command_aliases(task, "train"),
                           help="train a model, write runs/<task>/<run>/")
    add_train_options(train)

    evaluate = sub.add_parser("evaluate", parents=[common], aliases=command_aliases(task, "evaluate"),
                              help="score a checkpoint; prints the test block")
    evaluate.add_argument("--checkpoint", required=True, metavar="CKPT")
    evaluate.add_argument("--data", metavar="PATH", help="score all of PATH (its test split if it has one)")
    evaluate.add_argument("--device", default="auto", metavar="auto|cpu|cuda|mps")
    evaluate.add_argument("--threads", type=int, default=0, metavar="N", help="CPU threads (0: one per core)")

    predict = sub.add_parser("predict", parents=[common], aliases=command_aliases(task, "predict"),
                             help="predict inputs; one JSON line each")
    predict.add_argument("--checkpoint", required=True, metavar="CKPT")
    predict.add_argument("inputs", nargs="*", metavar="INPUT")
    predict.add_argument("--file", metavar="FILE", help="read inputs from FILE, one per line (e.g. sentences)")
    predict.add_argument("--device", default="auto", metavar="auto|cpu|cuda|mps")
    predict.add_argument("--threads", type=int, default=0, metavar="N", help="CPU threads (0: one per core)")
    predict.add_argument("--out", metavar="DIR", help="where files a task writes go (default: runs/<task>/predict)")

    export = sub.add_parser("export", parents=[common], aliases=command_aliases(task, "export"),
                            help="export a checkpoint to ONNX or TorchScript")
    export.add_argument("--checkpoint", required=True, metavar="CKPT")
    export.add_argument("--format", required=True, choices=["onnx", "torchscript"])
    export.add_argument("--output", required=True, metavar="FILE")

    sub.add_parser("info", parents=[common], aliases=command_aliases(task, "info"),
                   help="models that fit, data formats, default config")
    return parser


def _print_json(obj: object) -> None:
    print(json.dumps(obj), flush=True)


def cmd_train(task: Task, args: argparse.Namespace) -> None:
    """Train; print ``{"run_dir", "test"}`` as one JSON line."""
    from convkit.train.engine import fit
    from convkit.train.metrics import to_float_dict

    cfg = config_from_args(task, args)
    repeats = task.for_config(cfg).repeats(cfg)
    if (cfg.train.seeds > 1 or repeats) and args.resume:
        raise ConvkitError("--resume continues one run; resume the run folder of one seed or fold")
    if repeats:
        from convkit.train.engine import fit_repeats

        what, runs = repeats
        _print_json(fit_repeats(task, cfg, runs, out_dir=args.out, what=what))
        return
    if cfg.train.seeds > 1:
        from convkit.train.engine import fit_seeds

        _print_json(fit_seeds(task, cfg, out_dir=args.out))
        return
    result = fit(task, cfg, out_dir=args.out, resume=args.resume)
    if result.run_dir is not None:
        _print_json({"run_dir": str(result.run_dir), "test": to_float_dict(result.metrics["test"])})


def cmd_evaluate(task: Task, args: argparse.Namespace) -> None:
    """Print the checkpoint's test block as one JSON line."""
    from convkit.train.engine import evaluate_checkpoint, set_threads

    config_io.TrainConfig(device=args.device, threads=args.threads).validate()
    set_threads(args.threads)
    _print_json(evaluate_checkpoint(task, args.checkpoint, args.data, device=args.device))


def cmd_predict(task: Task, args: argparse.Namespace) -> None:
    """Print one JSON line per input."""
    from convkit.train.engine import predict_checkpoint, set_threads

    config_io.TrainConfig(device=args.device, threads=args.threads).validate()
    set_threads(args.threads)
    inputs = list(args.inputs) + (_read_lines(args.file) if args.file else [])
    if not inputs:
        raise ConvkitError("predict needs inputs: INPUT arguments or --file FILE (one per line)")
    for row in predict_checkpoint(task, args.checkpoint, inputs, device=args.device, out_dir=args.out):
        _print_json(row)


def _read_lines(path: str) -> list[str]:
    """The non-empty lines of a UTF-8 text file (one input each)."""
    try:
        text = open(path, encoding="utf-8").read()
    except FileNotFoundError:
        raise ConvkitError(f"{path}: no such file (--file)") from None
    except UnicodeDecodeError as err:
        line = _line_of(path, err.start)
        raise ConvkitError(f"{path}: line {line} is not UTF-8 text (--file)") from None
    except OSError as err:
        raise ConvkitError(f"{path}: cannot read it ({err.strerror or err})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _line_of(path: str, offset: int) -> int:
    """The 1-based line holding byte ``offset`` of a file."""
    with open(path, "rb") as f:
        return f.read(offset).count(b"\n") + 1


def cmd_export(task: Task, args: argparse.Namespace) -> None:
    """Export and check; print ``{"output", "format", "max_abs_diff", "dynamic_axes"}``."""
    from convkit.train.engine import load_trained
    from convkit.train.export import export_model

    trained = load_trained(task, args.checkpoint, "cpu")
    _print_json(export_model(trained.model, trained.spec, args.format, args.output))


DECLARED_INPUT_KINDS = ("grid", "points")
"""Input kinds whose zoo models declare what they take (``check_input``: layout, channels,
least size per axis): ``info`` checks that declaration on the model built on the meta
device instead of running it (a meta forward imports ``torch._dynamo`` for its python
decompositions, about 1.5 s)."""


def _meta_eye(original: Callable) -> Callable:
    """``torch.eye`` giving, on the meta device, an empty ``[n, m]`` meta tensor."""

    def eye(n: int, m: int | None = None, *args, **kwargs) -> torch.Tensor:
        device = kwargs.get("device")
        on_meta = torch.device(device).type == "meta" if device is not None else \
            torch.get_default_device().type == "meta"
        if args or kwargs.get("out") is not None or not on_meta:
            return original(n, m, *args, **kwargs) if m is not None else original(n, *args, **kwargs)
        return torch.empty(n, n if m is None else m, dtype=kwargs.get("dtype"), device=device,
                           requires_grad=kwargs.get("requires_grad", False))

    return eye


def _meta_norm_except_dim(original: Callable) -> Callable:
    """``torch.norm_except_dim`` (weight norm) giving, for a meta ``v``, an empty meta
    tensor of its result's shape (``v``'s size along ``dim``, 1 elsewhere)."""

    def norm_except_dim(v: torch.Tensor, pow: float = 2, dim: int = 0) -> torch.Tensor:
        if not v.is_meta:
            return original(v, pow, dim)
        shape = () if dim == -1 else tuple(n if i == dim % v.dim() else 1 for i, n in enumerate(v.shape))
        return torch.empty(shape, dtype=v.dtype, device=v.device)

    return norm_except_dim


def _meta_weight_norm(original: Callable) -> Callable:
    """``torch._weight_norm`` giving, for a meta ``v``, an empty meta tensor of its shape."""

    def weight_norm(v: torch.Tensor, g: torch.Tensor, dim: int = 0) -> torch.Tensor:
        return torch.empty(v.shape, dtype=v.dtype, device=v.device) if v.is_meta else original(v, g, dim)

    return weight_norm


_META_SHORTCUTS: dict[str, Callable[[Callable], Callable]] = {
    "eye": _meta_eye, "norm_except_dim": _meta_norm_except_dim, "_weight_norm": _meta_weight_norm,
}
"""torch functions model constructors call whose meta kernels are Python references that
import ``torch._dynamo`` (seconds): ``torch.eye`` (PointNet's T-net, the character CNN's
one-hot table) and weight normalisation (the TCN). On meta tensors they return an empty
meta tensor of the result's shape (meta tensors hold no values); otherwise they are torch's."""


def _skip_reset_on_meta(original: Callable) -> Callable:
    """A layer's ``reset_parameters`` that does nothing when all its own tensors are meta."""

    def reset_parameters(self: torch.nn.Module) -> None:
        tensors = [*self.parameters(recurse=False), *self.buffers(recurse=False)]
        if not (tensors and all(t.is_meta for t in tensors)):
            original(self)

    return reset_parameters


@contextlib.contextmanager
def _cheap_meta_build() -> Iterator[None]:
    """Model builds on the meta device without work for values meta tensors do not hold:
    convolutions, linear layers and batch norms skip ``reset_parameters``, random
    initialisers return meta tensors untouched (torch's meta ``normal_`` imports
    ``torch._dynamo``, its meta ``uniform_`` is a Python decomposition: together about
    half of building the 2D zoo) and the :data:`_META_SHORTCUTS` give empty meta tensors;
    on other devices all behave as usual."""
    from torch.nn import init
    from torch.nn.modules.batchnorm import _NormBase
    from torch.nn.modules.conv import _ConvNd

    names = ("normal_", "kaiming_normal_", "xavier_normal_", "trunc_normal_", "uniform_", "kaiming_uniform_",
             "xavier_uniform_")
    saved = {name: getattr(init, name) for name in names}
    saved_torch = {name: getattr(torch, name) for name in _META_SHORTCUTS}
    saved_resets = {cls: cls.__dict__["reset_parameters"] for cls in (_ConvNd, torch.nn.Linear, _NormBase)}

    def skip_meta(original: Callable) -> Callable:
        return lambda tensor, *args, **kwargs: tensor if tensor.is_meta else original(tensor, *args, **kwargs)

    try:
        for name, original in saved.items():
            setattr(init, name, skip_meta(original))
        for name, original in saved_torch.items():
            setattr(torch, name, _META_SHORTCUTS[name](original))
        for cls, original in saved_resets.items():
            cls.reset_parameters = _skip_reset_on_meta(original)
        yield
    finally:
        for name, original in saved.items():
            setattr(init, name, original)
        for name, original in saved_torch.items():
            setattr(torch, name, original)
        for cls, original in saved_resets.items():
            cls.reset_parameters = original


@contextlib.contextmanager
def _threads(count: int) -> Iterator[None]:
    """torch's intra-op threads set to ``count`` inside, restored after."""
    saved = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def _takes(task: Task, cfg: config_io.RunConfig, data: Data, device: str, run: bool) -> bool:
    """Whether the model of ``cfg`` built on ``device`` ("meta" or "cpu") takes one example
    ``[2, *input_shape]``: by its declared ``check_input`` (``run=False``, grids and points)
    or a forward pass (on the CPU with one thread: a tiny example, where a second thread only
    waits, 0.6 s against 0.02 s for the TCN on a loaded machine). False when it has no
    declaration and a meta forward was not asked."""
    with contextlib.nullcontext() if device == "cpu" else torch.device("meta"), _cheap_meta_build(), \
            torch.no_grad(), _threads(1 if device == "cpu" else torch.get_num_threads()):
        model = task.build_model(cfg, data)
        if data.input_shape is None:
            return True
        example = (torch.ones if device == "cpu" else torch.empty)(2, *data.input_shape,
                                                                   dtype=getattr(torch, data.input_dtype))
        check = getattr(model, "check_input", None)
        if device == "meta" and not run:
            if check is None or data.input_kind not in DECLARED_INPUT_KINDS:
                return False
            check(example)
        else:
            model.eval()(example)
    return True


def models_that_fit(task: Task, cfg: config_io.RunConfig, data: Data, run: bool = False) -> list[str]:
    """Zoo models of the data's input kind (and, for grids, its ``spatial_dims``) that the
    task builds and that take its input shape, checked on one example ``[2, *input_shape]``:
    built on the meta device (no memory, no compute) and checked by the model's declared
    ``check_input`` (grids and points); a model without one (e.g. the TCN forecaster) and
    token models are built and run on the CPU (small models; a meta forward meets Python
    meta kernels, ``x + y`` in a residual block, ``tokens != 0``, that import
    ``torch._dynamo``: seconds). ``run=True``: a meta forward pass for every model. A graph
    (no ``input_shape``) fits when the task builds it, on the meta device."""
    from convkit.models import list_models

    grid = data.input_kind == "grid"
    fits = []
    for name in list_models(input_kind=data.input_kind, spatial_dims=data.spatial_dims if grid else None):
        trial = dataclasses.replace(cfg, model=config_io.ModelConfig(name=name))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a trial build's warnings are not the user's business
                if not _takes(task, trial, data, "meta", run) and not _takes(task, trial, data, "cpu", run):
                    continue
        except Exception:  # noqa: BLE001 - any failure means "does not fit"
            continue
        fits.append(name)
    return fits


def info_text(task: Task) -> str:
    """``info``'s text: the task, the models that fit its default input (declared by the
    task's ``input_spec``: no data is generated or decoded), data formats, default config."""
    cfg = task.config_class()
    runner = task.for_config(cfg)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, name=cfg.model.name or runner.default_model))
    spec = runner.input_spec(cfg)
    shape = f"[N, {', '.join(str(s) for s in spec.input_shape)}]" if spec.input_shape else spec.input_kind
    return (f"task: {task.name}\ndefault model: {task.default_model}\ninput kind: {spec.input_kind}\n"
            f"models that fit the default input {shape}:\n"
            f"  {', '.join(models_that_fit(runner, cfg, spec))}\n"
            f"data formats (--data PATH):\n  {task.data_formats}\n\n# default config (--config FILE.toml)\n"
            f"{config_io.to_toml(cfg)}")


def cmd_info(task: Task, args: argparse.Namespace) -> None:
    """Print :func:`info_text`."""
    print(info_text(task))


COMMANDS: dict[str, Callable[[Task, argparse.Namespace], None]] = {
    "train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict, "export": cmd_export, "info": cmd_info,
}


def guarded(command: Callable[[], object], debug: bool = False) -> int:
    """Run ``command``; a ConvkitError becomes one ``error: ...`` line on stderr and
    status 2 (with ``debug``, it propagates with its traceback). Returns 0 otherwise."""
    try:
        command()
    except Interrupted as err:  # a resumable last.pt was saved; 130 for SIGINT, 143 for SIGTERM
        print(" ".join(str(err).split()), file=sys.stderr, flush=True)
        return 128 + err.signum
    except ConvkitError as err:
        if debug:
            raise
        print("error: " + " ".join(str(err).split()), file=sys.stderr, flush=True)  # always one line
        return 2
    except KeyboardInterrupt:
        if debug:
            raise
        print("interrupted before training started; nothing was saved", file=sys.stderr, flush=True)
        return 130
    return 0


def main(task: Task, argv: list[str] | None = None) -> int:
    """Run one command for ``task``; returns the exit status (0, or 2 for a user error,
    printed as one ``error: ...`` line). argparse's own usage errors also exit 2."""
    args = build_parser(task).parse_args(argv)
    command = task.command_aliases.get(args.command, args.command)
    return guarded(lambda: COMMANDS[command](task, args), args.debug)
