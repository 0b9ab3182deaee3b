"""Defaults that read the data, and word vectors convkit trains itself: a text run on files
sizes its sentence length, batch size and epochs by the task's stated rules (one log line,
recorded in the run's config) and trains TextCNN non-static on skip-gram vectors learnt
from the training text; a value given, and a recipe, always win. NBSVM stands beside the
TF-IDF baseline."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from convkit.cli import main
from convkit.config import TrainConfig
from convkit.tasks.text.baselines import NBSVM, log_count_ratio, word_ngrams
from convkit.tasks.text.embeddings import SkipGramSettings, char_ngrams, self_trained_vectors, train_skipgram
from convkit.tasks.text.synthetic import make_sentiment_corpus
from convkit.tasks.text.task import (
    FILES_TASK,
    SIZED_BATCH,
    SIZED_EPOCHS,
    SIZED_LENGTH,
    SIZED_STEPS,
    TASK,
    TextFilesRunConfig,
    size_length,
    size_training,
)
from convkit.train.task import resolve_task_config

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

SMALL = ["model.options.embed_dim=16", "model.options.filters=8"]


def write_corpus(path: Path, n: int = 300, seed: int = 0) -> Path:
    texts, labels = make_sentiment_corpus(n, seed)
    path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in zip(texts, labels)))
    return path


def test_the_rules():
    low, high = SIZED_LENGTH["words"]
    assert size_length([3, 7, 12], "kim")[0] == low
    assert size_length([3, high + 50], "kim")[0] == high
    assert size_length([3, low + 20], "kim") == (low + 20, f"data.max_length={low + 20} (the longest training "
                                                           f"sentence, {low + 20} tokens, within {low} to {high})")
    assert size_length([900], "char")[0] == 900
    for n_train, batch in ((30, SIZED_BATCH[0]), (240, 24), (2925, SIZED_BATCH[1])):
        train = TrainConfig(epochs=0, batch_size=0)
        assert len(size_training(train, n_train)) == 2 and train.batch_size == batch
        per_epoch = max(1, n_train // batch)
        assert train.epochs == max(SIZED_EPOCHS[0], min(SIZED_EPOCHS[1], math.ceil(SIZED_STEPS / per_epoch)))
    given = TrainConfig(epochs=3, batch_size=7)
    assert size_training(given, 5000) == [] and (given.epochs, given.batch_size) == (3, 7)


def test_skipgram_puts_words_of_the_same_contexts_together():
    rng = np.random.default_rng(0)
    animals, vehicles = ["cat", "dog", "owl"], ["bus", "van", "jet"]
    sentences = [[str(rng.choice(animals)), "sat", "and", "purred", "softly"] for _ in range(150)]
    sentences += [[str(rng.choice(vehicles)), "drove", "past", "the", "depot"] for _ in range(150)]
    words = ["<pad>", "<unk>", *animals, *vehicles, "sat", "drove"]
    settings = SkipGramSettings(dim=16, epochs=5, batch=128, min_n=0, subsample=1.0)
    vectors = train_skipgram(sentences, words, settings, seed=0)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cos = unit @ unit.T
    same = [cos[2 + i, 2 + j] for group in (0, 3) for i in range(group, group + 3) for j in range(group, group + 3)
            if i != j]
    across = [cos[2 + i, 5 + j] for i in range(3) for j in range(3)]
    assert min(same) > max(across)
    np.testing.assert_array_equal(vectors, train_skipgram(sentences, words, settings, seed=0))  # deterministic
    assert char_ngrams("cat") == ["<ca", "cat", "at>", "<cat", "cat>"]


def test_a_run_on_files_is_sized_and_trains_non_static_on_its_own_vectors(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CONVKIT_CACHE", str(tmp_path / "cache"))
    data = write_corpus(tmp_path / "reviews.tsv")
    runner, cfg = resolve_task_config(TASK, flags={"data.path": str(data)}, sets=SMALL)
    assert runner is FILES_TASK and isinstance(cfg, TextFilesRunConfig)
    assert (cfg.data.max_length, cfg.train.epochs, cfg.train.batch_size, cfg.data.vectors) == (0, 0, 0, "auto")
    built = runner.build_data(cfg)
    log = capsys.readouterr().err.strip().splitlines()
    sized = [line for line in log if line.startswith("sized by the data:")]
    assert len(sized) == 1 and "data.max_length=100" in sized[0] and "train.batch_size=24" in sized[0]
    assert any(line.startswith("word vectors: skip-gram") and "(trained)" in line for line in log)
    assert (cfg.data.vectors, cfg.model.options["variant"]) == ("skipgram", "non-static")
    assert built.vectors.shape == (len(built.info.vocab), 16) and not built.vectors[0].any()
    assert abs(float(built.vectors[2:].std()) - 0.5 / math.sqrt(12)) < 1e-3  # Kim's U[-0.25, 0.25] spread

    again = resolve_task_config(TASK, flags={"data.path": str(data)}, sets=SMALL)[1]
    np.testing.assert_array_equal(FILES_TASK.build_data(again).vectors, built.vectors)
    assert "(from the cache)" in capsys.readouterr().err

    given = resolve_task_config(TASK, flags={"data.path": str(data), "train.epochs": "2", "train.batch_size": "16"},
                                sets=[*SMALL, "data.max_length=20", "model.options.variant=rand", "data.vectors="])[1]
    assert FILES_TASK.build_data(given).vectors is None
    assert (given.train.epochs, given.train.batch_size, given.data.max_length) == (2, 16, 20)
    assert "sized by the data" not in capsys.readouterr().err
    kim = resolve_task_config(TASK, [TASK.recipe("mr")], flags={"data.path": str(data)}, sets=["data.cv_folds=0"])[1]
    assert FILES_TASK.build_data(kim).vectors is None and kim.model.options["variant"] == "rand"
    assert (kim.train.epochs, kim.train.batch_size, kim.data.max_length) == (10, 50, 100)


def test_the_run_records_what_the_data_sized_and_more_text_feeds_the_vectors(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CONVKIT_CACHE", str(tmp_path / "cache"))
    data = write_corpus(tmp_path / "reviews.tsv", n=200)
    more = tmp_path / "more.txt"
    more.write_text("\n".join(make_sentiment_corpus(100, seed=5)[0]) + "\n")
    code = main(TASK, ["train", "--data", str(data), "--out", str(tmp_path / "out"), "--epochs", "1", "--set",
                       *SMALL, f"data.unlabeled={more}", "train.baselines=false"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "and 100 of" in next(line for line in err.splitlines() if line.startswith("word vectors:"))
    run_dir = next((tmp_path / "out" / "runs" / "text").iterdir())
    recorded = tomllib.loads((run_dir / "config.toml").read_text())
    assert (recorded["data"]["max_length"], recorded["train"]["batch_size"], recorded["train"]["epochs"]) == (100, 16, 1)
    assert (recorded["data"]["vectors"], recorded["model"]["options"]["variant"]) == ("skipgram", "non-static")
    code = main(TASK, ["train", "--data", str(data), "--out", str(tmp_path / "o2"), "--set", *SMALL,
                       f"data.unlabeled={tmp_path / 'nowhere.txt'}"])
    assert code == 2 and "nowhere.txt: no such file" in capsys.readouterr().err.strip().splitlines()[-1]


def test_nbsvm_is_wang_and_mannings():
    texts = ["good fun", "good film", "bad film", "not good", "bad bad"]
    y = np.array([1, 1, 0, 0, 0])
    from sklearn.feature_extraction.text import CountVectorizer

    x = CountVectorizer(analyzer=word_ngrams("kim"), binary=True).fit(texts)
    features = x.transform(texts)
    r = log_count_ratio(features, y == 1)
    vocab = x.vocabulary_
    p, q = 1 + np.array([2, 0]), 1 + np.array([1, 1])  # "good" in 2 positive and 1 negative; "film" in 1 and 1
    assert r[vocab["good"]] == pytest.approx(np.log((p[0] / (features[y == 1].sum() + len(vocab)))
                                                    / (q[0] / (features[y == 0].sum() + len(vocab)))))
    model = NBSVM(C=1.0).fit(features, y, 2)
    assert (model.predict(features, 1.0) == y).all()
    three = NBSVM(C=1.0).fit(features, np.array([0, 1, 2, 2, 2]), 3)
    assert three.decision(features, 0.25).shape == (5, 3)


def test_a_run_reports_nbsvm_beside_tfidf(tmp_path, capsys):
    code = main(TASK, ["train", "--out", str(tmp_path), "--epochs", "1", "--set", "data.n_sentences=300", *SMALL])
    assert code == 0
    out = capsys.readouterr().out
    metrics = json.loads((Path(json.loads(out.strip().splitlines()[-1])["run_dir"]) / "metrics.json").read_text())
    nbsvm = metrics["baselines"]["nbsvm"]
    assert set(metrics["baselines"]) >= {"linear", "nbsvm", "mlp"} and nbsvm["test"]["accuracy"] > 0.5
    assert nbsvm["C"] in (0.01, 0.1, 1.0, 10.0) and nbsvm["beta"] in (0.25, 0.5, 0.75, 1.0)


def test_the_default_on_files_adds_its_ngram_member_and_the_checkpoint_alone_reproduces_it(tmp_path, capsys,
                                                                                          monkeypatch):
    """The data default's n-gram member is fitted before the CNN trains, joins it at
    evaluation (the log of the mean of both members' probabilities), is kept in the
    checkpoint (evaluate on the test file equals the run's test block) and exports."""
    monkeypatch.setenv("CONVKIT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "polarity"
    folder.mkdir()
    write_corpus(folder / "train.tsv", n=300, seed=0)
    write_corpus(folder / "test.tsv", n=60, seed=1)
    code = main(TASK, ["train", "--data", str(folder), "--out", str(tmp_path / "out"), "--epochs", "2", "--set",
                       *SMALL, "train.baselines=false"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert any(line.startswith("n-gram member: naive-Bayes features") for line in err.splitlines())
    run_dir = next((tmp_path / "out" / "runs" / "text").iterdir())
    metrics = json.loads((run_dir / "metrics.json").read_text())

    from convkit.train.inference import load_trained

    model = load_trained(TASK, run_dir / "best.pt").model
    assert model.ngram is not None and model.ngram.weight.abs().sum() > 0
    tokens = torch.randint(2, model.config.vocab_size, (4, 9))
    tokens[0, 5:] = 0  # padding
    with torch.no_grad():
        cnn = model.forward_head(model.forward_features(tokens)).softmax(1)
        member = model.ngram(tokens).softmax(1)
        torch.testing.assert_close(model(tokens), torch.log((cnn + member) / 2))
        a, b = tokens[1, 0], tokens[1, 1]  # each n-gram counts once: a b a b has a b a's n-grams
        torch.testing.assert_close(model.ngram(torch.stack([a, b, a, b])[None]),
                                   model.ngram(torch.stack([a, b, a, torch.tensor(0)])[None]))

    code = main(TASK, ["evaluate", "--checkpoint", str(run_dir / "best.pt"), "--data", str(folder),
                       "--device", "cpu"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert code == 0 and rows[0]["accuracy"] == pytest.approx(metrics["test"]["accuracy"], abs=1e-9)
    code = main(TASK, ["export", "--checkpoint", str(run_dir / "best.pt"), "--format", "onnx", "--output",
                       str(tmp_path / "m.onnx")])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert code == 0 and rows[0]["max_abs_diff"] < 1e-4
