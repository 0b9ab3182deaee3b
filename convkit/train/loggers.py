"""Run loggers: what a training run reports while it trains, besides ``metrics.jsonl``.

A logger is a small set of callbacks (:class:`Logger`) that the engine calls on rank 0
(under DDP the other ranks log nothing):

* ``on_start(start)``: the run folder, the resolved config, the model and an example
  input (:class:`RunStart`); on ``--resume``, the step and epochs it continues from;
* ``on_step(step, epoch, values)``: ``values`` is ``{"loss", "lr"}`` at a *logged step*;
* ``on_epoch(epoch, step, record)``: the epoch's ``metrics.jsonl`` record;
* ``on_checkpoint(step)``: ``last.pt`` now holds the run at ``step`` (flush here);
* ``on_end(step, metrics)``: the final ``metrics.json`` contents, before it is written;
* ``close()``: once after ``on_start``, however the run ends.

**Logged steps.** The engine does not synchronise the host every step (the loss stays on
the device, ``convkit.train.engine``); a logged step is one where it reads the loss
anyway: every ``train.log_every`` steps when set (``1``: every step), else every
``engine.SYNC_EVERY`` steps, at every in-epoch checkpoint, when the time budget or a
signal stops the run, and at the end of every epoch. ``loss`` is then the mean training
loss (rank 0's batches) over the steps since the previous logged step, and ``lr`` the
rate the last of them trained with. ``step`` counts optimizer steps from the start of the
run (1-based), ``epoch`` is 1-based.

**Built in** (``train.loggers``, ``["csv"]`` by default):

* ``csv``: ``steps.csv`` (``step,epoch,loss,lr``: one row per logged step) and
  ``epochs.csv`` (``epoch,step,lr,train_loss,seconds`` then ``val_<metric>`` for each
  scalar validation metric) in the run folder;
* ``tensorboard``: an event file in the run folder (``tensorboard --logdir runs/`` shows
  every run): scalars ``train/loss``, ``train/lr`` per logged step, ``epoch/train_loss``,
  ``epoch/lr`` and ``val/<metric>`` per epoch, ``test/<metric>`` at the end (all at the
  global step), the config as text, the model graph where ``torch.jit.trace`` can trace it
  and the run's simple settings as hparams. Needs the ``tensorboard`` package
  (``pip install 'convkit[tensorboard]'``).

**Other trackers** (MLflow, Weights & Biases, ...) plug in as a :class:`Logger` subclass:
passed to ``fit(..., callbacks=[...])`` from Python, or named in ``train.loggers`` when
an installed package declares it under the ``convkit.loggers`` entry point group
(``[project.entry-points."convkit.loggers"] mlflow = "mypkg.logging:MLflowLogger"``); the
class is built without arguments.

**Resume.** ``--resume`` continues the logs where the checkpoint stands: the CSV keeps the
rows up to its step (and the epochs up to its epoch) and appends after them, TensorBoard
opens a new event file with ``purge_step`` just after it, so a run killed (even with
``kill -9``) and resumed has one row and one point per logged step.

**A full disk** while a logger writes is one line naming the file and the last complete
checkpoint, as for every file of the run (``convkit.train.rundir``).
"""

from __future__ import annotations

import contextlib
import csv
import importlib.metadata
import importlib.util
import io
import logging
import math
import re
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from convkit import config as config_io
from convkit.config import RunConfig
from convkit.errors import ConfigError
from convkit.train import checkpoint as checkpoints
from convkit.train import rundir
from convkit.train.metrics import to_float_dict

_log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "convkit.loggers"
"""The entry point group other packages declare loggers in (name -> ``Logger`` subclass)."""


@dataclass
class RunStart:
    """What a logger learns when a run starts (``Logger.on_start``).

    ``example_input`` is a batch of two inputs shaped and typed as the model takes them
    (``[2, *Data.input_shape]``, on the model's device; None when the input is not one
    tensor, e.g. a graph). ``step`` optimizer steps and ``epoch`` whole epochs are already
    done (0 and 0 for a new run; a resumed run's checkpoint position otherwise), and
    ``history`` holds the records of those epochs (``metrics.jsonl``'s lines)."""

    run_dir: Path
    cfg: RunConfig
    task: str
    model: nn.Module
    example_input: Tensor | None = None
    step: int = 0
    epoch: int = 0
    resumed: bool = False
    history: list[dict] = field(default_factory=list)


class Logger:
    """The callbacks a run calls on rank 0 (the module docstring says when). Subclass it
    and override what you need; every method does nothing by default. ``name`` is used
    in messages (a full disk while it writes). An exception a method raises stops the run
    (a full disk as one line); a logger that should never stop training catches its own."""

    name: ClassVar[str] = ""

    def on_start(self, start: RunStart) -> None:
        """The run folder exists and ``config.toml`` is written; training starts next."""

    def on_step(self, step: int, epoch: int, values: dict[str, float]) -> None:
        """A logged step: ``values`` is ``{"loss": mean since the previous logged step,
        "lr": the rate of the last step}``; ``step`` counts from the run's start."""

    def on_epoch(self, epoch: int, step: int, record: dict) -> None:
        """Epoch ``epoch`` (1-based) ended at global ``step``: ``record`` is its
        ``metrics.jsonl`` line (``lr``, ``train.loss``, ``val`` metrics, ``seconds``)."""

    def on_checkpoint(self, step: int) -> None:
        """``last.pt`` now holds the run at global ``step``: a resumed run continues from
        there, so whatever is logged up to it should be on disk."""

    def on_end(self, step: int, metrics: dict) -> None:
        """The run is complete: ``metrics`` is what ``metrics.json`` is about to hold."""

    def close(self) -> None:
        """Release files and connections (called once after ``on_start``, however the run
        ended)."""


# --------------------------------------------------------------------------- CSV


class CSVLogger(Logger):
    """``steps.csv`` (one row per logged step: ``step,epoch,loss,lr``) and ``epochs.csv``
    (one row per epoch) in the run folder. Rows are appended whole (a failed append is cut
    off again); ``epochs.csv`` is rewritten when a later epoch brings new columns (the
    first validation of a run with ``train.eval_every`` > 1)."""

    name = "csv"
    STEPS, EPOCHS = "steps.csv", "epochs.csv"
    STEP_COLUMNS = ("step", "epoch", "loss", "lr")
    EPOCH_COLUMNS = ("epoch", "step", "lr", "train_loss", "seconds")

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.epoch_rows: list[dict[str, Any]] = []
        self.epoch_columns: list[str] = list(self.EPOCH_COLUMNS)

    def on_start(self, start: RunStart) -> None:
        self.folder = start.run_dir
        steps = self.folder / self.STEPS
        kept = _rows_up_to(steps, start.step) if start.resumed else []
        with _naming(steps):
            rundir.write_text_atomic(steps, _csv_text([self.STEP_COLUMNS, *kept]))
        self.epoch_rows = []
        for index, record in enumerate(start.history):
            self.epoch_rows.append(_epoch_row(record, sum(r["steps"] for r in start.history[: index + 1])))
        self.epoch_columns = _columns(self.EPOCH_COLUMNS, self.epoch_rows)
        if self.epoch_rows or (self.folder / self.EPOCHS).exists():
            self._write_epochs()

    def on_step(self, step: int, epoch: int, values: dict[str, float]) -> None:
        path = self.folder / self.STEPS
        with _naming(path):
            rundir.append_line(path, _csv_text([(step, epoch, values["loss"], values["lr"])]).rstrip("\r\n"))

    def on_epoch(self, epoch: int, step: int, record: dict) -> None:
        row = _epoch_row(record, step)
        self.epoch_rows.append(row)
        columns = _columns(self.epoch_columns, [row])
        path = self.folder / self.EPOCHS
        if columns != self.epoch_columns or not path.exists():
            self.epoch_columns = columns
            self._write_epochs()
            return
        with _naming(path):
            rundir.append_line(path, _csv_text([[row.get(c, "") for c in columns]]).rstrip("\r\n"))

    def _write_epochs(self) -> None:
        path = self.folder / self.EPOCHS
        table = [self.epoch_columns, *([row.get(c, "") for c in self.epoch_columns] for row in self.epoch_rows)]
        with _naming(path):
            rundir.write_text_atomic(path, _csv_text(table))


def _epoch_row(record: dict, step: int) -> dict[str, Any]:
    """One ``epochs.csv`` row from a ``metrics.jsonl`` record ending at global ``step``."""
    return {"epoch": record["epoch"], "step": step, "lr": float(record["lr"]),
            "train_loss": record["train"]["loss"], "seconds": record.get("seconds", ""),
            **{f"val_{k}": v for k, v in to_float_dict(record.get("val") or {}).items()}}


def _columns(current: Sequence[str], rows: list[dict]) -> list[str]:
    """``current`` followed by the keys of ``rows`` it lacks, in order of appearance."""
    out = list(current)
    for row in rows:
        out += [k for k in row if k not in out]
    return out


def _rows_up_to(path: Path, step: int) -> list[list[str]]:
    """The data rows of an existing ``steps.csv`` whose step is at most ``step`` (a row
    a killed process left half-written is dropped)."""
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    kept = []
    for row in rows[1:]:
        with contextlib.suppress(ValueError):
            if len(row) == len(CSVLogger.STEP_COLUMNS) and int(row[0]) <= step:
                kept.append(row)
    return kept


def _csv_text(rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(
        [[repr(v) if isinstance(v, float) else v for v in row] for row in rows])
    return buffer.getvalue()


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """Let an OSError while writing ``path`` name it (a failed ``write`` names no file),
    so that a full disk is reported with the file it hit."""
    try:
        yield
    except OSError as err:
        if err.filename is None:
            err.filename = str(path)
        raise


# --------------------------------------------------------------------------- TensorBoard


class TensorBoardLogger(Logger):
    """An event file in the run folder through ``torch.utils.tensorboard.SummaryWriter``
    (the tags are listed in the module docstring). A resumed run opens a new event file
    whose ``purge_step`` drops what an earlier process logged after the checkpoint."""

    name = "tensorboard"

    def __init__(self) -> None:
        if importlib.util.find_spec("tensorboard") is None:
            raise ConfigError("train.loggers: the tensorboard logger needs the tensorboard package; install it "
                              "with: pip install 'convkit[tensorboard]' (or remove it from train.loggers)")
        self.writer: Any = None
        self.hparams: dict[str, Any] = {}

    def on_start(self, start: RunStart) -> None:
        from torch.utils.tensorboard import SummaryWriter

        if start.resumed:
            _after_existing_event_files(start.run_dir)
        self.writer = SummaryWriter(log_dir=str(start.run_dir), purge_step=start.step + 1 if start.resumed else None)
        text = config_io.to_toml(start.cfg)
        self.writer.add_text("config", "\n".join("    " + line for line in text.splitlines()), start.step)
        self.hparams = _simple_settings(config_io.to_dict(start.cfg))
        if start.example_input is not None and not start.resumed:  # the first process wrote the graph
            self._add_graph(start.model, start.example_input)
        self.writer.flush()

    def _add_graph(self, model: nn.Module, example: Tensor) -> None:
        """The model's graph, when ``torch.jit.trace`` can trace it (skipped otherwise,
        with one debug line). Traced in eval mode on a forked RNG, so the run's random
        stream and its batch-norm statistics are unchanged."""
        devices = [example.device] if example.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices), torch.no_grad(), warnings.catch_warnings(), \
                    contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                self.writer.add_graph(model, example)
        except Exception as err:  # noqa: BLE001  (tracing fails in many ways; the graph is optional)
            _log.debug("tensorboard: no model graph (%s cannot be traced: %s)", type(model).__name__,
                       str(err).splitlines()[0] if str(err) else type(err).__name__)

    def on_step(self, step: int, epoch: int, values: dict[str, float]) -> None:
        self.writer.add_scalar("train/loss", values["loss"], step)
        self.writer.add_scalar("train/lr", values["lr"], step)

    def on_epoch(self, epoch: int, step: int, record: dict) -> None:
        self.writer.add_scalar("epoch/train_loss", record["train"]["loss"], step)
        self.writer.add_scalar("epoch/lr", float(record["lr"]), step)
        for key, value in to_float_dict(record.get("val") or {}).items():
            self.writer.add_scalar(f"val/{key}", value, step)
        self.writer.flush()

    def on_checkpoint(self, step: int) -> None:
        self.writer.flush()

    def on_end(self, step: int, metrics: dict) -> None:
        from torch.utils.tensorboard.summary import hparams

        test = {f"test/{k}": v for k, v in to_float_dict(metrics.get("test") or {}).items() if math.isfinite(v)}
        for key, value in test.items():
            self.writer.add_scalar(key, value, step)
        if self.hparams and test:
            for summary in hparams(self.hparams, test):
                self.writer.file_writer.add_summary(summary, step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _after_existing_event_files(folder: Path) -> None:
    """Wait (at most a second) until the clock has passed the whole second in the name
    of every event file in ``folder``. TensorBoard reads a folder's event files in name
    order, and a name starts with its writer's start time in whole seconds: a resumed run's
    file named after the same second would sort by process id, possibly before the file
    it continues, and its ``purge_step`` would then drop the wrong points."""
    stamps = [int(m.group(1)) for p in folder.glob("events.out.tfevents.*")
              if (m := re.match(r"events\.out\.tfevents\.(\d+)\.", p.name))]
    if stamps:
        time.sleep(max(0.0, min(max(stamps) + 1 - time.time(), 1.0)))


def _simple_settings(tree: dict, prefix: str = "") -> dict[str, Any]:
    """The config's single values (bool, int, float, str) by dotted key, for hparams."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_simple_settings(value, f"{prefix}{key}."))
        elif isinstance(value, (bool, int, float, str)):
            out[f"{prefix}{key}"] = value
    return out


# --------------------------------------------------------------------------- by name


BUILT_IN: dict[str, type[Logger]] = {"csv": CSVLogger, "tensorboard": TensorBoardLogger}
"""The loggers ``train.loggers`` names without a plug-in."""


def logger_class(name: str) -> type[Logger]:
    """The logger called ``name``: built in, or declared by an installed package under the
    ``convkit.loggers`` entry point group.

    Raises:
        ConfigError: no logger has that name, or its package fails to load (one line).
    """
    if name in BUILT_IN:
        return BUILT_IN[name]
    points = {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    if name not in points:
        valid = ", ".join([*BUILT_IN, *sorted(points)])
        raise ConfigError(f"train.loggers: unknown logger {name!r}; valid: {valid} (other packages add "
                          f"loggers under the {ENTRY_POINT_GROUP!r} entry point group)")
    try:
        cls = points[name].load()
    except Exception as err:  # noqa: BLE001  (a plug-in's import error, whatever it is)
        raise ConfigError(f"train.loggers: the {name!r} logger ({points[name].value}) failed to load: "
                          f"{type(err).__name__}: {err}") from None
    if not (isinstance(cls, type) and issubclass(cls, Logger)):
        raise ConfigError(f"train.loggers: the {name!r} logger ({points[name].value}) is not a "
                          f"convkit.train.loggers.Logger subclass")
    return cls


class Loggers:
    """The loggers of one run, called together (by the engine, on rank 0). A full disk
    while one of them writes becomes one line (``rundir.disk_full_error``) naming the
    file and what ``kept()`` says is safe."""

    def __init__(self, loggers: Sequence[Logger] = ()) -> None:
        self.loggers = list(loggers)
        self.kept: Callable[[], str] = lambda: "nothing was saved; free some space and train again"
        self.where: Path | None = None
        self.started = self.closed = False

    def __bool__(self) -> bool:
        return bool(self.loggers)

    @contextlib.contextmanager
    def _calling(self, logger: Logger) -> Iterator[None]:
        try:
            yield
        except OSError as err:
            if not checkpoints.is_disk_full(err):
                raise
            what = err.filename or f"the {logger.name or type(logger).__name__} log in {self.where}"
            raise rundir.disk_full_error(err, what, self.kept()) from None

    def start(self, start: RunStart, kept: Callable[[], str]) -> None:
        """``on_start`` on each; ``kept`` says what is safe after a failed write."""
        self.kept, self.where, self.started = kept, start.run_dir, True
        for logger in self.loggers:
            with self._calling(logger):
                logger.on_start(start)

    def step(self, step: int, epoch: int, values: dict[str, float]) -> None:
        """``on_step`` on each."""
        for logger in self.loggers:
            with self._calling(logger):
                logger.on_step(step, epoch, values)

    def epoch(self, epoch: int, step: int, record: dict) -> None:
        """``on_epoch`` on each."""
        for logger in self.loggers:
            with self._calling(logger):
                logger.on_epoch(epoch, step, record)

    def checkpoint(self, step: int) -> None:
        """``on_checkpoint`` on each."""
        for logger in self.loggers:
            with self._calling(logger):
                logger.on_checkpoint(step)

    def end(self, step: int, metrics: dict) -> None:
        """``on_end`` on each."""
        for logger in self.loggers:
            with self._calling(logger):
                logger.on_end(step, metrics)

    def close(self, failed: bool = False) -> None:
        """``close`` on each, once, if ``start`` was called (after a failure, their own
        errors are not raised)."""
        if self.closed or not self.started:
            return
        self.closed = True
        error: BaseException | None = None
        for logger in self.loggers:  # every one is closed, even after another failed to
            try:
                with self._calling(logger):
                    logger.close()
            except Exception as err:  # noqa: BLE001  (raised below, unless the run already failed)
                error = error or err
        if error is not None and not failed:
            raise error


def make_loggers(names: Sequence[str], callbacks: Sequence[Logger] = ()) -> Loggers:
    """The loggers ``train.loggers`` names (each built without arguments), then
    ``callbacks`` (Logger instances, e.g. from ``fit(..., callbacks=...)``).

    Raises:
        ConfigError: an unknown or unloadable name, the tensorboard package missing for
            ``tensorboard``, or a callback that is not a ``Logger``.
    """
    for callback in callbacks:
        if not isinstance(callback, Logger):
            raise ConfigError(f"callbacks: {callback!r} is not a convkit.train.loggers.Logger "
                              f"(subclass it and override on_step, on_epoch, ...)")
    return Loggers([logger_class(name)() for name in names] + list(callbacks))
