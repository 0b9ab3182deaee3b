"""Scoring a live series one step or chunk at a time (:class:`StreamingDetector`), with the
scores an offline pass over the whole series gives."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from convkit.errors import ConfigError
from convkit.models.tcn import TCNForecaster, TCNStream
from convkit.tasks.timeseries.calibration import Calibration, errors_to_scores
from convkit.tasks.timeseries.scores import feature_bank, nearest_distances
from convkit.tasks.timeseries.series import NOVELTY_REF_STEPS


class StreamingDetector:
    """Scores a live series one step or chunk at a time with a causal forecaster.

    Holds the forecaster's cached state (:class:`~convkit.models.tcn.TCNStream`), its last
    ``H`` predictions and the last ``smooth - 1`` combined scores, so ``update`` returns for
    each new step exactly the score an offline pass over the whole series gives it
    (:func:`~convkit.tasks.timeseries.scores.series_errors` with ``warmup = receptive field
    + H - 1``, then :func:`~convkit.tasks.timeseries.calibration.errors_to_scores`): the
    warm-up steps score 0.

    Args:
        model: a trained :class:`~convkit.models.tcn.TCNForecaster`.
        mean, std: ``[C]`` input normalisation.
        calibration: centre/scale of the errors and the threshold.
        combine, smooth: as in :func:`~convkit.tasks.timeseries.calibration.errors_to_scores`.
        reference: the series' training part ``[R, C]`` (raw units) when the calibration
            adds the novelty (``task.novelty``): its memory bank, as
            :func:`~convkit.tasks.timeseries.scores.series_novelty` builds it from the same
            steps, so the streamed novelty equals the offline one.
    """

    def __init__(self, model: TCNForecaster, mean: np.ndarray, std: np.ndarray, calibration: Calibration,
                 combine: str = "mean", smooth: int = 1, reference: np.ndarray | None = None) -> None:
        self.stream = TCNStream(model)
        self.horizon = model.horizon
        self.warmup = model.receptive_field + model.horizon - 1
        self.mean, self.std, self.calibration = np.asarray(mean), np.asarray(std), calibration
        self.combine, self.smooth = combine, int(smooth)
        self.device = next(model.parameters()).device
        self.bank: Tensor | None = None
        if calibration.novelty == "series":
            raise ConfigError("this calibration's novelty compares each step with the whole series "
                              "(task.novelty=series, offline): stream a run trained with task.novelty=train or none")
        if calibration.novelty == "past" or calibration.likelihood is not None:
            raise ConfigError("this calibration's scores are online anomaly likelihoods or a novelty against every "
                              "earlier step (NAB's protocol: task.likelihood, task.novelty=past), which streaming does "
                              "not compute yet: stream a run trained with task.likelihood=false and task.novelty=train "
                              "or none")
        if calibration.novelty:
            if reference is None:
                raise ConfigError("this calibration adds the training part's novelty (task.novelty=train): pass "
                                  "reference=, the series' training part [R, C] in raw units, the memory bank's source")
            ref = np.asarray(reference, dtype=np.float64)
            ref = ref[:, None] if ref.ndim == 1 else ref
            ref = ref[max(0, len(ref) - NOVELTY_REF_STEPS):]  # as series_novelty: the last steps of a long part
            if len(ref) < model.receptive_field:
                raise ConfigError(f"reference: {len(ref)} steps, fewer than the model's receptive field "
                                  f"({model.receptive_field})")
            x = torch.from_numpy(((ref - self.mean) / self.std).T.astype(np.float32)).to(self.device)
            with torch.no_grad():
                self.bank = feature_bank(model.eval(), x, x.shape[1])
        self.reset()

    def reset(self) -> None:
        """Start a new series."""
        self.stream.reset()
        self.seen = 0
        self.predictions: Tensor | None = None  # [C, H, H]: the last H steps' predictions
        self.recent = np.zeros(0)  # the last smooth - 1 combined scores

    def update(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score the next steps ``values [l, C]`` (raw units). Returns ``(scores [l],
        flags [l])`` with flags 1 where ``score >= threshold``."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 1:
            values = values[None, :]
        x = torch.from_numpy(((values - self.mean) / self.std).T.astype(np.float32)).to(self.device)  # [C, l]
        pred = self.stream(x[None])[0]  # [C, H, l]
        h, length = self.horizon, x.shape[1]
        past = self.predictions if self.predictions is not None else pred.new_full((x.shape[0], h, h), float("nan"))
        allpred = torch.cat([past, pred], dim=2)  # predictions made at steps seen - H .. seen + l - 1
        err = x.new_zeros(x.shape)
        for k in range(h):  # step s uses the prediction k made at s - 1 - k: column (s - seen) + H - 1 - k
            err += (x - allpred[:, k, h - 1 - k:h - 1 - k + length]).abs()
        err = (err / h).T.cpu().double().numpy()  # [l, C]
        steps = self.seen + np.arange(length)
        err[steps < self.warmup] = np.nan
        if self.bank is not None:  # the novelty column: no full receptive field, no novelty (series_novelty)
            novelty = nearest_distances(self.stream.features[0].T, self.bank).cpu().numpy()
            novelty[steps < self.stream.model.receptive_field - 1] = np.nan
            err = np.concatenate([err, novelty[:, None]], axis=1)
        self.predictions = allpred[:, :, -h:]
        self.seen += length
        cal = self.calibration
        combined = errors_to_scores(err, cal.centre, cal.scale, self.combine, 1)
        # the causal moving average, continued across calls: the window's start is the
        # stream's start or smooth - 1 steps back, as in an offline moving_average
        window = np.concatenate([self.recent, combined])
        csum = np.concatenate([[0.0], np.cumsum(window)])
        pos = len(self.recent) + np.arange(length)
        lo = np.maximum(pos + 1 - self.smooth, 0)
        scores = (csum[pos + 1] - csum[lo]) / (pos + 1 - lo)
        self.recent = window[max(len(window) - (self.smooth - 1), 0):] if self.smooth > 1 else np.zeros(0)
        return scores, (scores >= cal.threshold).astype(np.int64)
