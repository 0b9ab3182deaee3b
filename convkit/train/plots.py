"""Run plots: training curves and the confusion matrix (matplotlib, Agg backend, PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only; never a window), imported on
    first use so that importing the engine does not load matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history: list[dict], path: str | Path, monitor: str) -> None:
    """``curves.png``: train/val loss (left) and the validation ``monitor`` metric
    (right) per epoch, from ``metrics.jsonl`` records ``{"epoch", "train": {"loss"}, "val": {...}}``."""
    epochs = [r["epoch"] for r in history]
    plt = pyplot()
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [r["train"]["loss"] for r in history], marker="o", label="train")
    ax_loss.plot(epochs, [r["val"].get("loss", np.nan) for r in history], marker="o", label="val")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_loss.legend()
    ax_metric.plot(epochs, [r["val"].get(monitor, np.nan) for r in history], marker="o", color="C2")
    ax_metric.set(xlabel="epoch", ylabel=monitor, title=f"validation {monitor}")
    for ax in (ax_loss, ax_metric):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion_matrix(cm: np.ndarray, label_names: list[str] | None, path: str | Path) -> None:
    """``confusion_matrix.png``: counts ``[K, K]`` (row = true, column = predicted), with
    the counts written in the cells when K <= 30."""
    cm = np.asarray(cm)
    k = cm.shape[0]
    names = label_names if label_names is not None else [str(i) for i in range(k)]
    size = min(4 + 0.4 * k, 20)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    ticks = np.arange(k)
    ax.set_xticks(ticks, names, rotation=90 if k > 10 else 0)
    ax.set_yticks(ticks, names)
    ax.set(xlabel="predicted", ylabel="true", title="confusion matrix")
    if k <= 30:
        high = cm.max() / 2 if cm.size else 0
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if cm[i, j] > high else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_lines(x: list[float], curves: dict[str, list[float]], path: str | Path, xlabel: str, ylabel: str,
               title: str = "", ylim: tuple[float, float] | None = None) -> None:
    """A line plot of named curves over shared ``x`` values (one marker per point)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in curves.items():
        ax.plot(x, values, marker="o", label=name)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xticks(x)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
