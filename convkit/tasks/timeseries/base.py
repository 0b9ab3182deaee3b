"""What the time-series tasks share (the family in :mod:`~convkit.tasks.timeseries.task`, the
detection and the classification task): the class attributes the CLI and checkpoints read
(one name, the ``detect`` alias, the profiles, the data formats), the check that a config
is a mode task's own, and the input they declare: series ``[N, C, L]`` whose time axis may
take any length (every model they build is convolutional in time and pools or predicts per
step, so export keeps the time axis dynamic)."""

from __future__ import annotations

from typing import Any, ClassVar

from torch.utils.data import Dataset

from convkit.errors import ConfigError
from convkit.tasks.timeseries.config import TimeSeriesRunConfig, chosen_mode
from convkit.train.task import Data, Task

TIME_AXES: dict[int, str] = {2: "time"}
"""The dynamic axes of a batch of series ``[N, C, L]`` besides the batch axis."""


def series_data(train: Dataset | None, val: Dataset | None, test: Dataset | None, *, channels: int,
                length: int | None, info: Any, label_names: list[str] | None = None,
                monitor: tuple[str, str] | None = None) -> Data:
    """The ``Data`` of series ``[N, channels, L]``: a 1D grid with a dynamic time axis
    (``length``: the example length export traces with; None when unknown; ``info``: the
    task's record, an instance of its ``info_class``)."""
    return Data(train, val, test, label_names=label_names, input_kind="grid", spatial_dims=1,
                in_channels=int(channels), input_shape=None if length is None else (int(channels), int(length)),
                dynamic_axes=dict(TIME_AXES), monitor=monitor[0] if monitor else None,
                monitor_mode=monitor[1] if monitor else None, info=info)


class TimeSeriesBase(Task):
    """The class attributes of every time-series task, and ``for_config`` of a mode task:
    ``self`` for a config of its ``mode`` (the family picks the mode; a mode task refuses
    another mode's config rather than run it)."""

    name: ClassVar[str] = "timeseries"
    config_class: ClassVar[type] = TimeSeriesRunConfig
    mode: ClassVar[str] = ""
    """The ``task.mode`` the task runs (``anomaly``, ``classify``; empty: the family, which picks one)."""
    command_aliases: ClassVar[dict[str, str]] = {"detect": "predict"}
    profiles: ClassVar[dict[str, list[str]]] = {
        "default": [],
        # tiny and fast in either mode (add task.mode=classify and model.name=fcn for classification:
        # its width option is a deep model's; the ROCKET family has no width)
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
        "80/10/10); multivariate and unequal-length series (zero-padded, never truncated; the models that take "
        "lengths, the default minirocket among them, compute each series over its own steps).")

    def for_config(self, cfg: TimeSeriesRunConfig) -> Task:
        """``self`` when ``cfg`` runs this task's mode
        (:func:`~convkit.tasks.timeseries.config.chosen_mode`); a ConfigError otherwise."""
        mode, _ = chosen_mode(cfg)
        if mode != self.mode:
            raise ConfigError(f"task.mode={mode} is not run by {type(self).__name__} ({self.mode}); "
                              "run it through the time-series task (convkit.tasks.timeseries.task.TASK)")
        return self
