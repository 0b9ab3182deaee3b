"""scikit-learn estimators for time series: the time-series task's models and protocol behind
``fit``/``predict``, so that they can be cloned, cross-validated, searched and put in a
``Pipeline``.

* :class:`SeriesClassifier` (``ClassifierMixin``): whole-series classification
  (``task.mode = "classify"``) on series ``[n, channels, length]``;
* :class:`SeriesAnomalyDetector` (``OutlierMixin``, PyOD's conventions): anomaly detection
  (``task.mode = "anomaly"``) on one series ``[n_steps, channels]``.

Each ``fit`` builds the task's ``Data`` from the arrays as the task builds it from a file
(:meth:`~convkit.tasks.timeseries.classification.SeriesClassificationTask.splits_data`,
:meth:`~convkit.tasks.timeseries.detection.SeriesDetectionTask.series_run_data`) and trains
through the one engine (:func:`convkit.train.engine.fit`), so the same data, settings and
seed give the results of ``python -m convkit.tasks.timeseries train``: after ``fit`` on the
series of a ``<P>_TRAIN.ts``, the classifier's weights are those of ``train --data <folder
of P_TRAIN.ts and P_TEST.ts>`` and its ``predict`` on the series of ``<P>_TEST.ts`` is the
CLI's test prediction (when ``@classLabel`` lists the classes sorted, as ``classes_`` does,
and no TEST series is longer than the longest TRAIN one); after ``fit`` on a series, the
detector's weights are those of ``train --data <CSV of it>`` and its ``decision_function``
and ``predict`` on a series are the ``score`` and ``flag`` columns ``detect`` writes for a
CSV of it.

Example::

    import numpy as np
    from sklearn.model_selection import cross_val_score
    from convkit.tasks.timeseries.estimators import SeriesClassifier

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 40)
    X = np.sin(np.linspace(0, 6, 32) * (1 + y[:, None]))[:, None, :] + 0.3 * rng.normal(size=(40, 1, 32))
    print(cross_val_score(SeriesClassifier(epochs=2, min_steps=20, threads=1), X, y, cv=2))

Parameters are the run config's keys: ``None`` keeps the task's default (the CLI's), so a
default changed in the task is followed here; ``settings`` sets any other key, as ``--set``
does (``{"train.schedule": "none", "model.options.dropout": 0.1}``; a named parameter
that is not None wins over it). They are stored as given; nothing is checked or built
before ``fit`` (scikit-learn's rule), where a bad key or value is one ``ConfigError`` line
(a ``ValueError``).

The run folder: ``out_dir=None`` (default) trains in a temporary folder that is removed
after ``fit`` (the trained model, the resolved config and the run's metrics stay on the
estimator: ``model_``, ``config_``, ``metrics_``); ``out_dir=DIR`` keeps the run folder
``DIR/runs/timeseries/<run>/`` (``run_dir_``): ``config.toml``, ``best.pt``, ``last.pt``,
``metrics.json`` and the plots, which the CLI's ``evaluate``/``predict``/``export`` read
(give the classifier's runs ``--data``: the series they trained on were in memory).

Repeatable results: ``fit`` seeds torch with ``seed`` and sets torch's CPU threads to
``threads`` (the engine's ``train.threads``; 0, the default: one per idle core); on the
CPU, results are bit-identical run to run, and equal to the CLI's, with the same thread
count (pin ``threads``), as floating-point sums depend on how they are split among threads.

This module imports scikit-learn when it is imported (the rest of the task package only
where a baseline is fitted): ``convkit.tasks.timeseries`` does not import it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, OutlierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_consistent_length, check_is_fitted, column_or_1d
from torch.utils.data import TensorDataset

from convkit.config import merge_dict
from convkit.tasks.timeseries.classification import series_znorm
from convkit.tasks.timeseries.config import TimeSeriesRunConfig
from convkit.tasks.timeseries.data import CSV_TRAIN_FRACTION, ClassificationData, pair_splits, series_from_values, \
    znormalise
from convkit.tasks.timeseries.task import TASK
from convkit.train.task import Data, Task, Trained, resolve_task_config

__all__ = ["SeriesAnomalyDetector", "SeriesClassifier"]

FLOATS = (np.float64, np.float32)
"""The dtypes input arrays are read as (others are converted to float64, then float32 as the readers store series)."""

SOURCE = "arrays (scikit-learn estimator)"
"""How a run's info names series handed to an estimator."""


# ----------------------------------------------------------------------------- shared parts


def _plain(value: Any) -> Any:
    """``value`` with NumPy scalars as Python ones (a parameter grid may hand ``np.int64``)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _put(values: dict, key: str, value: Any) -> None:
    """Set the dotted ``key`` of the nested dict ``values`` (a dict value merges key by key)."""
    *path, last = key.split(".")
    node = values
    for part in path:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ValueError(f"config key {key!r}: {part} is set to a value, not a section")
    if isinstance(value, dict) and isinstance(node.get(last), dict):
        node[last] = {**node[last], **value}
    else:
        node[last] = value


class _RunEstimator(BaseEstimator):
    """What both estimators share: the run config from their parameters, the training run
    and its log. Subclasses name their mode and their parameters' config keys."""

    _mode = ""
    _keys: dict[str, str] = {}
    """Parameter name -> the config key it sets (a parameter that is None keeps the task's default)."""

    def _config(self) -> tuple[Task, TimeSeriesRunConfig]:
        """The task that runs and the run config: the mode's defaults, ``settings``, then the
        named parameters that are not None (:func:`~convkit.train.task.resolve_task_config`,
        as the CLI resolves its flags and ``--set``)."""
        values: dict = {}
        for key, value in dict(self.settings or {}).items():
            _put(values, str(key), _plain(value))
        for name, key in self._keys.items():
            value = getattr(self, name)
            if value is not None:
                _put(values, key, _plain(value))
        _put(values, "task.mode", self._mode)
        _put(values, "train.baselines", bool(self.baselines))
        merge_dict(TimeSeriesRunConfig(), values, f"{type(self).__name__} parameters")  # names a bad key here
        return resolve_task_config(TASK, base=values)

    @contextlib.contextmanager
    def _log(self) -> Iterator[None]:
        """The run's log lines on stderr when ``verbose``, else kept from the screen."""
        if self.verbose:
            yield
            return
        with contextlib.redirect_stderr(io.StringIO()):
            yield

    def _train(self, task: Task, cfg: TimeSeriesRunConfig, data: Data) -> Any:
        """Train ``task`` on ``data`` through the engine, in ``out_dir`` or a temporary
        folder removed after; sets ``run_dir_``. Returns the engine's ``FitResult``."""
        from convkit.train.engine import fit

        if self.out_dir is not None:
            result = fit(task, cfg, out_dir=self.out_dir, data=data)
            self.run_dir_ = None if result.run_dir is None else str(result.run_dir)
            return result
        with tempfile.TemporaryDirectory(prefix="convkit-estimator-") as tmp:
            result = fit(task, cfg, data=data, run_dir=Path(tmp) / "run")
        self.run_dir_ = None
        return result

    def _keep(self, result: Any, cfg: TimeSeriesRunConfig, data: Data) -> None:
        """What the trained run leaves on the estimator: the model (eval mode), the resolved
        config, the data spec (``Data`` without datasets) and the run's metrics."""
        self.model_ = result.model.eval()
        self.config_ = cfg
        self.spec_ = dataclasses.replace(data, train=None, val=None, test=None)
        self.metrics_ = result.metrics
        self.task_state_ = result.task_state

    def _device(self) -> torch.device:
        return next(self.model_.parameters()).device

    def __getstate__(self) -> dict:
        """Pickled with the model's weights (``state_dict``, on the CPU) in place of the model:
        modules with parametrizations (the TCN's weight norm) do not pickle."""
        state = dict(super().__getstate__())  # a copy: object's is the instance's own __dict__
        if "model_" in state:
            state["model_"] = {name: value.detach().cpu() for name, value in self.model_.state_dict().items()}
        return state

    def __setstate__(self, state: dict) -> None:
        """Rebuild the model from the config and data spec and load the pickled weights (on the CPU)."""
        weights = state.get("model_")
        super().__setstate__(state)
        if isinstance(weights, dict):
            model = TASK.for_config(self.config_).build_model(self.config_, self.spec_)
            model.load_state_dict(weights)
            self.model_ = model.eval()


# ----------------------------------------------------------------------------- classification


def series_batch(X: Any, name: str = "X") -> tuple[np.ndarray, np.ndarray | None]:
    """Series for the classifier: ``X`` as float32 ``[n, C, L]`` (zero-padded after each
    series' end) and the lengths ``[n]`` (None when every series has ``L`` steps).

    ``X``: an array ``[n, C, L]``; ``[n, L]`` (univariate series, one row each, as
    scikit-learn's 2D input and aeon's); or a list of ``[C, L_i]`` (or ``[L_i]``) arrays of
    unequal lengths. Missing or infinite values, sparse, complex or 1D input are refused
    with a ``ValueError`` (or ``TypeError``), scikit-learn's messages."""
    if isinstance(X, (list, tuple)) and len({np.shape(x) for x in X}) > 1:
        items = []
        for i, x in enumerate(X):
            a = check_array(x, ensure_2d=False, dtype=FLOATS, input_name=f"{name}[{i}]")
            a = a[None, :] if a.ndim == 1 else a
            if a.ndim != 2:
                raise ValueError(f"{name}[{i}]: expected a series [channels, length] or [length]; "
                                 f"got shape {a.shape}")
            if a.shape[1] == 0:
                raise ValueError(f"{name}[{i}]: a series of 0 steps")
            if a.shape[0] != (items[0].shape[0] if items else a.shape[0]):
                raise ValueError(f"{name}[{i}]: {a.shape[0]} channels, but {name}[0] has {items[0].shape[0]}")
            items.append(a)
        lengths = np.array([a.shape[1] for a in items], dtype=np.int64)
        x = np.zeros((len(items), items[0].shape[0], int(lengths.max())), dtype=np.float32)
        for i, a in enumerate(items):
            x[i, :, : a.shape[1]] = a
        full = bool((lengths == x.shape[2]).all())
        return _finite32(x, name), None if full else lengths
    a = check_array(X, allow_nd=True, dtype=FLOATS, input_name=name)
    if a.ndim == 2:
        a = a[:, None, :]
    if a.ndim != 3:
        raise ValueError(f"{name}: expected series [n, channels, length] or [n, length]; got {a.ndim} dimensions")
    if a.shape[1] == 0 or a.shape[2] == 0:
        raise ValueError(f"{name}: series of shape {a.shape[1:]}; need at least one channel and one step")
    return _finite32(np.ascontiguousarray(a, dtype=np.float32), name), None


def _finite32(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` (float32), refusing a value beyond float32's range (as the series readers do)."""
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: a value beyond float32's range; series are stored as float32")
    return x


class SeriesClassifier(ClassifierMixin, _RunEstimator):
    """Whole-series classification with a 1D zoo model (the task's default model unless
    ``model`` names one), trained by the task's protocol: each series z-normalised over its
    own steps, unequal lengths zero-padded after z-normalisation, all of the training data
    trains and the checkpoint with the lowest training loss is kept (as for an official
    TRAIN/TEST pair: :func:`~convkit.tasks.timeseries.data.pair_splits`), the TSC papers'
    batch-size rule and ``task.min_steps`` floor on the training length.

    Input ``X``: ``[n, channels, length]``, ``[n, length]`` (univariate) or a list of
    ``[channels, length_i]`` arrays (unequal lengths). ``predict`` takes any length: series
    shorter than the longest seen in ``fit`` are zero-padded to it, as the CLI pads a TEST
    file to its TRAIN file's length; the number of channels must match ``fit``'s. ``y``:
    any labels; ``classes_`` is ``np.unique(y)``, the order of the model's outputs (the
    CLI's is the ``@classLabel`` order: list the classes sorted for identical runs).

    Parameters (None: the task's default; see the module docstring):
        model: ``model.name``, a 1D zoo model. model_options: ``model.options``.
        epochs, batch_size, lr, max_minutes: ``train.*``; min_steps: ``task.min_steps``.
        seed, device, threads: ``train.seed``, ``train.device``, ``train.threads``.
        znorm: ``data.znorm``. baselines: fit the run's baselines (``train.baselines``;
            default False: they do not change the model). settings: other config keys.
        out_dir: keep the run folder there (None: a temporary one). verbose: show the log.

    Attributes after ``fit``: ``classes_``, ``n_channels_``, ``length_`` (the padded
    training length), ``model_``, ``config_``, ``metrics_`` (the run's ``metrics.json``),
    ``run_dir_``.

    scikit-learn's estimator checks (``tests/tasks/test_timeseries_estimators.py``) pass
    but for these, skipped: ``check_n_features_in`` and
    ``check_n_features_in_after_fitting`` (a 2D ``X``'s columns are time steps, whose
    number ``predict`` does not fix: series of any length are classified, and
    ``n_features_in_`` is not set), ``check_classifiers_train`` (it asks ``predict`` to
    refuse ``X.T``, which is two series of other lengths, and for accuracy on tabular
    blobs whose rows, z-normalised as series, keep only their shape),
    ``check_fit2d_1feature`` (ten series of one step: the batch-size rule makes batches of
    one series, and batch normalisation needs more than one value per channel; the
    ``ValueError`` says so, not "1 feature").
    """

    _mode = "classify"
    _keys = {"model": "model.name", "model_options": "model.options", "epochs": "train.epochs",
            "min_steps": "task.min_steps", "batch_size": "train.batch_size", "lr": "train.lr",
            "max_minutes": "train.max_minutes", "seed": "train.seed", "device": "train.device",
            "threads": "train.threads", "znorm": "data.znorm"}

    def __init__(self, model: str | None = None, model_options: dict | None = None, epochs: int | None = None,
                 min_steps: int | None = None, batch_size: int | None = None, lr: float | None = None,
                 max_minutes: float | None = None, seed: int | None = None, device: str | None = None,
                 threads: int | None = None, znorm: bool | None = None, baselines: bool = False,
                 settings: dict | None = None, out_dir: str | None = None, verbose: bool = False) -> None:
        self.model = model
        self.model_options = model_options
        self.epochs = epochs
        self.min_steps = min_steps
        self.batch_size = batch_size
        self.lr = lr
        self.max_minutes = max_minutes
        self.seed = seed
        self.device = device
        self.threads = threads
        self.znorm = znorm
        self.baselines = baselines
        self.settings = settings
        self.out_dir = out_dir
        self.verbose = verbose

    def fit(self, X: Any, y: Any) -> "SeriesClassifier":
        """Train on series ``X`` (see the class docstring) with labels ``y [n]``; returns self.

        Raises:
            ValueError: bad input (scikit-learn's messages), fewer than two classes, or a
                bad parameter (a ``ConfigError`` naming the key).
        """
        x, lengths = series_batch(X)
        y = column_or_1d(y, warn=True)
        check_consistent_length(x, y)
        check_classification_targets(y)
        classes, index = np.unique(y, return_inverse=True)
        task, cfg = self._config()
        train = ClassificationData(x, index.astype(np.int64), [str(c) for c in classes], "series", lengths,
                                   source="X (SeriesClassifier.fit)")
        splits = pair_splits(train, train, series_znorm(cfg), cfg.train.seed, cfg.task.holdout)
        with self._log():
            data = task.splits_data(cfg, splits, SOURCE)
            result = self._train(task, cfg, data)
        self._keep(result, cfg, data)
        self.classes_ = classes
        self.n_channels_ = int(x.shape[1])
        self.length_ = int(x.shape[2])
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``[n, len(classes_)]`` (float64; columns in ``classes_``
        order) of series ``X``: the softmax of the model's logits from the task's evaluation
        pass (:func:`~convkit.train.inference.evaluate_split`, the CLI's test pass)."""
        from convkit.train.inference import evaluate_split

        check_is_fitted(self)
        x, lengths = series_batch(X)
        if x.shape[1] != self.n_channels_:
            raise ValueError(f"X has {x.shape[1]} channels, but {type(self).__name__} was fitted on series of "
                             f"{self.n_channels_}")
        if x.shape[2] < self.length_:  # as the CLI pads TEST to TRAIN's length
            lengths = lengths if lengths is not None else np.full(len(x), x.shape[2], dtype=np.int64)
            x = np.pad(x, ((0, 0), (0, 0), (0, self.length_ - x.shape[2])))
        x = znormalise(x, lengths) if series_znorm(self.config_) else x
        steps = lengths if lengths is not None else np.full(len(x), x.shape[2], dtype=np.int64)
        dataset = TensorDataset(torch.from_numpy(np.ascontiguousarray(x)), torch.zeros(len(x), dtype=torch.int64),
                                torch.from_numpy(np.asarray(steps, dtype=np.int64)))  # each series over its length
        task = TASK.for_config(self.config_)
        _, collected = evaluate_split(task, self.model_, dataset, self.spec_, self._device(), self.config_.train)
        return torch.softmax(collected["logits"].double(), dim=1).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """The class of each series of ``X`` (from ``classes_``): the most probable."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_tags__(self) -> Any:  # scikit-learn >= 1.6
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    def _more_tags(self) -> dict:  # scikit-learn < 1.6
        return {"X_types": ["3darray", "2darray"]}


# ----------------------------------------------------------------------------- anomaly detection


class SeriesAnomalyDetector(OutlierMixin, _RunEstimator):
    """Anomaly detection in one (multivariate) series with the task's TCN, by PyOD's
    conventions: ``X`` is ``[n_steps, channels]`` (rows are time steps in order, columns
    the channels, as PyOD's ``[n_samples, n_features]``); ``decision_function(X)`` is one
    score per step, higher = more anomalous; ``predict`` gives 0 (inlier) or 1 (outlier);
    after ``fit``: ``decision_scores_`` (the fitted series' scores), ``threshold_`` and
    ``labels_``.

    ``fit(X)`` follows the task's protocol for a CSV series: the first ``train_fraction``
    of the steps (the CSV default, 0.5, when None) train the forecaster (normal data),
    the validation part after them (``data.val_split``/``data.val_fraction``) scales the
    errors and sets the task's threshold, the rest is the run's test part; a constant
    column is dropped (and left out of ``decision_function``'s input too). Missing or
    infinite values are refused (interpolate first).

    ``decision_function(X)`` scores a series as ``detect`` does after a run on one series:
    with the run's normalisation and calibration, the novelty column by the run's
    ``task.novelty`` (for ``series``, against the rest of ``X`` itself). The first steps
    (no full receptive field) score 0; ``X`` needs at least the receptive field's steps.

    ``threshold_``: ``contamination=None`` (default): the task's calibrated threshold, and
    ``predict`` flags ``score >= threshold_`` (``detect``'s flags); a ``contamination`` in
    (0, 0.5]: PyOD's rule, the ``1 - contamination`` quantile of ``decision_scores_``, and
    ``predict`` flags ``score > threshold_``.

    Parameters (None: the task's default; see the module docstring): contamination;
    objective, context, window, stride, novelty, threshold (``task.*``: forecast or
    reconstruct, the receptive field's reach, the training windows, the novelty column, the
    threshold rule); train_fraction (``data.train_fraction``); model_options, epochs,
    batch_size, lr, seed, device, threads; baselines (default False); settings; out_dir;
    verbose.

    scikit-learn's estimator checks pass but for these, skipped:
    ``check_outliers_train`` and ``check_outliers_fit_predict`` (scikit-learn's outlier
    convention, predict -1/1 and a ``decision_function`` negative for outliers, where this
    detector follows PyOD's, 0/1 and higher = more anomalous),
    ``check_methods_subset_invariance`` and ``check_methods_sample_order_invariance``
    (rows are time steps: a step's score depends on the steps before it).
    """

    _mode = "anomaly"
    _keys = {"objective": "task.objective", "context": "task.context", "window": "task.window",
            "stride": "task.stride", "novelty": "task.novelty", "threshold": "task.threshold",
            "train_fraction": "data.train_fraction", "model_options": "model.options", "epochs": "train.epochs",
            "batch_size": "train.batch_size", "lr": "train.lr", "seed": "train.seed", "device": "train.device",
            "threads": "train.threads"}

    def __init__(self, contamination: float | None = None, objective: str | None = None,
                 context: int | None = None, window: int | None = None, stride: int | None = None,
                 novelty: str | None = None, threshold: str | None = None, train_fraction: float | None = None,
                 model_options: dict | None = None, epochs: int | None = None, batch_size: int | None = None,
                 lr: float | None = None, seed: int | None = None, device: str | None = None,
                 threads: int | None = None, baselines: bool = False, settings: dict | None = None,
                 out_dir: str | None = None, verbose: bool = False) -> None:
        self.contamination = contamination
        self.objective = objective
        self.context = context
        self.window = window
        self.stride = stride
        self.novelty = novelty
        self.threshold = threshold
        self.train_fraction = train_fraction
        self.model_options = model_options
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.seed = seed
        self.device = device
        self.threads = threads
        self.baselines = baselines
        self.settings = settings
        self.out_dir = out_dir
        self.verbose = verbose

    def fit(self, X: Any, y: Any = None) -> "SeriesAnomalyDetector":
        """Train on the series ``X [n_steps, channels]`` (``y`` is ignored: the training part
        is taken as normal); sets ``decision_scores_``, ``threshold_`` and ``labels_``.

        Raises:
            ValueError: bad input (scikit-learn's messages), a series too short for the
                model's reach, or a bad parameter (a ``ConfigError`` naming the key).
        """
        c = self.contamination
        if c is not None and not (isinstance(c, (int, float, np.number)) and 0 < float(c) <= 0.5):
            raise ValueError(f"contamination must be None (the task's threshold) or in (0, 0.5]; got {c!r}")
        values = check_array(X, dtype=FLOATS, ensure_min_samples=2, input_name="X")
        task, cfg = self._config()
        names = [str(i) for i in range(values.shape[1])]
        fraction = CSV_TRAIN_FRACTION if cfg.data.train_fraction is None else cfg.data.train_fraction
        series = series_from_values(values, names, fraction, "X", "X")
        with self._log():
            data = task.series_run_data(cfg, [series], ["X"], SOURCE)
            result = self._train(task, cfg, data)
        self._keep(result, cfg, data)
        self.n_features_in_ = int(values.shape[1])
        self.columns_ = np.array([int(n) for n in series.channel_names], dtype=np.int64)
        self.decision_scores_ = self.decision_function(values)
        if c is None:
            self.threshold_ = float(self.task_state_["calibration"]["threshold"])
        else:
            self.threshold_ = float(np.percentile(self.decision_scores_, 100 * (1 - float(c))))
        self.labels_ = self._flags(self.decision_scores_)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """The anomaly score of each step of the series ``X [n_steps, channels]`` (float64
        ``[n_steps]``, higher = more anomalous; see the class docstring)."""
        check_is_fitted(self)
        values = check_array(X, dtype=FLOATS, input_name="X")
        if values.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {values.shape[1]} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input.")
        cfg = self.config_
        fraction = CSV_TRAIN_FRACTION if cfg.data.train_fraction is None else cfg.data.train_fraction
        series = series_from_values(values[:, self.columns_], [str(i) for i in self.columns_], fraction, "X", "X",
                                    keep_constant=True)  # a stuck sensor is data to score
        task = TASK.for_config(cfg)
        item = task.detect_input(cfg, self.spec_, series, "X")
        trained = Trained(cfg, self.spec_, self.model_, self._device(), self.task_state_)
        scores, _, _ = task.score_input(trained, item)
        return np.asarray(scores, dtype=np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """0 (inlier) or 1 (outlier) for each step of ``X`` (int64 ``[n_steps]``)."""
        return self._flags(self.decision_function(X))

    def _flags(self, scores: np.ndarray) -> np.ndarray:
        flagged = scores >= self.threshold_ if self.contamination is None else scores > self.threshold_
        return flagged.astype(np.int64)
