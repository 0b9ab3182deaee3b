"""Text data (convkit.tasks.text.data and .synthetic): Kim's clean-up, the vocabulary, the on-disk formats
(TSV/CSV, rt-polarity, aclImdb, split files and folders), bad input, word-vector files,
and the generated corpus that needs word order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convkit.errors import ConfigError, DataError
from convkit.tasks.text.data import (
    PAD_ID,
    UNK_ID,
    Vocabulary,
    clean_str,
    load_text_dataset,
    load_text_eval_set,
    pad_batch,
    read_source,
    sorted_label_names,
    tokenize,
    vectors_for_vocab,
    write_word2vec_binary,
)
from convkit.tasks.text.synthetic import load_generated_dataset, make_sentiment_corpus


def write(path, text: str, encoding: str = "utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def tsv(rows: list[tuple[str, str]], header: str = "sentence\tlabel") -> str:
    return "\n".join([header] + [f"{s}\t{y}" for s, y in rows]) + "\n"


POLAR = [(f"a fine and {w} film", "1") for w in ("good", "great", "moving", "funny", "clever")] + \
        [(f"a dull and {w} film", "0") for w in ("bad", "awful", "weak", "flat", "silly")]


# --------------------------------------------------------------------------- tokens and vocabulary


def test_clean_str_splits_contractions_and_punctuation_and_lowercases():
    assert clean_str("It isn't GOOD, it's (really) bad!") == "it is n't good , it 's ( really ) bad !"
    assert clean_str("we've seen  they'll you'd  we're") == "we 've seen they 'll you 'd we 're"
    assert clean_str("naïve café: 10/10 — wow?") == "na ve caf 10 10 wow ?"


def test_tokenizers():
    assert tokenize("Not BAD, at all") == ["not", "bad", ",", "at", "all"]
    assert tokenize("Not BAD, at all", "whitespace") == ["Not", "BAD,", "at", "all"]
    assert tokenize("Ab  c", "char") == ["a", "b", " ", "c"]
    with pytest.raises(ConfigError, match="data.tokenizer"):
        tokenize("x", "spacy")


def test_vocabulary_orders_by_frequency_with_min_freq_and_reserved_ids():
    vocab = Vocabulary.build([["b", "a", "b"], ["c", "b", "a"], ["d"]], min_freq=2)
    assert vocab.itos == ["<pad>", "<unk>", "b", "a"]
    assert vocab.encode(["a", "zzz", "b"]) == [3, UNK_ID, 2]
    assert Vocabulary.from_list(vocab.to_list()).stoi == vocab.stoi
    assert len(Vocabulary.build([["x", "y"]], max_size=1)) == 3
    with pytest.raises(DataError, match="start with"):
        Vocabulary(["a", "b"])


def test_pad_batch_pads_right_with_pad_id():
    tokens, labels = pad_batch([(torch.tensor([5, 6, 7]), torch.tensor(1)), (torch.tensor([], dtype=torch.long),
                                                                             torch.tensor(0))])
    assert tokens.tolist() == [[5, 6, 7], [PAD_ID] * 3] and labels.tolist() == [1, 0]
    assert tokens.dtype == torch.int64


def test_label_names_sort_numerically_when_integers():
    assert sorted_label_names(["10", "2", "1"]) == ["1", "2", "10"]
    assert sorted_label_names(["pos", "neg"]) == ["neg", "pos"]


# --------------------------------------------------------------------------- formats


def test_tsv_with_train_and_test_files_carves_val_and_keeps_test(tmp_path):
    write(tmp_path / "train.tsv", tsv(POLAR * 4))
    write(tmp_path / "test.tsv", tsv([("a good film", "1"), ("a bad film", "0")]))
    splits = load_text_dataset(tmp_path, seed=0)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (36, 4, 2)
    assert splits.label_names == ["0", "1"]
    vocab = splits.extras["vocab"]
    assert splits.test.texts == ["a good film", "a bad film"]
    assert splits.test[0][0].tolist() == vocab.encode(["a", "good", "film"])
    assert sorted(splits.val.labels.tolist()) == [0, 0, 1, 1]  # stratified


def test_vocabulary_comes_from_the_training_split_only(tmp_path):
    write(tmp_path / "train.tsv", tsv(POLAR * 2))
    write(tmp_path / "val.tsv", tsv([("zebra film", "1"), ("bad", "0")]))
    write(tmp_path / "test.tsv", tsv([("a quokka", "0"), ("good", "1")]))
    splits = load_text_dataset(tmp_path)
    vocab = splits.extras["vocab"]
    assert "zebra" not in vocab.stoi and "quokka" not in vocab.stoi
    assert splits.test[0][0].tolist() == [vocab.stoi["a"], UNK_ID]
    assert len(splits.train) == 20  # val given: nothing carved


def test_csv_with_text_column_and_string_labels_single_file_gets_80_10_10(tmp_path):
    rows = "\n".join(f'{i},"a fine, moving film",positive\n{i},"dull, dull",negative' for i in range(10))
    write(tmp_path / "reviews.csv", "id,text,label\n" + rows + "\n")
    splits = load_text_dataset(tmp_path / "reviews.csv")
    assert (len(splits.train), len(splits.val), len(splits.test)) == (16, 2, 2)
    assert splits.label_names == ["negative", "positive"]
    assert "a fine, moving film" in splits.train.texts + splits.val.texts + splits.test.texts


def test_rt_polarity_pair_is_read_as_latin1(tmp_path):
    pos = "\n".join([f"a gripping, caf\xe9-set film {i}" for i in range(10)]) + "\n"
    neg = "\n".join([f"dull and lifeless {i}" for i in range(10)]) + "\n\n"
    write(tmp_path / "rt-polarity.pos", pos, "latin-1")
    write(tmp_path / "rt-polarity.neg", neg, "latin-1")
    raw = read_source(tmp_path)
    assert raw.labels.count("pos") == 10 and raw.labels.count("neg") == 10
    assert "a gripping, caf\xe9-set film 0" in raw.texts
    splits = load_text_dataset(tmp_path, cv_folds=10, fold=3)
    assert len(splits.test) == 2 and len(splits.train) + len(splits.val) == 18
    other = load_text_dataset(tmp_path, cv_folds=10, fold=4)
    assert set(splits.test.texts).isdisjoint(other.test.texts)


def test_cross_validation_folds_cover_every_sentence_once(tmp_path):
    write(tmp_path / "all.tsv", tsv(POLAR * 3))
    tests = [load_text_dataset(tmp_path / "all.tsv", cv_folds=5, fold=k).test.texts for k in range(5)]
    counts = [len(t) for t in tests]
    assert counts == [6] * 5
    with pytest.raises(ConfigError, match="data.fold"):
        load_text_dataset(tmp_path / "all.tsv", cv_folds=5, fold=5)


def test_aclimdb_layout(tmp_path):
    for split in ("train", "test"):
        for label, word in (("pos", "great"), ("neg", "awful")):
            for i in range(10):
                write(tmp_path / split / label / f"{i}_7.txt", f"A {word} movie.<br /><br />Seen twice {i}.")
    write(tmp_path / "train" / "unsup" / "0_0.txt", "unlabelled review")
    splits = load_text_dataset(tmp_path)
    assert splits.label_names == ["neg", "pos"]
    assert (len(splits.train), len(splits.val), len(splits.test)) == (18, 2, 20)
    assert all("<br />" not in t for t in splits.train.texts)
    assert "unlabelled review" not in splits.train.texts + splits.val.texts


def test_split_folders_with_tables(tmp_path):
    for split in ("train", "val", "test"):
        write(tmp_path / split / "data.tsv", tsv(POLAR))
    splits = load_text_dataset(tmp_path)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (10, 10, 10)


def test_truncation_at_max_length_is_counted_once(tmp_path):
    rows = [(" ".join(["good"] * 30), "1"), ("bad", "0")] * 5
    write(tmp_path / "train.tsv", tsv(rows))
    write(tmp_path / "test.tsv", tsv(rows))
    with pytest.warns(UserWarning, match=r"truncated 10 of 20 sentences to data.max_length=8") as record:
        splits = load_text_dataset(tmp_path, max_length=8)
    assert max(len(ids) for ids, _ in splits.test) == 8
    assert len([w for w in record if "truncated" in str(w.message)]) == 1


def test_eval_set_uses_the_trained_vocabulary_and_classes(tmp_path):
    vocab = Vocabulary(["<pad>", "<unk>", "good", "film"])
    write(tmp_path / "held.tsv", tsv([("good film", "pos"), ("new words", "neg")]))
    ds = load_text_eval_set(tmp_path / "held.tsv", vocab, ["neg", "pos"])
    assert ds[0][0].tolist() == [2, 3] and ds[1][0].tolist() == [UNK_ID, UNK_ID]
    assert ds.labels.tolist() == [1, 0]
    with pytest.raises(DataError, match=r"labels \['neg'\] are not among the model's classes"):
        load_text_eval_set(tmp_path / "held.tsv", vocab, ["pos", "other"])


# --------------------------------------------------------------------------- bad input


def test_empty_file_is_an_error(tmp_path):
    write(tmp_path / "train.tsv", "")
    with pytest.raises(DataError, match=r"train.tsv: empty file"):
        load_text_dataset(tmp_path)


def test_file_that_is_not_utf8_names_the_line_and_latin1_reads_it(tmp_path):
    write(tmp_path / "d.tsv", tsv(POLAR * 2 + [("caf\xe9 noir", "1")]), "latin-1")
    with pytest.raises(DataError, match=r"d.tsv: line 22 is not valid utf-8 .*data.encoding=latin-1"):
        load_text_dataset(tmp_path / "d.tsv")
    splits = load_text_dataset(tmp_path / "d.tsv", encoding="latin-1")
    assert "caf\xe9 noir" in splits.train.texts + splits.val.texts + splits.test.texts


def test_rows_with_missing_label_or_empty_text_are_skipped_and_counted(tmp_path):
    text = tsv(POLAR * 2) + "no label here\t\n\t1\njust text\n"
    write(tmp_path / "d.tsv", text)
    with pytest.warns(UserWarning, match=r"skipped 3 rows with a missing label or empty text \(first: line 22\)"):
        raw = read_source(tmp_path / "d.tsv")
    assert len(raw.texts) == 20


def test_header_without_text_or_label_column(tmp_path):
    write(tmp_path / "d.tsv", "review\tstars\nnice\t5\n")
    with pytest.raises(DataError, match=r"d.tsv: header .* must name a text column \(text or sentence\)"):
        read_source(tmp_path / "d.tsv")


def test_single_class_is_an_error(tmp_path):
    write(tmp_path / "d.tsv", tsv([("good", "1")] * 20))
    with pytest.raises(DataError, match="only one class \\('1'\\) in the training data"):
        load_text_dataset(tmp_path / "d.tsv")


def test_missing_path_and_test_label_unknown_to_train(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        load_text_dataset(tmp_path / "nowhere")
    write(tmp_path / "train.tsv", tsv(POLAR * 2))
    write(tmp_path / "test.tsv", tsv([("meh", "2")]))
    with pytest.raises(DataError, match=r"test labels \['2'\] do not occur in the training data"):
        load_text_dataset(tmp_path)


# --------------------------------------------------------------------------- word vectors

VOCAB = Vocabulary(["<pad>", "<unk>", "good", "bad", "Paris", "zebra"])
WORDS = {"good": [1.0, 2.0, 3.0], "bad": [-1.0, -2.0, -3.0], "paris": [0.5, 0.5, 0.5], "film": [9.0, 9.0, 9.0]}


def check_matrix(matrix: np.ndarray, found: int) -> None:
    assert matrix.shape == (6, 3) and matrix.dtype == np.float32 and found == 3
    assert np.all(matrix[PAD_ID] == 0)
    np.testing.assert_allclose(matrix[2], [1, 2, 3])
    np.testing.assert_allclose(matrix[3], [-1, -2, -3])
    np.testing.assert_allclose(matrix[4], [0.5, 0.5, 0.5])  # "Paris" by lower-case match
    assert np.all(np.abs(matrix[[1, 5]]) <= 0.25) and np.any(matrix[5] != 0)  # U[-0.25, 0.25]


def test_glove_text_vectors(tmp_path):
    path = write(tmp_path / "glove.txt", "".join(f"{w} {' '.join(map(str, v))}\n" for w, v in WORDS.items()))
    check_matrix(*vectors_for_vocab(path, VOCAB, 3, seed=0))
    a, _ = vectors_for_vocab(path, VOCAB, 3, seed=0)
    b, _ = vectors_for_vocab(path, VOCAB, 3, seed=0)
    np.testing.assert_array_equal(a, b)


def test_word2vec_text_and_binary_vectors(tmp_path):
    text = f"{len(WORDS)} 3\n" + "".join(f"{w} {' '.join(map(str, v))}\n" for w, v in WORDS.items())
    check_matrix(*vectors_for_vocab(write(tmp_path / "w2v.txt", text), VOCAB, 3))
    write_word2vec_binary(tmp_path / "w2v.bin", list(WORDS), np.array(list(WORDS.values())))
    check_matrix(*vectors_for_vocab(tmp_path / "w2v.bin", VOCAB, 3))


def test_vector_file_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(DataError, match=r"nowhere.txt: word-vector file not found"):
        vectors_for_vocab(tmp_path / "nowhere.txt", VOCAB, 3)
    glove = write(tmp_path / "g.txt", "good 1 2 3 4\nbad 1 2 3 4\n")
    with pytest.raises(DataError, match=r"g.txt: line 1 has 4-dimensional vectors; the model's embed_dim is 3"):
        vectors_for_vocab(glove, VOCAB, 3)
    header = write(tmp_path / "h.txt", "2 5\ngood 1 2 3 4 5\n")
    with pytest.raises(DataError, match=r"h.txt: line 1 declares 5-dimensional vectors"):
        vectors_for_vocab(header, VOCAB, 3)
    bad = write(tmp_path / "m.txt", "good 1 2 3\nbad 1 2\nfilm 1 2 3\n")
    with pytest.raises(DataError, match=r"m.txt: line 2 is malformed: expected a word and 3 numbers"):
        vectors_for_vocab(bad, VOCAB, 3)
    nan = write(tmp_path / "n.txt", "good 1 2 3\nbad 1 x 3\n")
    with pytest.raises(DataError, match=r"n.txt: line 2 is malformed"):
        vectors_for_vocab(nan, VOCAB, 3)
    write_word2vec_binary(tmp_path / "t.bin", ["good", "bad"], np.ones((2, 3)))
    blob = (tmp_path / "t.bin").read_bytes()
    (tmp_path / "t.bin").write_bytes(blob[:-6])
    with pytest.raises(DataError, match=r"t.bin: entry 2 of 2 is truncated"):
        vectors_for_vocab(tmp_path / "t.bin", VOCAB, 3)
    with pytest.raises(DataError, match=r"w.bin: line 1 declares 3-dimensional vectors; the model's embed_dim is 4"):
        write_word2vec_binary(tmp_path / "w.bin", ["good"], np.ones((1, 3)))
        vectors_for_vocab(tmp_path / "w.bin", VOCAB, 4)


# --------------------------------------------------------------------------- generated corpus


def test_generated_corpus_is_deterministic_balanced_and_has_the_constructions():
    texts, labels = make_sentiment_corpus(400, seed=3)
    assert (texts, labels) == make_sentiment_corpus(400, seed=3)
    assert texts != make_sentiment_corpus(400, seed=4)[0]
    assert sum(labels) == 200
    joined = " ".join(texts)
    for construction in (", but ", ", although ", "n't", " not ", " never ", " very "):
        assert construction in joined


def test_generated_corpus_needs_word_order():
    """The same words in the same counts carry both labels: a bag of words cannot tell
    "X, but Y" from "Y, but X", and contrast sentences are half the corpus."""
    texts, labels = make_sentiment_corpus(2000, seed=0)
    bags: dict[tuple, set] = {}
    for text, label in zip(texts, labels):
        if ", but " in text:
            first, second = text.rstrip(".!").split(", but ")
            bags.setdefault(tuple(sorted(tokenize(f"{second}, but {first}"))), set()).add(1 - label)
            bags.setdefault(tuple(sorted(tokenize(text.rstrip(".!")))), set()).add(label)
    assert sum(len(v) == 2 for v in bags.values()) > 0.9 * len(bags)  # swapped clauses flip the label
    assert sum(", but " in t or ", yet " in t or "though " in t for t in texts) / len(texts) == pytest.approx(0.5, abs=0.05)


def test_generated_dataset_splits_and_vocabulary():
    splits = load_generated_dataset(200, seed=0)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (160, 20, 20)
    assert splits.label_names == ["negative", "positive"]
    vocab = splits.extras["vocab"]
    assert vocab.itos[:2] == ["<pad>", "<unk>"] and "but" in vocab.stoi


# --------------------------------------------------------------------------- fields and splits that cannot work


def test_a_field_longer_than_the_csv_modules_default_limit_is_read(tmp_path):
    """Python's csv module refuses fields over 131,072 characters by default; a long review
    is data, not an error (read up to ``MAX_FIELD_CHARS``)."""
    long = " ".join(["good"] * 40_000)  # 200,000 characters
    write(tmp_path / "d.tsv", tsv(POLAR * 2 + [(long, "1")]))
    write(tmp_path / "d.csv", "text,label\n" + "".join(f'"{s}",{y}\n' for s, y in POLAR * 2 + [(long, "1")]))
    for name in ("d.tsv", "d.csv"):
        raw = read_source(tmp_path / name)
        assert long in raw.texts and len(raw.texts) == 21


def test_a_50_mb_field_names_the_file_the_line_and_the_limit(tmp_path):
    write(tmp_path / "d.tsv", tsv(POLAR * 2) + "word " * 10_000_000 + "\t1\n" + "after\t0\n")
    with pytest.raises(DataError, match=r"d.tsv: line 22 has a field longer than 10,000,000 characters") as err:
        load_text_dataset(tmp_path / "d.tsv")
    assert "\n" not in str(err.value)
    write(tmp_path / "q.csv", "text,label\n" + "".join(f"{s},{y}\n" for s, y in POLAR) + '"an unclosed quote,1\n'
          + "more text,0\n" * 1_000_000)
    with pytest.raises(DataError, match=r"q.csv: line 12 has a field longer than .* an unclosed quote"):
        load_text_dataset(tmp_path / "q.csv")


def test_one_row_per_label_names_the_file_and_why_a_split_would_be_empty(tmp_path):
    rows = [(f"sentence number {i}", f"label{i}") for i in range(300)]
    write(tmp_path / "many.tsv", tsv(rows))
    with pytest.raises(DataError, match=r"many.tsv: the val split would be empty: a stratified train/val/test split "
                                        r"needs a class with at least 3 examples, and every class has fewer: "
                                        r"'label0' \(1\), .* and 295 more"):
        load_text_dataset(tmp_path / "many.tsv")
    write(tmp_path / "given" / "train.tsv", tsv(rows))
    write(tmp_path / "given" / "test.tsv", tsv(rows[:2]))
    with pytest.raises(DataError, match=r"given/train.tsv: the val split would be empty: .* at least 2 examples"):
        load_text_dataset(tmp_path / "given")
    with pytest.raises(DataError, match=r"many.tsv: the val split would be empty: .* at least 2 examples"):
        load_text_dataset(tmp_path / "many.tsv", cv_folds=3, fold=1)  # each fold's rest gives no validation


def test_a_class_with_one_example_is_data_not_an_error(tmp_path):
    write(tmp_path / "d.tsv", tsv(POLAR * 3 + [("an odd one", "2")]))
    splits = load_text_dataset(tmp_path / "d.tsv")
    assert splits.label_names == ["0", "1", "2"] and splits.train.labels.tolist().count(2) == 1
