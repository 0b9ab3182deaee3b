"""The audio task's own plot: example log-mel spectrograms with true and predicted labels."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from convkit.nn import LogMelSpectrogram
from convkit.train.plots import pyplot


def plot_examples(path: str | Path, test: TensorDataset, collected: dict[str, Tensor],
                  label_names: list[str], logmel: LogMelSpectrogram, count: int = 8) -> None:
    """Save a grid of ``count`` test clips' log-mel spectrograms (one per class first),
    titled with the true label and the prediction (red when wrong)."""
    waves, labels = test.tensors
    predicted = collected["logits"].argmax(1)
    picks: list[int] = []
    for c in range(len(label_names)):  # one example per class, then the first mistakes
        hits = torch.nonzero(labels == c).flatten()
        if len(hits):
            picks.append(int(hits[0]))
    wrong = torch.nonzero(predicted != labels).flatten().tolist()
    picks = (wrong[: count // 2] + [p for p in picks if p not in wrong])[:count]
    with torch.no_grad():
        specs = logmel(waves[picks])[:, 0].numpy()
    cols = 4
    rows = max(1, (len(picks) + cols - 1) // cols)
    plt = pyplot()
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i, spec in zip(axes.flat, picks, specs):
        ax.imshow(spec, origin="lower", aspect="auto", cmap="magma")
        true, pred = label_names[int(labels[i])], label_names[int(predicted[i])]
        ax.set_title(f"true {true}\npred {pred}", fontsize=9, color="black" if true == pred else "red")
    fig.suptitle("Test log-mel spectrograms (mel bins × frames)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
