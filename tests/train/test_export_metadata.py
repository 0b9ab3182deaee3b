"""Exported models carry what is needed to use them without convkit: label names, the
input spec and the task's preprocessing (for text: the vocabulary and the tokenizer's
settings), as ONNX ``metadata_props`` and a sidecar JSON (TorchScript: ``_extra_files``
and the sidecar). The scoring part of the text test imports nothing from convkit."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from convkit.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def cli(task, capsys, *argv: str) -> tuple[int, list[dict], str]:
    code = main(task, list(argv))
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines() if line.startswith("{")], err


# ---- a stand-alone client: onnxruntime, json, re and numpy only


def tokenize_as_exported(text: str, pre: dict) -> list[str]:
    """The tokenizer the metadata describes, written from the metadata alone."""
    if pre["tokenizer"] == "kim":
        rules = pre["kim"]
        text = re.sub(rules["remove_regex"], " ", text)
        for suffix in rules["split_off_suffixes"]:
            text = text.replace(suffix, " " + suffix)
        for mark in rules["split_off_marks"]:
            text = text.replace(mark, f" {mark} ")
        return (text.lower() if pre["lowercase"] else text).split()
    if pre["tokenizer"] == "whitespace":
        return text.split()
    return list(" ".join(text.lower().split()))


def label_with_onnx_alone(path: Path, sentences: list[str]) -> list[tuple[str, dict[str, float]]]:
    """``(label, probabilities)`` per sentence, from the ONNX file and its metadata."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = {k: json.loads(v) for k, v in session.get_modelmeta().custom_metadata_map.items()}
    pre, names = meta["preprocessing"], meta["label_names"]
    index = {token: i for i, token in enumerate(pre["vocab"])}
    labels = []
    for sentence in sentences:
        ids = [index.get(t, pre["unk_id"]) for t in tokenize_as_exported(sentence, pre)][:pre["max_length"]]
        tokens = np.full((1, max(1, len(ids))), pre["pad_id"], dtype=meta["input"]["dtype"])
        tokens[0, :len(ids)] = ids
        (logits,) = session.run([meta["output"]["name"]], {meta["input"]["name"]: tokens})
        probs = np.exp(logits[0] - logits[0].max())
        probs /= probs.sum()
        labels.append((names[int(probs.argmax())], dict(zip(names, probs.tolist()))))
    return labels


def test_an_exported_text_model_is_usable_from_its_metadata_alone(capsys, tmp_path):
    pytest.importorskip("onnxruntime")
    from convkit.tasks.text.task import TASK

    code, rows, err = cli(TASK, capsys, "train", "--out", str(tmp_path), "--epochs", "2", "--set",
                          "data.n_sentences=300", "data.max_length=12", "model.options.embed_dim=16",
                          "model.options.filters=8", "train.baselines=false")
    assert code == 0, err
    best = str(Path(rows[-1]["run_dir"]) / "best.pt")
    onnx_path = tmp_path / "export" / "text.onnx"
    code, rows, err = cli(TASK, capsys, "export", "--checkpoint", best, "--format", "onnx", "--output", str(onnx_path))
    assert code == 0, err
    sidecar = Path(rows[0]["metadata"])
    assert sidecar == Path(f"{onnx_path}.json") and sidecar.is_file()

    sentences = ["The acting isn't really bad, but the plot was dull!", "a gripping (and funny) film.",
                 "Honestly, THE SCORE was very good", "zzz qqq", "the film was " + "very " * 20 + "bad"]
    code, predicted, err = cli(TASK, capsys, "predict", "--checkpoint", best, *sentences)
    assert code == 0, err
    for (label, probs), row in zip(label_with_onnx_alone(onnx_path, sentences), predicted):
        assert label == row["label"]
        assert probs == pytest.approx(row["probabilities"], abs=1e-4)  # the same tokens went in

    import onnx

    meta = {p.key: json.loads(p.value) for p in onnx.load(str(onnx_path)).metadata_props}
    assert meta == json.loads(sidecar.read_text())
    pre = meta["preprocessing"]
    assert (pre["tokenizer"], pre["lowercase"], pre["max_length"], pre["pad_id"], pre["unk_id"]) == \
        ("kim", True, 12, 0, 1)
    assert pre["vocab"][:2] == ["<pad>", "<unk>"] and meta["label_names"] == ["negative", "positive"]
    assert meta["task"] == "text" and meta["model"] == "textcnn"
    assert meta["input"] == {"name": "input", "kind": "tokens", "shape": ["batch", "length"], "dtype": "int64",
                             "dynamic_axes": {"0": "batch", "1": "length"}}
    assert meta["output"]["shape"] == ["batch", 2]

    script = tmp_path / "text.pt"
    code, rows, err = cli(TASK, capsys, "export", "--checkpoint", best, "--format", "torchscript",
                          "--output", str(script))
    assert code == 0, err
    extra = {"convkit.json": ""}
    torch.jit.load(str(script), _extra_files=extra)
    assert json.loads(extra["convkit.json"]) == json.loads(Path(f"{script}.json").read_text()) == \
        {**meta, "format": "torchscript"}


def test_an_exported_image_model_carries_its_classes_input_and_preprocessing(capsys, tmp_path):
    pytest.importorskip("onnxruntime")
    from convkit.tasks.image.task import TASK

    code, rows, err = cli(TASK, capsys, "train", "--out", str(tmp_path), "--epochs", "1", "--set",
                          "train.baselines=false")
    assert code == 0, err
    out = tmp_path / "digits.onnx"
    code, rows, err = cli(TASK, capsys, "export", "--checkpoint", str(Path(rows[-1]["run_dir"]) / "best.pt"),
                          "--format", "onnx", "--output", str(out))
    assert code == 0, err
    import onnxruntime

    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    meta = {k: json.loads(v) for k, v in session.get_modelmeta().custom_metadata_map.items()}
    assert meta["label_names"] == [str(d) for d in range(10)] and meta["task"] == "image"
    assert meta["input"]["shape"] == ["batch", 1, 32, 32] and meta["input"]["dtype"] == "float32"
    pre = meta["preprocessing"]
    assert (pre["channels"], pre["size"], pre["scale"], pre["resize"]) == ("grayscale", [32, 32], [0.0, 1.0],
                                                                           "bilinear")
