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
from torch.utils._device import DeviceContext

from convkit import config as config_io
from convkit.errors import ConvkitError, Interrupted
from convkit.train.task import Data, Task, resolve_task_config

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
    parser.add_argument("--recipe", metavar="NAME", help="a recipe installed with the task (see `info`)")
    parser.add_argument("--config", metavar="FILE.toml", help="a config file (TOML) over the defaults and the recipe")
    parser.add_argument("--data", metavar="PATH", help="dataset folder (default: the task's embedded data)")
    parser.add_argument("--model", metavar="NAME",
                        help="zoo or plug-in model (see `info`), or a model class's import path module:Class")
    parser.add_argument("--epochs", metavar="N")
    parser.add_argument("--batch-size", metavar="N", dest="batch_size")
    parser.add_argument("--lr", metavar="X")
    parser.add_argument("--seed", metavar="N")
    parser.add_argument("--device", metavar="auto|cpu|cuda|mps")
    parser.add_argument("--out", metavar="DIR", default=".", help="write runs/<task>/<run>/ under DIR (default .)")
    parser.add_argument("--resume", metavar="CKPT", help="continue the run of this last.pt; auto: find the run "
                                                         "folder again (train.name, torchrun's run id, else the newest "
                                                         "unfinished run under --out) and continue it if it has one")
    parser.add_argument("--set", metavar="KEY=VALUE", nargs="+", action="extend", default=[],
                        help="override any config key, e.g. train.max_minutes=5 model.options.width=32")


def config_from_args(task: Task, args: argparse.Namespace) -> tuple[Task, config_io.RunConfig]:
    """The task that runs and its config, from parsed ``train`` options: defaults (or the
    resumed checkpoint's config), ``--recipe``, ``--config``, flags, ``--set``
    (:func:`~convkit.train.task.resolve_task_config`)."""
    from convkit.train.checkpoint import load_training_checkpoint

    base = load_training_checkpoint(args.resume, task.name)["config"] if args.resume else None
    flags = {key: value for attr, key in FLAG_KEYS.items() if (value := getattr(args, attr)) is not None}
    files = [task.recipe(args.recipe)] if args.recipe else []
    files += [args.config] if args.config else []
    return resolve_task_config(task, files, flags, args.set, base=base)


def command_aliases(task: Task, command: str) -> list[str]:
    """Other names a task gives ``command`` in its ``command_aliases`` class attribute
    (``{"detect": "predict"}``: ``detect`` runs ``predict``)."""
    return [alias for alias, target in task.command_aliases.items() if target == command]


def build_parser(task: Task, prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser for ``python -m convkit.tasks.<task>`` (or ``prog``, e.g.
    ``python -m convkit <task>``)."""
    common = argparse.ArgumentParser(add_help=False)  # --debug after the command (before it: the main parser's)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    parser = argparse.ArgumentParser(prog=prog or f"python -m convkit.tasks.{task.name}",
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
                            help="export a checkpoint to ONNX, TorchScript or safetensors (the weights)")
    export.add_argument("--checkpoint", required=True, metavar="CKPT")
    export.add_argument("--format", required=True, choices=["onnx", "torchscript", "safetensors"])
    export.add_argument("--output", required=True, metavar="FILE")

    shard = sub.add_parser("shard", parents=[common], aliases=command_aliases(task, "shard"),
                           help="write the data's files as tar shards for streaming (convkit.data.shards)")
    shard.add_argument("--data", required=True, metavar="PATH", help="the dataset (a class folder, a manifest...)")
    shard.add_argument("--out", required=True, metavar="DIR", help="the shard folder to write")
    shard.add_argument("--per-shard", type=int, default=10_000, metavar="N", help="examples per shard (10000)")
    shard.add_argument("--set", metavar="KEY=VALUE", nargs="+", action="extend", default=[],
                       help="data options, e.g. data.label_pattern=... (the split is train.seed's)")

    sub.add_parser("info", parents=[common], aliases=command_aliases(task, "info"),
                   help="models that fit, data formats, default config")
    return parser


def _print_json(obj: object) -> None:
    print(json.dumps(obj), flush=True)


def cmd_train(task: Task, args: argparse.Namespace) -> None:
    """Train; print ``{"run_dir", "test"}`` as one JSON line."""
    from convkit.train.engine import fit
    from convkit.train.metrics import to_float_dict

    run_dir = None
    if args.resume == "auto":  # (convkit.train.resume.auto_resume)
        from convkit.train.distributed import DistEnv, log, rank_from_env
        from convkit.train.resume import auto_resume

        runner, cfg = config_from_args(task, argparse.Namespace(**{**vars(args), "resume": None}))
        run_dir, last = auto_resume(runner.name, cfg.model.name or runner.default_model, cfg.train.name, args.out)
        args.resume = str(last) if last is not None else None
        log(f"--resume auto: {'continuing ' + str(last) if last is not None else 'a new run in ' + str(run_dir)}",
            DistEnv(rank=rank_from_env()))
        if last is not None:
            run_dir = None
    runner, cfg = config_from_args(task, args)
    repeats = runner.repeats(cfg)
    if (cfg.train.seeds > 1 or repeats) and (args.resume or run_dir is not None):
        raise ConvkitError("--resume continues one run; resume the run folder of one seed or fold")
    if repeats:
        from convkit.train.repeats import fit_repeats

        what, runs = repeats
        _print_json(fit_repeats(task, cfg, runs, out_dir=args.out, what=what))
        return
    if cfg.train.seeds > 1:
        from convkit.train.repeats import fit_seeds

        _print_json(fit_seeds(task, cfg, out_dir=args.out))
        return
    result = fit(task, cfg, out_dir=args.out, resume=args.resume, run_dir=run_dir)
    if result.run_dir is not None:
        _print_json({"run_dir": str(result.run_dir), "test": to_float_dict(result.metrics["test"])})


def cmd_evaluate(task: Task, args: argparse.Namespace) -> None:
    """Print the checkpoint's test block as one JSON line."""
    from convkit.train.inference import evaluate_checkpoint
    from convkit.train.runtime import set_threads

    config_io.TrainConfig(device=args.device, threads=args.threads).validate()
    set_threads(args.threads)
    _print_json(evaluate_checkpoint(task, args.checkpoint, args.data, device=args.device))


EMPTY_INPUT = "empty input"
"""``predict``'s ``error`` for a blank input (an empty argument or a blank line of ``--file``):
its row is ``{"input": "", "error": "empty input"}``, so every input keeps its row."""


def cmd_predict(task: Task, args: argparse.Namespace) -> None:
    """Print one JSON line per input, in order: the task's prediction, or
    ``{"input": "", "error": "empty input"}`` for a blank one."""
    from convkit.train.inference import load_trained, predict_checkpoint
    from convkit.train.runtime import set_threads

    config_io.TrainConfig(device=args.device, threads=args.threads).validate()
    set_threads(args.threads)
    inputs = [a if a.strip() else "" for a in args.inputs] + (_read_lines(args.file) if args.file else [])
    if not inputs:
        raise ConvkitError("predict needs inputs: INPUT arguments or --file FILE (one per line)")
    given = [x for x in inputs if x]
    if given:
        rows = iter(predict_checkpoint(task, args.checkpoint, given, device=args.device, out_dir=args.out))
    else:
        load_trained(task, args.checkpoint, "cpu")  # a bad checkpoint is still an error
        rows = iter([])
    for x in inputs:
        _print_json(next(rows) if x else {"input": "", "error": EMPTY_INPUT})


def _read_lines(path: str) -> list[str]:
    """The lines of a UTF-8 text file, stripped (one input each; a blank line is an
    empty input, so the outputs keep the file's lines)."""
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except FileNotFoundError:
        raise ConvkitError(f"{path}: no such file (--file)") from None
    except UnicodeDecodeError as err:
        line = _line_of(path, err.start)
        raise ConvkitError(f"{path}: line {line} is not UTF-8 text (--file)") from None
    except OSError as err:
        raise ConvkitError(f"{path}: cannot read it ({err.strerror or err})") from None
    lines = text.split("\n")  # universal newlines: "\r\n" and "\r" were read as "\n"
    if lines[-1] == "":  # the file's final line break ends a line; it does not start one
        lines.pop()
    return [line.strip() for line in lines]


def _line_of(path: str, offset: int) -> int:
    """The 1-based line holding byte ``offset`` of a file."""
    with open(path, "rb") as f:
        return f.read(offset).count(b"\n") + 1


def cmd_export(task: Task, args: argparse.Namespace) -> None:
    """Export and check, with the metadata a program needs to use the model (the task,
    model, classes, input spec and the task's preprocessing); print ``{"output",
    "format", "max_abs_diff", "dynamic_axes", "metadata"}`` (``export_checkpoint``)."""
    from convkit.train.inference import export_checkpoint

    _print_json(export_checkpoint(task, args.checkpoint, args.format, args.output))


DECLARED_INPUT_KINDS = ("grid", "points")
"""Input kinds whose zoo models declare what they take (``check_input``: layout, channels,
least size per axis): ``info`` checks that declaration on the model built on the meta
device instead of running it (a meta forward imports ``torch._dynamo`` for its python
decompositions, about 1.5 s)."""


_VALUE_OPS: frozenset[str] = frozenset({
    "normal_", "uniform_", "trunc_normal_", "kaiming_normal_", "kaiming_uniform_", "xavier_normal_",
    "xavier_uniform_", "orthogonal_", "fill_", "zero_", "erfinv_", "mul_", "add_", "sub_", "div_", "clamp_",
    "copy_", "exponential_", "bernoulli_", "random_"})
"""In-place torch functions that only write values: on a meta tensor (which holds none)
:class:`_MetaBuild` returns it unchanged instead of running torch's meta kernel, several of
which are Python decompositions that import ``torch._dynamo`` (seconds)."""


class _MetaBuild(DeviceContext):
    """A scope in which models are built on the meta device (``torch.device("meta")``,
    whose mode this is) without work for values meta tensors do not hold: random
    initialisers and other value-only in-place ops return their meta tensor unchanged
    (:data:`_VALUE_OPS`), ``torch.eye`` gives an empty meta ``[n, m]`` (PointNet's T-net,
    the character CNN's one-hot table) and weight normalisation an empty meta tensor of its
    result's shape (the TCN). A torch function mode: it applies to this thread inside the
    ``with`` only, patching nothing in torch."""

    def __init__(self) -> None:
        super().__init__("meta")

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204 - torch's protocol
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        first = args[0] if args else None
        if isinstance(first, torch.Tensor) and first.is_meta:
            if name in _VALUE_OPS:
                return first
            if func is torch._weight_norm:
                return torch.empty(first.shape, dtype=first.dtype, device="meta")
            if func is torch.norm_except_dim:
                dim = args[2] if len(args) > 2 else kwargs.get("dim", 0)
                shape = () if dim == -1 else tuple(n if i == dim % first.dim() else 1 for i, n in enumerate(first.shape))
                return torch.empty(shape, dtype=first.dtype, device="meta")
        if func is torch.eye and kwargs.get("out") is None and torch.device(kwargs.get("device") or "meta").type == "meta":
            rows = args[0]
            cols = args[1] if len(args) > 1 and isinstance(args[1], int) else kwargs.get("m", rows)
            return torch.empty(rows, cols, dtype=kwargs.get("dtype"), device="meta",
                               requires_grad=kwargs.get("requires_grad", False))
        return super().__torch_function__(func, types, args, kwargs)


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
    ``[2, *input_shape]``: by its declared ``check_input`` (``run=False``, grids and points,
    built in a :class:`_MetaBuild` scope) or a forward pass (on the CPU with one thread: a
    tiny example, where a second thread only waits). False when it has no declaration and a
    meta forward was not asked."""
    meta = device == "meta"
    if meta and not run and data.input_kind not in DECLARED_INPUT_KINDS:
        return False
    with _MetaBuild() if meta else contextlib.nullcontext(), torch.no_grad(), \
            _threads(1 if device == "cpu" else torch.get_num_threads()):
        model = task.build_model(cfg, data)
        if data.input_shape is None:
            return True
        example = (torch.empty if meta else torch.ones)(2, *data.input_shape, dtype=getattr(torch, data.input_dtype))
        check = getattr(model, "check_input", None)
        if meta and not run:
            if check is None:
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
    task's ``input_spec``: no data is generated or decoded), data formats, recipes, default
    config."""
    runner, cfg = resolve_task_config(task)
    spec = runner.input_spec(cfg)
    shape = f"[N, {', '.join(str(s) for s in spec.input_shape)}]" if spec.input_shape else spec.input_kind
    return (f"task: {task.name}\ndefault model: {task.default_model}\ninput kind: {spec.input_kind}\n"
            f"models that fit the default input {shape}:\n"
            f"  {', '.join(models_that_fit(runner, cfg, spec))}\n"
            f"data formats (--data PATH):\n  {task.data_formats}\n"
            f"recipes (--recipe NAME):\n  {', '.join(task.recipes()) or 'none'}\n\n"
            f"# default config (--config FILE.toml)\n{config_io.to_toml(cfg)}")


def cmd_shard(task: Task, args: argparse.Namespace) -> None:
    """Write the train/val/test files of ``--data`` (split as ``train`` splits them) into
    tar shards under ``--out``; print ``{"out", "splits": {split: examples}}``."""
    from convkit.data.lazy import LazyFiles
    from convkit.data.shards import write_shards
    from convkit.train.task import resolve_task_config

    if args.per_shard < 1:
        raise ConvkitError(f"--per-shard must be at least 1; got {args.per_shard}")
    runner, cfg = resolve_task_config(task, [], {"data.path": args.data}, args.set)
    data = runner.build_data(cfg)
    splits = {name: getattr(data, name) for name in ("train", "val", "test")}
    if not all(isinstance(d, LazyFiles) for d in splits.values()):
        raise ConvkitError(f"{args.data}: the {task.name} task reads this data whole, not one file per example; "
                           "only files read per example can be sharded")
    index = write_shards(args.out, {n: zip(d.files, d.labels.tolist()) for n, d in splits.items()},
                         data.label_names or [], args.per_shard)
    _print_json({"out": str(args.out), "splits": {n: sum(c for _, c in v) for n, v in index["splits"].items()}})


def cmd_info(task: Task, args: argparse.Namespace) -> None:
    """Print :func:`info_text`."""
    print(info_text(task))


COMMANDS: dict[str, Callable[[Task, argparse.Namespace], None]] = {
    "train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict, "export": cmd_export, "info": cmd_info,
    "shard": cmd_shard,
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


def main(task: Task, argv: list[str] | None = None, prog: str | None = None) -> int:
    """Run one command for ``task``; returns the exit status (0, or 2 for a user error,
    printed as one ``error: ...`` line). argparse's own usage errors also exit 2.
    ``prog``: the command's name in usage lines (default ``python -m convkit.tasks.<task>``)."""
    args = build_parser(task, prog).parse_args(argv)
    command = task.command_aliases.get(args.command, args.command)
    return guarded(lambda: COMMANDS[command](task, args), args.debug)
