"""Shift robustness: test accuracy against pixel shift for a CNN and a parameter-matched MLP.

The seed idea made visible: weight sharing makes a CNN's features move with the image,
while an MLP's weights are tied to pixel positions, so shifting the test images by a
few pixels should cost the MLP more accuracy. Both are trained without shift
augmentation, and the images are first placed on a blank canvas with a margin of
``max_shift`` pixels, so a shift moves the whole object instead of cropping it: the
difference is the architecture's alone.

LeNet-5's large receptive field makes it only moderately shift-robust; a small ResNet-18
(``widths=[8, 16, 32, 64]``, global average pooling) is more so, at many times the CPU
cost.

Reusable pieces (the benchmark suite calls them): ``accuracy_under_shift`` for any
predictor, ``torch_predictor``/``sklearn_predictor`` to make predictors, and
``plot_shift_robustness``. ``run_shift_experiment`` does the whole comparison; from the
command line::

    python -m convkit.tasks.image.shift [--max-shift 4] [train options: --epochs, --set, --out ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from convkit.tasks.image.augment import shift_images
from convkit.tasks.image.baselines import fit_pixel_mlp, flatten, sklearn_mlp_params, sklearn_predictor
from convkit.train.metrics import accuracy
from convkit.train.plots import plot_lines

Predictor = Callable[[Tensor], Tensor]
"""Maps images ``[N, C, H, W]`` to predicted labels ``[N]``."""


def shift_directions(shift: int) -> list[tuple[int, int]]:
    """The ``(dy, dx)`` offsets scored at one shift distance: none for 0, else the four
    axis directions (down, up, right, left)."""
    return [(0, 0)] if shift == 0 else [(shift, 0), (-shift, 0), (0, shift), (0, -shift)]


def accuracy_under_shift(predict: Predictor, images: Tensor, labels: Tensor, max_shift: int) -> list[float]:
    """Accuracy on ``images [N, C, H, W]`` shifted by 0..``max_shift`` pixels (zero fill),
    each distance averaged over the four axis directions. Returns ``max_shift + 1`` values."""
    return [sum(accuracy(predict(shift_images(images, dy, dx)), labels) for dy, dx in shift_directions(s))
            / len(shift_directions(s)) for s in range(max_shift + 1)]


def torch_predictor(model: nn.Module, batch_size: int = 512) -> Predictor:
    """A predictor from a classifier (eval mode, no gradients, on the model's device)."""
    device = next(model.parameters()).device

    def predict(images: Tensor) -> Tensor:
        model.eval()
        with torch.no_grad():
            return torch.cat([model(images[i:i + batch_size].to(device)).argmax(1).cpu()
                              for i in range(0, len(images), batch_size)])

    return predict


def plot_shift_robustness(shifts: list[int], curves: dict[str, list[float]], path: str | Path) -> None:
    """``shift_robustness.png``: test accuracy against shift, one line per model."""
    plot_lines(shifts, curves, path, "shift (pixels)", "test accuracy", "accuracy under translation", (0, 1.02))


def shift_robustness(predictors: dict[str, Predictor], test: TensorDataset, max_shift: int) -> dict:
    """``{"shifts": [0..k], "accuracy": {name: [acc at each shift]}}`` on an image test set."""
    images, labels = test.tensors
    return {"shifts": list(range(max_shift + 1)),
            "accuracy": {name: accuracy_under_shift(p, images, labels, max_shift) for name, p in predictors.items()}}


def place_on_canvas(dataset: TensorDataset, margin: int) -> TensorDataset:
    """Images ``[N, C, H, W]`` zero-padded to ``[N, C, H + 2 margin, W + 2 margin]``, centred."""
    images, labels = dataset.tensors
    return TensorDataset(torch.nn.functional.pad(images, (margin,) * 4), labels)


def run_shift_experiment(cfg, out_dir: str | Path = ".", max_shift: int = 4) -> dict:
    """Train the configured CNN (through the engine, shift augmentation off) and a
    parameter-matched MLP on the same images, placed on a canvas with a ``max_shift``
    margin; score both under shifts 0..``max_shift``.

    Writes ``shift_robustness.png`` and ``shift_robustness.json`` into the CNN's run
    folder. Returns ``{"shifts", "accuracy": {"cnn", "mlp"}, "params": {"cnn", "mlp"},
    "run_dir"}``.
    """
    from convkit.tasks.image.task import TASK
    from convkit.train.engine import count_params, fit

    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, augment=False, in_memory=True),
                              train=dataclasses.replace(cfg.train, baselines=False))
    data = TASK.build_data(cfg)
    c, h, w = data.input_shape
    data = dataclasses.replace(data, train=place_on_canvas(data.train, max_shift),
                               val=place_on_canvas(data.val, max_shift), test=place_on_canvas(data.test, max_shift),
                               input_shape=(c, h + 2 * max_shift, w + 2 * max_shift))
    result = fit(TASK, cfg, out_dir, data=data)
    params = count_params(result.model)
    x, y = flatten(data.train, cfg.task.baseline_max_train, cfg.train.seed)
    mlp = fit_pixel_mlp(x, y, params, len(data.label_names), cfg.train.seed)
    report = shift_robustness({"cnn": torch_predictor(result.model), "mlp": sklearn_predictor(mlp)},
                              data.test, max_shift)
    report["params"] = {"cnn": params, "mlp": sklearn_mlp_params(mlp)}
    if result.run_dir is not None:
        model = cfg.model.name or TASK.default_model
        plot_shift_robustness(report["shifts"], {f"CNN ({model}, {params:,} params)": report["accuracy"]["cnn"],
                                                 f"MLP ({report['params']['mlp']:,} params)": report["accuracy"]["mlp"]},
                              result.run_dir / "shift_robustness.png")
        (result.run_dir / "shift_robustness.json").write_text(json.dumps(report) + "\n")
        report["run_dir"] = str(result.run_dir)
    return report


def main(argv: list[str] | None = None) -> int:
    """``python -m convkit.tasks.image.shift``: run the comparison, print the report as JSON."""
    from convkit.cli import add_train_options, config_from_args, guarded
    from convkit.tasks.image.task import TASK

    parser = argparse.ArgumentParser(prog="python -m convkit.tasks.image.shift",
                                     description="test accuracy against pixel shift: CNN vs parameter-matched MLP")
    parser.add_argument("--max-shift", type=int, default=4, metavar="K", help="largest shift in pixels (default 4)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    add_train_options(parser)
    args = parser.parse_args(argv)
    if args.max_shift < 0:
        parser.error("--max-shift must be >= 0")
    return guarded(lambda: print(json.dumps(run_shift_experiment(config_from_args(TASK, args), args.out,
                                                                 args.max_shift))), args.debug)


if __name__ == "__main__":
    raise SystemExit(main())
