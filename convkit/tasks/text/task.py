"""The text task: sentence classification with Kim 2014's TextCNN (or the character CNN).

Default, offline: ``textcnn`` (variant ``rand``) on the generated sentiment corpus
(``synthetic.py``: negation, intensifiers, "X, but Y" contrasts and filler, so single
words do not decide). ``--data PATH`` reads TSV/CSV (``text``/``sentence`` + ``label``),
the rt-polarity ``.pos``/``.neg`` pair, aclImdb, and train/val/test files or folders of
these (``data.py``). A run on files (:class:`TextFilesRunConfig`) sizes what the generated
corpus fixes by stated rules, logged in one line and recorded in the run's config
(:func:`size_length`, :func:`size_training`), and, unless a model or variant is given,
trains TextCNN ``non-static`` on skip-gram vectors convkit learns from the training text
(``embeddings.py``) with an n-gram member (``ngrams.py``) that joins it at evaluation
(:func:`resolve_auto`); a recipe gives every value, so it reproduces its paper exactly.

Batches are ``(tokens [N, L] int64, labels [N])``, right-padded with id 0. The vocabulary
(training split only) is stored in the checkpoint (``Data.info``), so ``evaluate --data``
and ``predict`` need nothing else; pretrained vectors (``data.vectors``: word2vec text or
binary, GloVe) are read only for training and live in the model's embedding weights.
Training augmentation: word dropout (``task.word_dropout``: tokens replaced by ``<unk>``,
which also trains the ``<unk>`` vector that unseen words get at test time).
Baselines (``baselines.py``): TF-IDF (1-2 grams, sublinear tf) + logistic regression
(``linear``), NBSVM (``nbsvm``, Wang & Manning 2012), each with its settings chosen on the
validation split, and the parameter-matched MLP on the same TF-IDF (``mlp``).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, Literal

import numpy as np
import torch
from torch import Tensor, nn

from convkit.config import (
    AtLeastOne,
    DataConfig,
    DataSizedTrainConfig,
    ModelConfig,
    Range,
    RunConfig,
    TaskConfig,
    TrainConfig,
    size_training as config_size_training,
)
from convkit.errors import ConfigError
from convkit.models import create_model
from convkit.models.text import CHAR_LEVEL_MODELS, NgramMember
from convkit.tasks.text.baselines import text_baselines
from convkit.tasks.text.data import (
    PAD,
    PAD_ID,
    UNK,
    UNK_ID,
    Tokenizer,
    Vocabulary,
    assign_splits,
    build_text_splits,
    encode_sentence,
    load_text_eval_set,
    pad_batch,
    read_splits,
    read_unlabeled,
    tokenize,
    tokenizer_settings,
    vectors_for_vocab,
)
from convkit.tasks.text.embeddings import self_trained_vectors
from convkit.tasks.text.ngrams import CHAR_NGRAMS, char_ngram_table, fit_member
from convkit.tasks.text.synthetic import (
    GENERATED_LABELS,
    GENERATED_SOURCE,
    generated_vocab_bound,
    load_generated_dataset,
)
from convkit.train.inference import PYTHON_DATA_PREFIX
from convkit.train.task import ClassificationTask, Data, Trained
from convkit.train.transfer import pretrained_weights

EXAMPLE_LENGTH = 32
"""Sentence length of the example input export traces (the length axis stays dynamic)."""

SKIPGRAM = "skipgram"
"""``data.vectors`` naming the vectors convkit trains itself (``embeddings.py``)."""

SIZED_LENGTH = {"words": (100, 400), "char": (500, 2000)}
"""``data.max_length`` 0 on files: the longest training sentence, at least the first bound
(Kim's sentence datasets fit in 100 words; 500 characters) and at most the second (long
documents are cut there, as CNNs on IMDB-sized reviews are usually fed)."""

SIZED_BATCH = (8, 50)
"""``train.batch_size`` sized by the data: Kim's 50, at most a tenth of the training
sentences, at least 8."""

SIZED_STEPS = 600
"""``train.epochs`` sized by the data: enough epochs for this many optimizer steps ..."""

SIZED_EPOCHS = (5, 25)
"""... and at least 5 epochs, at most Kim's 25."""


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
    ``max_length`` tokens (0: 100 words or 500 characters on the generated corpus; on
    files sized by the data, :func:`size_length`). ``encoding``: auto (each format's own:
    UTF-8, latin-1 for rt-polarity) or a codec name. ``vectors``, for the static,
    non-static and multichannel variants: a word2vec/GloVe file, or ``skipgram``: vectors
    convkit trains on the training split's text (``embeddings.py``) and on ``unlabeled``,
    more text if any (a ``.txt`` file, a folder of them, or a TSV/CSV with a text column);
    ``auto`` (a run on files): the data default, :func:`resolve_auto` (for textcnn with no
    variant given: ``skipgram`` vectors, variant ``non-static`` and the n-gram member).
    ``cv_folds`` > 1: that many stratified folds; ``train`` runs every fold (``fold`` = -1)
    and reports mean ± std over them, or only fold ``fold`` (its test split)."""

    tokenizer: Literal["auto", Tokenizer] = "auto"
    min_freq: AtLeastOne = 1
    max_vocab: Annotated[int, Range(ge=0, note="0: no limit")] = 0
    max_length: Annotated[int, Range(ge=0, note="0: auto")] = 0
    encoding: str = "auto"
    vectors: str = ""
    unlabeled: str = ""
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
class TextFilesRunConfig(TextRunConfig):
    """The run config of a run on files (``--data``): the generated corpus' defaults, but
    ``train.batch_size`` and ``train.epochs`` 0, sized by the data (:func:`size_training`),
    and ``data.vectors`` ``auto`` (TextCNN non-static on skip-gram vectors convkit trains on
    the training text), unless given."""

    train: DataSizedTrainConfig = field(default_factory=lambda: DataSizedTrainConfig(
        lr=1e-3, optimizer="adam", weight_decay=0.0, schedule="none"))
    data: TextDataConfig = field(default_factory=lambda: TextDataConfig(vectors="auto"))


def resolve_auto(cfg: TextRunConfig) -> str | None:
    """Resolve ``data.vectors`` ``auto`` (the default of a run on files) in the config, in
    place: for textcnn with no ``variant`` given, the data default: vectors ``skipgram``,
    variant ``non-static`` and the n-gram member (``ngrams``, unless given); with a variant
    given, ``skipgram`` if it needs vectors (a recipe's ``rand`` keeps random ones); for
    other models, none. Returns what was chosen, as said in the log (None: nothing to
    resolve)."""
    dc, options = cfg.data, cfg.model.options
    if dc.vectors != "auto":
        return None
    name = cfg.model.name or TextTask.default_model
    if name != "textcnn":
        dc.vectors = ""
        return None
    if "variant" not in options:
        options["variant"] = "non-static"
        options.setdefault("ngrams", True)
    dc.vectors = SKIPGRAM if options["variant"] != "rand" else ""
    return (f"textcnn {options['variant']}" + (f" on {SKIPGRAM} vectors" if dc.vectors else "")
            + (" with its n-gram member" if options.get("ngrams") else ""))


def size_length(lengths: list[int], tokenizer: str) -> tuple[int, str]:
    """``data.max_length`` for training sentences of ``lengths`` tokens: the longest,
    within :data:`SIZED_LENGTH`'s bounds for words or characters -> ``(length, the rule as
    said in the log)``."""
    low, high = SIZED_LENGTH["char" if tokenizer == "char" else "words"]
    longest = max(lengths, default=0)
    length = max(low, min(high, longest))
    unit = "characters" if tokenizer == "char" else "tokens"
    return length, f"data.max_length={length} (the longest training sentence, {longest:,} {unit}, within {low} to {high})"


def size_training(train: TrainConfig, n_train: int) -> list[str]:
    """Set ``train.batch_size`` and ``train.epochs`` where they are 0 (sized by the data)
    for ``n_train`` training sentences, in place, by :func:`convkit.config.size_training`:
    the batch Kim's 50, at most a tenth of the sentences, at least 8 (:data:`SIZED_BATCH`); epochs enough
    for :data:`SIZED_STEPS` optimizer steps, within :data:`SIZED_EPOCHS`. Returns the
    rules applied, as said in the log."""
    return config_size_training(train, n_train, SIZED_BATCH, SIZED_STEPS, SIZED_EPOCHS, "sentences")


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
    embeddings) and the fitted n-gram member (None: none); used only to initialise the
    model (the model's state keeps them), never stored in checkpoints."""

    vectors: np.ndarray | None = None
    ngram_member: NgramMember | None = None


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
        # each fold its own copy of every section: a fold's build_data sizes its config in place
        return "folds", [(f"fold{k}", dataclasses.replace(
            cfg, train=dataclasses.replace(cfg.train), model=dataclasses.replace(cfg.model, options=dict(
                cfg.model.options)), data=dataclasses.replace(dc, fold=k))) for k in range(dc.cv_folds)]

    def for_config(self, cfg: RunConfig) -> "TextTask":
        """:data:`FILES_TASK` (whose config sizes training by the data and trains word
        vectors) for a run on files (``data.path`` set, not data given from Python), else
        :data:`TASK`."""
        path = cfg.data.path
        return FILES_TASK if path and not path.startswith(PYTHON_DATA_PREFIX) else TASK

    def build_data(self, cfg: TextRunConfig) -> Data:
        """The generated corpus (no ``data.path``) or an on-disk dataset, split in three
        and encoded with the training split's vocabulary. On files, what is 0 in the config
        (``data.max_length``, ``train.batch_size``, ``train.epochs``) is sized by the data
        first and set in the config, so the run records it (one log line says how); so is
        ``data.vectors`` ``auto``."""
        return self._build(cfg, with_vectors=True)

    def _build(self, cfg: TextRunConfig, with_vectors: bool) -> TextData:
        dc = cfg.data
        tokenizer = self.tokenizer(cfg)
        said = []
        if dc.path:
            raw = assign_splits(read_splits(dc.path, dc.encoding), cfg.train.seed, dc.cv_folds, max(dc.fold, 0),
                                dc.path)
            if dc.max_length == 0:
                dc.max_length, rule = size_length([len(tokenize(t, tokenizer)) for t in raw["train"].texts],
                                                  tokenizer)
                said.append(rule)
            splits = build_text_splits(raw, tokenizer, dc.min_freq, dc.max_length, dc.max_vocab, dc.path)
            said += size_training(cfg.train, len(splits.train))
            source = dc.path
        else:
            splits = load_generated_dataset(dc.n_sentences, cfg.train.seed, tokenizer, dc.min_freq,
                                            self.max_length(cfg))
            source = GENERATED_SOURCE
        chosen = resolve_auto(cfg)
        if chosen:
            said.append(chosen)
        if said:
            print(f"sized by the data: {'; '.join(said)}", file=sys.stderr, flush=True)
        vocab: Vocabulary = splits.extras["vocab"]
        info = TextInfo(source=source, vocab=vocab.to_list(), tokenizer=tokenizer, max_length=self.max_length(cfg))
        data = self._data(splits.train, splits.val, splits.test, list(splits.label_names), info)
        if with_vectors:
            data.vectors = self._vectors(cfg, vocab, splits.train.texts, tokenizer)
            data.ngram_member = self._fit_member(cfg, data)
        return data

    def _fit_member(self, cfg: TextRunConfig, data: TextData) -> NgramMember | None:
        """The n-gram member fitted on the training split (``model.options.ngrams``;
        ``ngrams.fit_member``), or None."""
        if not cfg.model.options.get("ngrams"):
            return None
        member = NgramMember(len(data.info.vocab), char_ngram_table(data.info.vocab), len(data.label_names))
        fit = fit_member(member, data.train, data.val, len(data.label_names))
        print(f"n-gram member: naive-Bayes features of word 1-2 grams and character {CHAR_NGRAMS[0]}-"
              f"{CHAR_NGRAMS[1]} grams ({fit['features']:,} columns) + logistic regression, C={fit['C']:g} "
              f"(validation accuracy {fit['val_accuracy']:.4f})", file=sys.stderr, flush=True)
        return member

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
        if cfg.data.path:  # read, without training word vectors
            data = self._build(cfg, with_vectors=False)
            data.train = data.val = data.test = None
            return data
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

    def _vectors(self, cfg: TextRunConfig, vocab: Vocabulary, train_texts: list[str],
                 tokenizer: str) -> np.ndarray | None:
        """The embedding matrix for the training vocabulary: read from ``data.vectors`` (a
        file), trained by convkit (``skipgram``: on the training sentences and
        ``data.unlabeled``), or None (``rand``). ``auto`` is resolved first, in the config:
        ``skipgram`` for textcnn (variant ``non-static`` unless given), else none."""
        dc, options = cfg.data, cfg.model.options
        name = cfg.model.name or self.default_model
        variant = options.get("variant", "rand")
        if not dc.vectors:
            if variant != "rand":
                raise ConfigError(f"model.options.variant={variant!r} needs pretrained vectors: set data.vectors="
                                  f"FILE (word2vec text or .bin, or GloVe text) or data.vectors={SKIPGRAM} (trained "
                                  "by convkit on the training text)")
            return None
        if name in CHAR_LEVEL_MODELS or variant == "rand":
            raise ConfigError(f"data.vectors is for the textcnn variants static, non-static and multichannel; "
                              f"got model {name!r} with variant {variant!r}")
        dim = int(options.get("embed_dim", 300))
        if dc.vectors == SKIPGRAM:
            sentences = [tokenize(t, tokenizer) for t in train_texts]
            extra = [tokenize(t, tokenizer) for t in read_unlabeled(dc.unlabeled, dc.encoding)] if dc.unlabeled else []
            matrix, cached = self_trained_vectors(sentences + extra, vocab.itos, dim, cfg.train.seed)
            more = f" and {len(extra):,} of {dc.unlabeled}" if extra else ""
            print(f"word vectors: skip-gram with character n-grams on the {len(sentences):,} training sentences"
                  f"{more}, {dim}-d ({'from the cache' if cached else 'trained'}); variant {variant}",
                  file=sys.stderr, flush=True)
            return matrix
        matrix, found = vectors_for_vocab(dc.vectors, vocab, dim, cfg.train.seed)
        print(f"word vectors: {found:,} of {len(vocab) - 2:,} vocabulary words found in {dc.vectors}; "
              "the rest drawn from U[-0.25, 0.25]", file=sys.stderr, flush=True)
        return matrix

    def build_model(self, cfg: TextRunConfig, data: Data) -> nn.Module:
        """The zoo model over the stored vocabulary (or ``info.vocab_size``: an
        ``input_spec`` without one); pretrained vectors copied into its embeddings when the
        data brings them (training only); a TextCNN with ``ngrams`` gets its n-gram member
        over the vocabulary's character n-grams, with the fitted weights the data brings
        (training) or zeros that the checkpoint's state then fills."""
        info = data.info
        vocab_size = len(info.vocab) if info.vocab else int(info.vocab_size)
        model = create_model(cfg.model.name or self.default_model, num_classes=len(data.label_names),
                             vocab_size=vocab_size, pretrained=pretrained_weights(cfg, data.label_names),
                             **cfg.model.options)
        vectors = getattr(data, "vectors", None)
        if vectors is not None and not cfg.model.pretrained:  # weights from model.pretrained win
            model.load_vectors(vectors)
        if getattr(getattr(model, "config", None), "ngrams", False):
            member = model.attach_ngrams(char_ngram_table(info.vocab) if info.vocab else
                                         torch.zeros(vocab_size, 1, dtype=torch.int64))
            fitted = getattr(data, "ngram_member", None)
            if fitted is not None:
                member.load_weights(fitted.weight, fitted.bias)
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
        """``linear`` (TF-IDF + logistic regression), ``nbsvm`` (Wang & Manning 2012 on
        the run's own tokens) and ``mlp`` (the parameter-matched MLP on the TF-IDF), each
        with its settings chosen on the validation split (``baselines.text_baselines``)."""
        return text_baselines(data.train, data.val, data.test, len(data.label_names), data.info.tokenizer, params,
                              cfg.train.seed)

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


class TextFilesTask(TextTask):
    """The text task on files: its config (:class:`TextFilesRunConfig`) sizes training by
    the data and trains word vectors for TextCNN."""

    config_class = TextFilesRunConfig


TASK = TextTask()
"""The text task instance handed to the CLI and the engine."""

FILES_TASK = TextFilesTask()
"""What :data:`TASK` runs on files (``TextTask.for_config``)."""
