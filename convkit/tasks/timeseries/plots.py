"""The anomaly plot: the series, its anomaly score with the threshold, labelled and flagged regions."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convkit.tasks.timeseries.metrics import label_segments
from convkit.train.plots import pyplot

MAX_CHANNELS = 8
"""At most this many channels are drawn (the first ones)."""


def plot_anomalies(path: str | Path, values: np.ndarray, scores: np.ndarray, threshold: float,
                   labels: np.ndarray | None = None, steps: np.ndarray | None = None,
                   channel_names: list[str] | None = None, title: str = "",
                   marks: dict[str, int] | None = None) -> None:
    """Write a PNG: top, each channel of ``values [T, C]`` (z-normalised, stacked), with
    labelled anomalies (``labels [T]``) shaded red and flagged steps (``score >= threshold``)
    shaded orange; bottom, ``scores [T]`` and the threshold. ``steps [T]`` is the x axis
    (default ``0..T-1``); ``marks`` draws a labelled vertical line at each given step
    (e.g. where the test part starts)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    scores = np.asarray(scores, dtype=np.float64)
    x = np.arange(len(scores)) if steps is None else np.asarray(steps)
    channels = min(values.shape[1], MAX_CHANNELS)
    names = channel_names or [f"channel {c}" for c in range(values.shape[1])]
    std = values.std(axis=0)
    z = (values - values.mean(axis=0)) / np.where(std > 0, std, 1.0)

    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(14, 6), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    for c in range(channels):
        top.plot(x, z[:, c] - 5 * c, lw=0.6, label=names[c])
    for seg_labels, colour, name in ((labels, "red", "labelled"),
                                     ((scores >= threshold).astype(np.int64), "orange", "flagged")):
        if seg_labels is None:
            continue
        spans = [(x[s], x[min(e, len(x) - 1)] - x[s]) for s, e in label_segments(seg_labels)]
        if not spans:
            continue
        for ax in (top, bottom):  # one artist for all segments (hundreds of axvspans take seconds)
            ax.broken_barh(spans, (0, 1), transform=ax.get_xaxis_transform(), color=colour,
                           alpha=0.25 if name == "labelled" else 0.35, lw=0, label=name if ax is top else None)
    for name, step in (marks or {}).items():
        for ax in (top, bottom):
            ax.axvline(step, color="k", lw=1.0, ls=":", label=name if ax is top else None)
    top.set(ylabel="value (z, offset)", title=title or "anomaly detection")
    top.set_yticks([])
    top.legend(loc="upper right", fontsize=7, ncol=min(channels + 2, 6))
    bottom.plot(x, scores, lw=0.7, color="C0", label="score")
    bottom.axhline(threshold, color="k", ls="--", lw=0.8, label=f"threshold {threshold:.3g}")
    bottom.set(xlabel="step", ylabel="anomaly score")
    bottom.legend(loc="upper right", fontsize=7)
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
