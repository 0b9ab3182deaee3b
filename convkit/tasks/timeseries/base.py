"""What the time-series detection and classification tasks share: the class attributes the
CLI and checkpoints read (one name, one config), the choice between the two by
``task.mode``, and the input they declare: series ``[N, C, L]`` whose time axis may take
any length (every model they build is convolutional in time and pools or predicts per
step, so export keeps the time axis dynamic)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, ClassVar

from torch.utils.data import Dataset

from convkit.tasks.timeseries.config import TimeSeriesRunConfig, resolve_mode
from convkit.train.task import Data

if TYPE_CHECKING:
    from convkit.train.task import Task

TIME_AXES: dict[int, str] = {2: "time"}
"""The dynamic axes of a batch of series ``[N, C, L]`` besides the batch axis."""


def series_data(train: Dataset | None, val: Dataset | None, test: Dataset | None, *, channels: int,
                length: int | None, info: dict, label_names: list[str] | None = None,
                monitor: tuple[str, str] | None = None) -> Data:
    """The ``Data`` of series ``[N, channels, L]``: a 1D grid with a dynamic time axis
    (``length``: the example length export traces with; None when unknown)."""
    return Data(train, val, test, label_names=label_names, input_kind="grid", spatial_dims=1,
                in_channels=int(channels), input_shape=None if length is None else (int(channels), int(length)),
                dynamic_axes=dict(TIME_AXES), monitor=monitor[0] if monitor else None,
                monitor_mode=monitor[1] if monitor else None, info=info)


class TimeSeriesFamily:
    """Class attributes of both time-series tasks (mixed in before ``Task``) and
    ``for_config``, which returns the detection task for ``task.mode = "anomaly"`` and the
    classification task for ``"classify"`` (``self`` when it already is that task)."""

    name: ClassVar[str] = "timeseries"
    config_class: ClassVar[type] = TimeSeriesRunConfig
    default_model: ClassVar[str] = "tcn"  # the classification task's is fcn
    command_aliases: ClassVar[dict[str, str]] = {"detect": "predict"}
    profiles: ClassVar[dict[str, list[str]]] = {
        "default": [],
        # about 5 s on one CPU thread in either mode (add task.mode=classify for classification)
        "smoke": ["train.epochs=2", "data.length=6400", "data.channels=2", "task.context=16", "task.window=64",
                  "task.stride=32", "task.smooth=4", "model.options.channels=8", "task.baseline_max_train=2000",
                  "task.min_steps=20"],
    }
    data_formats: ClassVar[str] = (
        "anomaly mode: a CSV with a header (numeric columns are channels, optional 'timestamp', optional "
        "'label' or 'is_anomaly' 0/1 per row; missing cells interpolated); a UCR anomaly archive file "
        "NNN_UCR_Anomaly_<name>_<train end>_<begin>_<end>.txt or a folder of them; a NAB root (data/ and "
        "labels/combined_windows.json) or one of its data files; a folder of CSVs. classify mode "
        "(chosen by task.mode=auto for these): a folder with <Problem>_TRAIN.ts and <Problem>_TEST.ts (or "
        ".tsv), or one file of such a pair (the official split), or one .ts/.tsv file alone (stratified "
        "80/10/10); multivariate and unequal-length series (zero-padded, never truncated).")

    def input_spec(self, cfg: TimeSeriesRunConfig) -> Data:
        """The input of either mode from the config, without generating the embedded data:
        anomaly mode, windows ``[N, data.channels, task.window]`` of the sensor series;
        classify mode, the embedded waveforms ``[N, 1, L]`` (``make_shape_series``' length)
        and their classes. A ``data.path`` is read (``build_data``)."""
        if cfg.data.path:
            data = self.build_data(cfg)
            data.train = data.val = data.test = None
            return data
        if cfg.task.mode == "classify":
            import inspect

            from convkit.tasks.timeseries.classify import SHAPES, make_shape_series

            length = inspect.signature(make_shape_series).parameters["length"].default
            return series_data(None, None, None, channels=1, length=length, label_names=list(SHAPES),
                               info={"mode": "classify", "source": "embedded shapes", "name": "shapes"})
        return series_data(None, None, None, channels=cfg.data.channels, length=cfg.task.window,
                           info={"mode": "anomaly", "objective": cfg.task.objective,
                                 "source": "embedded sensor series"})

    def for_config(self, cfg: TimeSeriesRunConfig) -> "Task":
        """The detection or the classification task, by ``cfg.task.mode`` (``auto``
        settled from ``data.path`` first, in place, with a log line: see
        :func:`~convkit.tasks.timeseries.config.resolve_mode`)."""
        from convkit.tasks.timeseries.classification import SeriesClassificationTask
        from convkit.tasks.timeseries.detection import SeriesDetectionTask

        for line in resolve_mode(cfg):
            print(line, file=sys.stderr, flush=True)
        chosen = SeriesClassificationTask if cfg.task.mode == "classify" else SeriesDetectionTask
        return self if type(self) is chosen else chosen()
