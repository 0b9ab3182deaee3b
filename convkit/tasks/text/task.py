"""The text task: sentence classification with Kim 2014's TextCNN (or the character CNN).

Default, offline: ``textcnn`` (variant ``rand``) on the generated sentiment corpus
(``synthetic.py``: negation, intensifiers, "X, but Y" contrasts and filler, so single
words do not decide). ``--data PATH`` reads TSV/CSV (``text``/``sentence`` + ``label``),
the rt-polarity ``.pos``/``.neg`` pair, aclImdb, and train/val/test files or folders of
these (``data.py``).

Batches are ``(tokens [N, L] int64, labels [N])``, right-padded with id 0. The vocabulary
(training split only) is stored in the checkpoint (``Data.info``), so ``evaluate --data``
and ``predict`` need nothing else; pretrained vectors (``data.vectors``: word2vec text or
binary, GloVe) are read only for training and live in the model's embedding weights.
Training augmentation: word dropout (``task.word_dropout``: tokens replaced by ``<unk>``,
which also trains the ``<unk>`` vector that unseen words get at test time).
Baselines: TF-IDF (1-2 grams, sublinear tf) + logistic regression (``linear``, C chosen
on the validation split) and the parameter-matched MLP on the same TF-IDF (``mlp``).
"""

from __future__ import annotations

import dataclasses
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, Literal

import numpy as np
import torch
from torch import Tensor, nn

from convkit.config import AtLeastOne, DataConfig, ModelConfig, Range, RunConfig, TaskConfig, TrainConfig
from convkit.errors import ConfigError
from convkit.models import create_model
from convkit.models.text import CHAR_LEVEL_MODELS
from convkit.tasks.text.data import (
    PAD,
    PAD_ID,
    UNK,
    UNK_ID,
    Tokenizer,
    Vocabulary,
    encode_sentence,
    load_text_dataset,
    load_text_eval_set,
    pad_batch,
    tokenizer_settings,
    vectors_for_vocab,
)
from convkit.tasks.text.synthetic import (
    GENERATED_LABELS,
    GENERATED_SOURCE,
    generated_vocab_bound,
    load_generated_dataset,
)
from convkit.train import baselines as B
from convkit.train.task import ClassificationTask, Data, Trained
from convkit.train.transfer import pretrained_weights

EXAMPLE_LENGTH = 32
"""Sentence length of the example input export traces (the length axis stays dynamic)."""

BASELINE_C = (1.0, 10.0, 100.0)
"""Inverse regularisation strengths tried for the TF-IDF logistic regression (best on val)."""


@dataclass
class Sentences:
    """``predict``'s inputs: token ids ``[L_i]`` int64 per sentence (cut at ``max_length``),
    each sentence's token count before the cut, and how many of the tokens the model sees
    are not in its vocabulary (``<unk>``)."""

    ids: list[Tensor]
    lengths: list[int]
    unknown: list[int]
    max_length: int

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class TextDataConfig(DataConfig):
    """``path``: a dataset (empty: the generated corpus of ``n_sentences``). ``tokenizer``:
    auto (``char`` for character models, else ``kim``), kim, whitespace or char;
    ``min_freq``/``max_vocab`` shape the training vocabulary; sentences are cut at
    ``max_length`` tokens (0: 100 words or 500 characters). ``encoding``: auto (each
    format's own: UTF-8, latin-1 for rt-polarity) or a codec name. ``vectors``: a
    word2vec/GloVe file for the static, non-static and multichannel variants.
    ``cv_folds`` > 1: that many stratified folds; ``train`` runs every fold (``fold`` = -1)
    and reports mean ± std over them, or only fold ``fold`` (its test split)."""

    tokenizer: Literal["auto", Tokenizer] = "auto"
    min_freq: AtLeastOne = 1
    max_vocab: Annotated[int, Range(ge=0, note="0: no limit")] = 0
    max_length: Annotated[int, Range(ge=0, note="0: auto")] = 0
    encoding: str = "auto"
    vectors: str = ""
    n_sentences: Annotated[int, Range(ge=10)] = 6000
    cv_folds: int = 0
    fold: int = -1

    def validate(self) -> None:
        """Raise ConfigError unless ``cv_folds`` is 0 or at least 2 and ``fold`` -1 or one
        of its folds (the field types state the other constraints)."""
        if self.cv_folds == 1 or self.cv_folds < 0 or not -1 <= self.fold < max(self.cv_folds, 1):
            raise ConfigError(f"data.cv_folds must be 0 or >= 2 and data.fold -1 (all) or in [0, cv_folds); "
                              f"got {self.cv_folds}, {self.fold}")


@dataclass
class TextTaskConfig(TaskConfig):
    """``word_dropout``: the chance each training token is replaced by ``<unk>`` (0: off)."""

    word_dropout: Annotated[float, Range(ge=0, lt=1)] = 0.0


def _default_train() -> TrainConfig:
    return TrainConfig(epochs=10, batch_size=50, lr=1e-3, optimizer="adam", weight_decay=0.0, schedule="none")


@dataclass
class TextRunConfig(RunConfig):
    """The text task's run config (``train``, ``model``, ``data``, ``task``)."""

    train: TrainConfig = field(default_factory=_default_train)
    model: ModelConfig = field(default_factory=lambda: ModelConfig(name="textcnn"))
    data: TextDataConfig = field(default_factory=TextDataConfig)
    task: TextTaskConfig = field(default_factory=TextTaskConfig)


@dataclass
class TextInfo:
    """What the text task records of the data it built (``Data.info``; stored in
    checkpoints, so ``evaluate --data``, ``predict`` and ``export`` need nothing else):
    ``source``; ``vocab``, the training vocabulary (``vocab[i]``: the token of id ``i``);
    the ``tokenizer`` and ``max_length`` sentences are encoded with; ``vocab_size``: a
    bound on the vocabulary's size, set only where ``vocab`` is not built (``input_spec``
    of the generated corpus)."""

    source: str = ""
    vocab: list[str] = field(default_factory=list)
    tokenizer: str = "kim"
    max_length: int = 100
    vocab_size: int | None = None


@dataclass
class TextData(Data):
    """``Data`` plus the pretrained embedding matrix ``[vocab, embed_dim]`` (None: random
    embeddings); used only to initialise the model, never stored in checkpoints."""

    vectors: np.ndarray | None = None


class TextTask(ClassificationTask):
    """Sentence classification on token ids ``[N, L]`` with labels ``[N]``."""

    name = "text"
    config_class = TextRunConfig
    info_class = TextInfo
    default_model = "textcnn"
    profiles = {"default": [], "smoke": ["train.epochs=2", "data.n_sentences=400", "model.options.embed_dim=32",
                                         "model.options.filters=16"]}
    data_formats = ("TSV/CSV with a header naming the text column (text or sentence) and label (GLUE SST-2 "
                    "layout; labels strings or integers; rows without label or text skipped and counted); the "
                    "rt-polarity *.pos/*.neg pair (latin-1); aclImdb (pos/ neg/ folders of .txt under train/ "
                    "test/); train/val(dev)/test files or folders of these are the splits, otherwise a seeded "
                    "stratified 80/10/10 split (data.cv_folds=10 data.fold=k: fold k of 10). Not UTF-8: "
                    "data.encoding=latin-1. Pretrained vectors: data.vectors=FILE (word2vec text/.bin, GloVe) with "
                    "model.options.variant=static|non-static|multichannel.")

    # ---- data and model

    def repeats(self, cfg: TextRunConfig) -> tuple[str, list[tuple[str, RunConfig]]] | None:
        """With ``data.cv_folds`` >= 2 and ``data.fold`` = -1: one run per fold (Kim 2014's
        10-fold protocol on MR), reported as mean ± std."""
        dc = cfg.data
        if dc.cv_folds < 2 or dc.fold >= 0:
            return None
        return "folds", [(f"fold{k}", dataclasses.replace(cfg, data=dataclasses.replace(dc, fold=k)))
                         for k in range(dc.cv_folds)]

    def build_data(self, cfg: TextRunConfig) -> Data:
        """The generated corpus (no ``data.path``) or an on-disk dataset, split in three
        and encoded with the training split's vocabulary."""
        dc = cfg.data
        tokenizer, max_length = self.tokenizer(cfg), self.max_length(cfg)
        if dc.path:
            splits = load_text_dataset(dc.path, tokenizer, dc.min_freq, max_length, dc.max_vocab, dc.encoding,
                                       cfg.train.seed, dc.cv_folds, max(dc.fold, 0))
            source = dc.path
        else:
            splits = load_generated_dataset(dc.n_sentences, cfg.train.seed, tokenizer, dc.min_freq, max_length)
            source = GENERATED_SOURCE
        vocab: Vocabulary = splits.extras["vocab"]
        info = TextInfo(source=source, vocab=vocab.to_list(), tokenizer=tokenizer, max_length=max_length)
        return self._data(splits.train, splits.val, splits.test, list(splits.label_names), info,
                          self._vectors(cfg, vocab))

    def build_eval_data(self, cfg: TextRunConfig, path: str, spec: Data) -> Data:
        """The test split (or all) of ``path``, encoded with the trained model's vocabulary,
        tokenizer and max length (``spec.info``) and labelled by its classes."""
        info = spec.info
        test = load_text_eval_set(path, Vocabulary.from_list(info.vocab), spec.label_names, info.tokenizer,
                                  info.max_length, cfg.data.encoding)
        return self._data(None, None, test, list(spec.label_names), dataclasses.replace(info, source=str(path)))

    def input_spec(self, cfg: TextRunConfig) -> Data:
        """Tokens ``[N, L]`` of the generated corpus without generating it: its labels, and
        ``info.vocab_size`` the bound on its vocabulary (``generated_vocab_bound``) in
        place of the vocabulary itself; a dataset (``data.path``) is read."""
        if cfg.data.path:
            return super().input_spec(cfg)
        tokenizer = self.tokenizer(cfg)
        info = TextInfo(source=GENERATED_SOURCE, tokenizer=tokenizer, max_length=self.max_length(cfg),
                        vocab_size=generated_vocab_bound(tokenizer))
        return self._data(None, None, None, list(GENERATED_LABELS), info)

    @staticmethod
    def tokenizer(cfg: TextRunConfig) -> str:
        """The tokenizer of this config (``auto``: ``char`` for character models, else ``kim``)."""
        if cfg.data.tokenizer != "auto":
            return cfg.data.tokenizer
        return "char" if (cfg.model.name or TextTask.default_model) in CHAR_LEVEL_MODELS else "kim"

    @staticmethod
    def max_length(cfg: TextRunConfig) -> int:
        """``data.max_length``, or 100 tokens (500 for characters) when 0."""
        return cfg.data.max_length or (500 if TextTask.tokenizer(cfg) == "char" else 100)

    @staticmethod
    def _data(train: Any, val: Any, test: Any, label_names: list[str], info: TextInfo,
              vectors: np.ndarray | None = None) -> TextData:
        return TextData(train, val, test, label_names=label_names, collate_fn=pad_batch, input_kind="tokens",
                        spatial_dims=1, in_channels=1, input_shape=(EXAMPLE_LENGTH,), input_dtype="int64",
                        dynamic_axes={1: "length"}, info=info, vectors=vectors)

    def _vectors(self, cfg: TextRunConfig, vocab: Vocabulary) -> np.ndarray | None:
        """The pretrained embedding matrix for the training vocabulary, or None (``rand``)."""
        variant = cfg.model.options.get("variant", "rand")
        name = cfg.model.name or self.default_model
        if not cfg.data.vectors:
            if variant != "rand":
                raise ConfigError(f"model.options.variant={variant!r} needs pretrained vectors: set data.vectors="
                                  "FILE (word2vec text or .bin, or GloVe text)")
            return None
        if name in CHAR_LEVEL_MODELS or variant == "rand":
            raise ConfigError(f"data.vectors is for the textcnn variants static, non-static and multichannel; "
                              f"got model {name!r} with variant {variant!r}")
        dim = int(cfg.model.options.get("embed_dim", 300))
        matrix, found = vectors_for_vocab(cfg.data.vectors, vocab, dim, cfg.train.seed)
        print(f"word vectors: {found:,} of {len(vocab) - 2:,} vocabulary words found in {cfg.data.vectors}; "
              "the rest drawn from U[-0.25, 0.25]", file=sys.stderr, flush=True)
        return matrix

    def build_model(self, cfg: TextRunConfig, data: Data) -> nn.Module:
        """The zoo model over the stored vocabulary (or ``info.vocab_size``: an
        ``input_spec`` without one); pretrained vectors copied into its embeddings when the
        data brings them (training only)."""
        info = data.info
        vocab_size = len(info.vocab) if info.vocab else int(info.vocab_size)
        model = create_model(cfg.model.name or self.default_model, num_classes=len(data.label_names),
                             vocab_size=vocab_size, pretrained=pretrained_weights(cfg, data.label_names),
                             **cfg.model.options)
        vectors = getattr(data, "vectors", None)
        if vectors is not None and not cfg.model.pretrained:  # weights from model.pretrained win
            model.load_vectors(vectors)
        return model

    def augmentation(self, cfg: TextRunConfig, data: Data) -> Callable[[Any], Any] | None:
        """Word dropout: each real token becomes ``<unk>`` with chance ``task.word_dropout``
        (drawn from torch's global RNG, on the batch's device)."""
        p = cfg.task.word_dropout
        if p <= 0:
            return None

        def word_dropout(batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
            tokens, labels = batch
            drop = (torch.rand(tokens.shape, device=tokens.device) < p) & (tokens != PAD_ID)
            return tokens.masked_fill(drop, UNK_ID), labels

        return word_dropout

    # ---- baselines

    def extra_baselines(self, cfg: TextRunConfig, data: Data, params: int) -> dict:
        """``linear``: TF-IDF of word 1-2 grams (sublinear tf, scikit-learn's tokens) +
        logistic regression, C in :data:`BASELINE_C` chosen on val; ``mlp``: the shared
        parameter-matched MLP (``baselines.fit_matched_mlp``) on the same TF-IDF.

        Not the shared ``baseline_features`` path: TF-IDF is sparse (10^4-10^5 columns),
        which the shared baselines would densify."""
        from sklearn.exceptions import ConvergenceWarning  # scikit-learn: not at start-up
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        x = vectorizer.fit_transform(data.train.texts)
        xv, xt = vectorizer.transform(data.val.texts), vectorizer.transform(data.test.texts)
        y, yv, yt = data.train.labels.numpy(), data.val.labels.numpy(), data.test.labels.numpy()
        with warnings.catch_warnings(), B.one_blas_thread():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits = [LogisticRegression(C=c, max_iter=1000).fit(x, y) for c in BASELINE_C]
            best = max(fits, key=lambda clf: (clf.predict(xv) == yv).mean())
        mlp = B.fit_matched_mlp(x, y, params, len(data.label_names), cfg.train.seed)
        return {"linear": {"test": B.scores(best.predict(xt), yt), "C": best.C, "features": x.shape[1]},
                "mlp": {"test": B.scores(mlp.predict(xt), yt), "params": B.sklearn_mlp_params(mlp)}}

    # ---- prediction and export

    def export_preprocessing(self, spec: Data) -> dict:
        """The tokenizer's settings (:func:`~convkit.tasks.text.data.tokenizer_settings`), the
        vocabulary (``vocab[i]``: the token of id ``i``), the reserved ids, and the cut and
        padding that turn a sentence into one row of the model's ``[N, L]`` int64 input."""
        info = spec.info
        return {**tokenizer_settings(info.tokenizer), "vocab": list(info.vocab), "pad_id": PAD_ID,
                "pad_token": PAD, "unk_id": UNK_ID, "unk_token": UNK, "max_length": int(info.max_length),
                "unknown": "a token not in vocab becomes unk_id",
                "truncation": "the first max_length tokens are kept",
                "padding": "rows are right-padded with pad_id to the batch's longest (at least one column); "
                           "the model ignores padding"}

    def load_inputs(self, cfg: TextRunConfig, spec: Data, inputs: list[str]) -> Sentences:
        """Sentences -> token ids with the trained vocabulary and tokenizer, cut at its max
        length, with what the cut and the vocabulary left out."""
        info = spec.info
        vocab, max_length = Vocabulary.from_list(info.vocab), int(info.max_length)
        encoded = [encode_sentence(text, vocab, info.tokenizer, max_length) for text in inputs]
        return Sentences([torch.tensor(ids, dtype=torch.int64) for ids, _ in encoded],
                         [length for _, length in encoded], [ids.count(UNK_ID) for ids, _ in encoded], max_length)

    def batches(self, trained: Trained, inputs: Sentences) -> Iterator[Tensor]:
        """Sentences in padded batches ``[n, L]`` of ``train.batch_size`` on the model's device."""
        size = trained.cfg.train.batch_size
        for start in range(0, len(inputs), size):
            chunk = inputs.ids[start:start + size]
            tokens, _ = pad_batch([(ids, torch.tensor(0)) for ids in chunk])
            yield tokens.to(trained.device)

    def predict(self, trained: Trained, inputs: Sentences) -> list[dict]:
        """``{"label", "probability", "probabilities", "tokens", "unknown_tokens"}`` per
        sentence: its token count, and how many of the tokens the model saw it does not
        know. A sentence longer than the model's max length adds ``"truncated_to"``
        (the tokens after it were not seen); one with no token the model knows keeps the
        model's output but adds a ``"warning"`` that it says nothing about the sentence.
        Each kind is counted once on stderr."""
        rows = super().predict(trained, inputs)
        cut = blind = 0
        for row, ids, length, unknown in zip(rows, inputs.ids, inputs.lengths, inputs.unknown):
            row["probability"] = row["probabilities"][row["label"]]
            row["tokens"], row["unknown_tokens"] = length, unknown
            if length > inputs.max_length:
                row["truncated_to"] = inputs.max_length
                cut += 1
            if unknown == len(ids):
                why = "none of its tokens is in the vocabulary" if length else "the tokenizer leaves no token"
                row["warning"] = (f"no token the model knows ({why}): the label reflects the model's bias, "
                                  "not this input")
                blind += 1
        if cut:
            print(f"predict: {cut} of {len(rows)} inputs were cut to max_length={inputs.max_length} tokens "
                  "(the rows with truncated_to)", file=sys.stderr, flush=True)
        if blind:
            print(f"predict: {blind} of {len(rows)} inputs have no token the model knows (the rows with a "
                  "warning: their labels say nothing about them)", file=sys.stderr, flush=True)
        return rows


TASK = TextTask()
"""The text task instance handed to the CLI and the engine."""
