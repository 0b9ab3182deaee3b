"""The text task end to end: train on the generated corpus (baselines beside it), then
predict / evaluate --data / export from the checkpoint alone; the four TextCNN variants
from a tiny vector file; bad input as one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from convkit.cli import main
from convkit.tasks.text.synthetic import make_sentiment_corpus
from convkit.tasks.text.task import TASK
from convkit.train.checkpoint import load_checkpoint
from convkit.train.inference import load_trained

TINY = ["--epochs", "2", "--set", "data.n_sentences=300", "model.options.embed_dim=16", "model.options.filters=8"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def run(capsys, *argv: str) -> tuple[int, list[dict], str]:
    code = main(TASK, list(argv))
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines() if line.startswith("{")], err


def train(capsys, tmp_path, *extra: str) -> Path:
    code, rows, err = run(capsys, "train", "--out", str(tmp_path), *TINY, *extra)
    assert code == 0, err
    return Path(rows[-1]["run_dir"])


def test_train_then_predict_evaluate_export_from_the_checkpoint_alone(capsys, tmp_path):
    run_dir = train(capsys, tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["task"] == "text" and metrics["model"] == "textcnn"
    assert set(metrics["baselines"]) >= {"linear", "mlp"}
    assert 0 <= metrics["baselines"]["linear"]["test"]["accuracy"] <= 1
    assert abs(metrics["baselines"]["mlp"]["params"] - metrics["params"]) < 0.2 * metrics["params"]

    state = load_checkpoint(run_dir / "best.pt", "text")
    info = state["data"]["info"]
    assert info["vocab"][:2] == ["<pad>", "<unk>"] and "but" in info["vocab"] and info["tokenizer"] == "kim"
    assert state["data"]["input_kind"] == "tokens" and state["data"]["dynamic_axes"] == [[1, "length"]]

    code, rows, err = run(capsys, "predict", "--checkpoint", str(run_dir / "best.pt"), "--device", "cpu",
                          "a gripping, funny film", "dull and lifeless", "zzz unseen words only")
    assert code == 0, err
    assert [r["input"] for r in rows] == ["a gripping, funny film", "dull and lifeless", "zzz unseen words only"]
    for r in rows:
        assert r["label"] in ("negative", "positive")
        assert r["probability"] == r["probabilities"][r["label"]] >= 0.5
        assert sum(r["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)

    held = tmp_path / "held.tsv"
    texts, labels = make_sentiment_corpus(40, seed=99)
    held.write_text("sentence\tlabel\n" + "".join(f"{t}\t{['negative', 'positive'][y]}\n"
                                                  for t, y in zip(texts, labels)))
    code, rows, err = run(capsys, "evaluate", "--checkpoint", str(run_dir / "best.pt"), "--data", str(held),
                          "--device", "cpu")
    assert code == 0, err
    assert sum(map(sum, rows[0]["confusion_matrix"])) == 40 and 0 <= rows[0]["accuracy"] <= 1

    onnx_path = tmp_path / "textcnn.onnx"
    code, rows, err = run(capsys, "export", "--checkpoint", str(run_dir / "best.pt"), "--format", "onnx",
                          "--output", str(onnx_path))
    assert code == 0, err
    assert rows[0]["dynamic_axes"] == {"0": "batch", "1": "length"} and rows[0]["max_abs_diff"] < 1e-4
    onnxruntime = pytest.importorskip("onnxruntime")
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    trained = load_trained(TASK, run_dir / "best.pt")
    for length in (1, 3, 57):
        tokens = torch.randint(2, len(info["vocab"]), (2, length))
        (got,) = session.run(None, {session.get_inputs()[0].name: tokens.numpy()})
        with torch.no_grad():
            np.testing.assert_allclose(got, trained.model(tokens).numpy(), atol=1e-4)


def test_textcnn_learns_what_bags_of_ngrams_cannot(capsys, tmp_path):
    """On the generated corpus (negation, contrast) a small TextCNN beats TF-IDF 1-2 gram
    logistic regression and the parameter-matched MLP by a wide margin."""
    code, rows, err = run(capsys, "train", "--out", str(tmp_path), "--epochs", "8", "--lr", "0.004", "--set",
                          "data.n_sentences=1600", "model.options.embed_dim=32", "model.options.filters=32",
                          "train.baselines=true")
    assert code == 0, err
    metrics = json.loads((Path(rows[-1]["run_dir"]) / "metrics.json").read_text())
    cnn = metrics["test"]["accuracy"]
    assert cnn >= 0.85
    assert cnn >= metrics["baselines"]["linear"]["test"]["accuracy"] + 0.15
    assert cnn >= metrics["baselines"]["mlp"]["test"]["accuracy"] + 0.15


def write_vectors(path: Path, dim: int = 16) -> Path:
    """A tiny GloVe file over the generated corpus' words (plus a word it never uses)."""
    texts, _ = make_sentiment_corpus(300, seed=0)
    words = sorted({w for t in texts for w in t.replace(",", " ").replace(".", " ").replace("!", " ").split()})
    rng = np.random.default_rng(0)
    lines = [f"{w} {' '.join(f'{v:.4f}' for v in rng.normal(0, 0.3, dim))}" for w in words + ["unusedword"]]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("variant", ["static", "non-static", "multichannel"])
def test_pretrained_variants_train_from_a_vector_file_and_checkpoints_do_not_need_it(capsys, tmp_path, variant):
    vectors = write_vectors(tmp_path / "vectors.txt")
    run_dir = train(capsys, tmp_path, "--set", f"model.options.variant={variant}", f"data.vectors={vectors}")
    captured_vocab = load_checkpoint(run_dir / "best.pt", "text")["data"]["info"]["vocab"]
    table = {line.split()[0]: np.array(line.split()[1:], dtype=np.float32)
             for line in vectors.read_text().splitlines()}
    word = "gripping" if "gripping" in captured_vocab else captured_vocab[5]
    vectors.unlink()  # loading must not need the file
    trained = load_trained(TASK, run_dir / "best.pt")
    model = trained.model
    i = captured_vocab.index(word)
    frozen = model.static_embedding if variant == "multichannel" else model.embedding
    same = np.allclose(frozen.weight[i].detach().numpy(), table[word], atol=1e-4)
    assert same == (variant != "non-static")
    if variant == "multichannel":
        assert not np.allclose(model.embedding.weight[i].detach().numpy(), table[word], atol=1e-4)
    code, rows, err = run(capsys, "predict", "--checkpoint", str(run_dir / "best.pt"), "not good")
    assert code == 0 and len(rows) == 1, err


def test_char_cnn_trains_on_characters(capsys, tmp_path):
    code, rows, err = run(capsys, "train", "--out", str(tmp_path), "--epochs", "1", "--model", "char_cnn", "--set",
                          "data.n_sentences=100", "model.options.channels=8", "model.options.hidden=16")
    assert code == 0, err
    run_dir = Path(rows[-1]["run_dir"])
    info = load_checkpoint(run_dir / "best.pt", "text")["data"]["info"]
    assert info["tokenizer"] == "char" and info["max_length"] == 500
    assert all(len(t) == 1 for t in info["vocab"][2:])


def one_line_error(capsys, *argv: str) -> str:
    code, _, err = run(capsys, *argv)
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


def test_bad_input_is_one_clear_line(capsys, tmp_path):
    out = ["--out", str(tmp_path), "--epochs", "1", "--set", "data.n_sentences=100", "train.baselines=false"]
    assert "needs pretrained vectors: set data.vectors" in one_line_error(
        capsys, "train", *out, "--set", "model.options.variant=static")
    assert "nowhere.vec: word-vector file not found" in one_line_error(
        capsys, "train", *out, "--set", "model.options.variant=static", f"data.vectors={tmp_path / 'nowhere.vec'}")
    wrong = write_vectors(tmp_path / "v.txt", dim=16)
    assert "v.txt: line 1 has 16-dimensional vectors; the model's embed_dim is 300" in one_line_error(
        capsys, "train", *out, "--set", "model.options.variant=static", f"data.vectors={wrong}")
    latin = tmp_path / "latin.tsv"
    latin.write_bytes("sentence\tlabel\nbon\t1\ncaf\xe9 noir\t0\n".encode("latin-1"))
    assert "latin.tsv: line 3 is not valid utf-8" in one_line_error(capsys, "train", *out, "--data", str(latin))
    single = tmp_path / "single.tsv"
    single.write_text("sentence\tlabel\n" + "good film\tpos\n" * 20)
    assert "only one class ('pos')" in one_line_error(capsys, "train", *out, "--data", str(single))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "empty.csv: empty file" in one_line_error(capsys, "train", *out, "--data", str(empty))


def test_cross_validation_runs_every_fold_and_reports_mean_and_std(capsys, tmp_path):
    texts, labels = make_sentiment_corpus(120, seed=1)
    data = tmp_path / "mr.tsv"
    data.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in zip(texts, labels)))
    code = main(TASK, ["train", "--data", str(data), "--out", str(tmp_path), "--epochs", "1", "--set",
                       "data.cv_folds=3", "model.options.embed_dim=8", "model.options.filters=4",
                       "train.baselines=false", "train.name=mr"])
    out, err = capsys.readouterr()
    assert code == 0, err
    base = tmp_path / "runs" / "text" / "mr-folds"
    summary = json.loads((base / "summary.json").read_text())
    assert json.loads(out.splitlines()[-1])["run_dir"] == str(base)
    accs = summary["test"]["accuracy"]["values"]
    assert summary["folds"] == ["fold0", "fold1", "fold2"] and len(accs) == 3
    assert summary["test"]["accuracy"]["mean"] == pytest.approx(np.mean(accs))
    assert summary["test"]["accuracy"]["std"] == pytest.approx(np.std(accs, ddof=1))
    assert [load_trained(TASK, base / f"fold{k}" / "best.pt").cfg.data.fold for k in range(3)] == [0, 1, 2]

# --------------------------------------------------------------------------- data that cannot work, predict's honesty

SMALL = ["--epochs", "1", "--set", "model.options.embed_dim=8", "model.options.filters=4"]


def write_rows(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    return path


@pytest.mark.parametrize("layout", ["one file", "split files"])
@pytest.mark.parametrize("baselines", ["true", "false"])
def test_a_class_with_one_example_trains_with_and_without_baselines(capsys, tmp_path, layout, baselines):
    """Two classes, one of them with a single training example: the parameter-matched MLP
    baseline's early stopping (a stratified hold-out) cannot take it, so it fits without."""
    rows = [(f"a good film number {i}", "pos") for i in range(30)] + [("a bad film", "neg")]
    if layout == "one file":
        data = write_rows(tmp_path / "d.tsv", rows)
    else:
        data = tmp_path / "d"
        write_rows(data / "train.tsv", rows)
        write_rows(data / "test.tsv", [("good film", "pos"), ("bad film", "neg")])
    code, out, err = run(capsys, "train", "--out", str(tmp_path), "--data", str(data), *SMALL,
                         "--set", f"train.baselines={baselines}")
    assert code == 0, err
    metrics = json.loads((Path(out[-1]["run_dir"]) / "metrics.json").read_text())
    assert set(metrics["baselines"]) == ({"linear", "nbsvm", "mlp"} if baselines == "true" else set())


def test_data_that_cannot_be_read_or_split_is_one_line_and_leaves_no_run_folder(capsys, tmp_path):
    big = tmp_path / "big.tsv"
    big.write_text("sentence\tlabel\n" + "good film\tpos\nbad film\tneg\n" * 20 + "word " * 10_000_000 + "\tpos\n")
    many = write_rows(tmp_path / "many.tsv", [(f"sentence number {i}", f"label{i}") for i in range(300)])
    for data, message in ((big, "big.tsv: line 42 has a field longer than 10,000,000 characters"),
                          (many, "many.tsv: the val split would be empty: a stratified train/val/test split needs a "
                                 "class with at least 3 examples, and every class has fewer")):
        assert message in one_line_error(capsys, "train", "--out", str(tmp_path), "--data", str(data), *SMALL)
        assert not (tmp_path / "runs").exists()


def test_predict_keeps_one_row_per_line_and_says_what_it_cut_or_did_not_know(capsys, tmp_path):
    run_dir = train(capsys, tmp_path, "--set", "data.max_length=8", "train.baselines=false")
    vocab = load_checkpoint(run_dir / "best.pt", "text")["data"]["info"]["vocab"]
    long = " ".join(["the film was very good"] * 4)  # 20 tokens
    lines = ["the film was very good", "", "   ", "qwxz blorpf", long, "@@@"]
    assert {"qwxz", "blorpf"}.isdisjoint(vocab) and {"the", "film", "was", "very", "good"} <= set(vocab)
    listing = tmp_path / "inputs.txt"
    listing.write_text("\n".join(lines) + "\n")
    code, rows, err = run(capsys, "predict", "--checkpoint", str(run_dir / "best.pt"), "--file", str(listing))
    assert code == 0, err
    assert [r["input"] for r in rows] == [line.strip() for line in lines]
    assert rows[1] == rows[2] == {"input": "", "error": "empty input"}
    known, unknown, cut, nothing = rows[0], rows[3], rows[4], rows[5]
    for row in (known, unknown, cut, nothing):
        assert row["label"] in ("negative", "positive") and row["probability"] == row["probabilities"][row["label"]]
    assert (known["tokens"], known["unknown_tokens"]) == (5, 0) and "warning" not in known
    assert "truncated_to" not in known
    assert (unknown["tokens"], unknown["unknown_tokens"]) == (2, 2) and "no token the model knows" in unknown["warning"]
    assert (cut["tokens"], cut["truncated_to"]) == (20, 8) and "warning" not in cut
    assert nothing["tokens"] == 0 and "no token the model knows" in nothing["warning"]
    assert "1 of 4 inputs were cut to max_length=8 tokens" in err
    assert "2 of 4 inputs have no token the model knows" in err

    code, rows, err = run(capsys, "predict", "--checkpoint", str(run_dir / "best.pt"), " ")
    assert code == 0 and rows == [{"input": "", "error": "empty input"}], err
    assert "none.pt" in one_line_error(capsys, "predict", "--checkpoint", str(tmp_path / "none.pt"), "")
