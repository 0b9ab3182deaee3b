"""Text CNNs over token ids: Kim 2014's TextCNN (zoo name ``textcnn``) and a character-level
CNN after Zhang, Zhao & LeCun 2015 (``char_cnn``).

Both take ``tokens [N, L]`` int64 (id 0 is padding, right-padded batches of any length
``L >= 1``) and give logits ``[N, classes]``; ``forward_features`` gives the pooled
sentence vector ``[N, num_features]``. Max-over-time pooling ignores padding: windows
that hold no real token are masked out, so a sentence's prediction does not depend on how
much padding its batch adds. ReLU precedes the pooling, so masking with zeros is exact.

TextCNN (Kim 2014, "Convolutional neural networks for sentence classification"):
embeddings (300-d), parallel 1D convolutions of widths 3, 4, 5 with 100 filters each,
ReLU, max-over-time pooling, dropout 0.5, a linear head; optionally the max-norm
constraint (``max_norm=3``: each class's weight vector rescaled to l2 norm <= 3 after
every update). Convolutions are "wide" (``k - 1`` zero steps on both sides), as Kim's
code pads, so sentences shorter than a filter still work. Variants:

* ``rand``: embeddings drawn from U[-0.25, 0.25] and trained;
* ``static``: pretrained vectors (:meth:`TextCNN.load_vectors`), frozen;
* ``non-static``: pretrained vectors, fine-tuned;
* ``multichannel``: two embedding channels from the same vectors, one frozen, one
  fine-tuned; each filter spans both (``2 * embed_dim`` input channels).

With ``ngrams=True`` a TextCNN also holds an n-gram member (:class:`NgramMember`): a
linear model on the sentence's word uni- and bigrams and the character n-grams of its
words, whose weights are fitted outside the network (the text task fits naive-Bayes
features with logistic regression, NBSVM's recipe) and never trained by the optimizer. In
training mode the network returns the CNN's logits, so the loss trains the CNN alone; in
evaluation mode it returns the log of the mean of the two members' class probabilities
(an ensemble of two models that err differently: Mesnil et al. 2014 ensemble NBSVM with
neural models the same way).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from convkit.errors import ConfigError, ShapeError
from convkit.models.base import Classifier
from convkit.models.registry import register_model
from convkit.nn import conv, pool

VARIANTS = ("rand", "static", "non-static", "multichannel")
"""TextCNN's four embedding variants (Kim 2014, section 3.1)."""

CHAR_LEVEL_MODELS = frozenset({"char_cnn"})
"""Zoo models that read characters rather than words (the text task tokenizes for them)."""

PAD_ID = 0

BIGRAM_BUCKETS = 1 << 18
"""Hash buckets for word bigrams in :class:`NgramMember` (the hashing trick: no bigram
vocabulary to store; collisions are rare at sentence-corpus sizes)."""


def check_tokens(tokens: Tensor, name: str) -> None:
    """Raise a ShapeError naming ``name`` unless ``tokens`` is an integer ``[N, L]``."""
    if tokens.dim() != 2 or tokens.dtype.is_floating_point or tokens.dtype == torch.bool:
        raise ShapeError(f"{name} expects token ids [N, L] (int64); got a {tokens.dtype} tensor of "
                         f"shape {list(tokens.shape)}")


def window_mask(mask: Tensor, kernel_size: int, padding: int) -> Tensor:
    """``mask [N, 1, L]`` (1 at real tokens) -> ``[N, 1, L']``: 1 where a convolution window
    of ``kernel_size`` (with ``padding`` steps each side) holds at least one real token."""
    return F.max_pool1d(F.pad(mask, (padding, padding)), kernel_size, stride=1)


class NgramMember(nn.Module):
    """A linear model on the n-grams of token ids ``[N, L]`` -> logits ``[N, classes]``.

    Features, each counted once per sentence (binary, as NBSVM): word unigrams (feature =
    token id), word bigrams hashed into :data:`BIGRAM_BUCKETS` (``vocab_size + hash``), and
    the character n-grams of each word (``char_table [vocab_size, K]``: the ids of a
    vocabulary word's n-grams, 0-padded, offset by ``vocab_size + BIGRAM_BUCKETS``).
    Feature 0 is "none" (padding) and weighs nothing. ``weight [features, classes]`` and
    ``bias [classes]`` are buffers, set by :meth:`load_weights`."""

    def __init__(self, vocab_size: int, char_table: Tensor, num_classes: int) -> None:
        super().__init__()
        if char_table.dim() != 2 or char_table.shape[0] != vocab_size:
            raise ShapeError(f"NgramMember expects a char_table [{vocab_size}, K]; got {list(char_table.shape)}")
        self.vocab_size = vocab_size
        self.register_buffer("char_table", char_table.to(torch.int64), persistent=False)
        grams = int(char_table.max()) if char_table.numel() else 0
        self.num_features = vocab_size + BIGRAM_BUCKETS + grams + 1
        self.register_buffer("weight", torch.zeros(self.num_features, num_classes))
        self.register_buffer("bias", torch.zeros(num_classes))

    def features(self, tokens: Tensor) -> Tensor:
        """``tokens [N, L] -> [N, M]`` feature ids, each present feature once per row
        (duplicates and padding are 0)."""
        a, b = tokens[:, :-1], tokens[:, 1:]
        bigrams = self.vocab_size + (a * 1000003 + b) % BIGRAM_BUCKETS
        bigrams = torch.where((a != PAD_ID) & (b != PAD_ID), bigrams, torch.zeros_like(bigrams))
        chars = self.char_table[tokens].flatten(1)
        chars = torch.where(chars > 0, chars + self.vocab_size + BIGRAM_BUCKETS, torch.zeros_like(chars))
        ids = torch.cat([tokens, bigrams, chars], dim=1).sort(dim=1).values
        repeated = torch.cat([torch.zeros_like(ids[:, :1], dtype=torch.bool), ids[:, 1:] == ids[:, :-1]], dim=1)
        return ids.masked_fill(repeated, 0)

    def forward(self, tokens: Tensor) -> Tensor:
        """``tokens [N, L] -> [N, classes]``."""
        return self.weight[self.features(tokens)].sum(1) + self.bias

    def load_weights(self, weight: Tensor | np.ndarray, bias: Tensor | np.ndarray) -> None:
        """Set the fitted ``weight [features, classes]`` (row 0 kept zero) and ``bias``."""
        weight = torch.as_tensor(np.asarray(weight), dtype=torch.float32)
        if tuple(weight.shape) != tuple(self.weight.shape):
            raise ShapeError(f"NgramMember.load_weights expects weight {list(self.weight.shape)}; "
                             f"got {list(weight.shape)}")
        with torch.no_grad():
            self.weight.copy_(weight)
            self.weight[0].zero_()
            self.bias.copy_(torch.as_tensor(np.asarray(bias), dtype=torch.float32))


@dataclass(frozen=True)
class TextCNNConfig:
    """TextCNN settings: ``vocab_size`` (ids, padding included), ``embed_dim``, filter
    ``widths`` and ``filters`` per width, head ``dropout``, ``variant`` (see
    :data:`VARIANTS`), ``max_norm`` (l2 bound of the head's class vectors; 0: off) and
    ``ngrams`` (an n-gram member joins the CNN at evaluation; see the module docstring)."""

    vocab_size: int
    embed_dim: int = 300
    widths: tuple[int, ...] = (3, 4, 5)
    filters: int = 100
    dropout: float = 0.5
    variant: str = "rand"
    max_norm: float = 0.0
    ngrams: bool = False

    def __post_init__(self) -> None:
        if self.vocab_size < 2:
            raise ConfigError(f"textcnn vocab_size must be at least 2 (<pad> and <unk>); got {self.vocab_size}")
        if self.variant not in VARIANTS:
            raise ConfigError(f"textcnn variant must be one of {', '.join(VARIANTS)}; got {self.variant!r}")
        if not self.widths or min(self.widths) < 1 or self.filters < 1 or self.embed_dim < 1:
            raise ConfigError(f"textcnn widths, filters and embed_dim must be positive; got {list(self.widths)}, "
                              f"{self.filters}, {self.embed_dim}")
        if not 0 <= self.dropout < 1 or self.max_norm < 0:
            raise ConfigError(f"textcnn dropout must be in [0, 1) and max_norm >= 0; got {self.dropout}, "
                              f"{self.max_norm}")


class TextCNN(Classifier):
    """Kim's TextCNN: ``tokens [N, L] -> logits [N, classes]`` (see the module docstring).

    ``embedding`` is the trained channel (frozen for ``static``); ``static_embedding`` the
    frozen second channel of ``multichannel`` (None otherwise); ``ngram`` the n-gram member
    once :meth:`attach_ngrams` has built it (``ngrams=True``; None otherwise).
    """

    input_kind = "tokens"

    def __init__(self, config: TextCNNConfig, num_classes: int = 2) -> None:
        super().__init__()
        self.config = config
        self.spatial_dims, self.in_channels = 1, config.embed_dim
        self.max_norm = config.max_norm
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=PAD_ID)
        self.static_embedding = (nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=PAD_ID)
                                 if config.variant == "multichannel" else None)
        for table in self._tables():
            nn.init.uniform_(table.weight, -0.25, 0.25)  # Kim's U[-0.25, 0.25] for random vectors
            with torch.no_grad():
                table.weight[PAD_ID].zero_()
        if config.variant == "static":
            self.embedding.weight.requires_grad_(False)
        if self.static_embedding is not None:
            self.static_embedding.weight.requires_grad_(False)
        channels = config.embed_dim * (2 if self.static_embedding is not None else 1)
        self.convs = nn.ModuleList(conv(1, channels, config.filters, k, padding=k - 1) for k in config.widths)
        self._init_head(config.filters * len(config.widths), num_classes, config.dropout)
        self.ngram: NgramMember | None = None

    def attach_ngrams(self, char_table: Tensor) -> NgramMember:
        """Build the n-gram member over the vocabulary's character n-grams (``char_table
        [vocab_size, K]``, see :class:`NgramMember`), its weights zero until loaded (from
        a fit, or from a checkpoint's state). Only for ``ngrams=True``."""
        if not self.config.ngrams:
            raise ConfigError("textcnn: an n-gram member needs the option ngrams=true")
        self.ngram = NgramMember(self.config.vocab_size, char_table, self.num_classes)
        return self.ngram

    def forward(self, tokens: Tensor) -> Tensor:
        """``tokens [N, L] -> [N, classes]``: the CNN's logits; with an n-gram member, in
        evaluation mode the log of the mean of both members' class probabilities."""
        logits = self.forward_head(self.forward_features(tokens))
        if self.ngram is None or self.training:
            return logits
        return torch.log((logits.softmax(1) + self.ngram(tokens).softmax(1)) / 2)

    def _tables(self) -> list[nn.Embedding]:
        return [t for t in (self.embedding, self.static_embedding) if t is not None]

    def load_vectors(self, vectors: Tensor | np.ndarray) -> None:
        """Copy pretrained vectors ``[vocab_size, embed_dim]`` into every embedding channel
        (row 0, padding, is kept zero)."""
        vectors = torch.as_tensor(np.asarray(vectors), dtype=torch.float32)
        expected = (self.config.vocab_size, self.config.embed_dim)
        if tuple(vectors.shape) != expected:
            raise ShapeError(f"textcnn.load_vectors expects vectors {list(expected)}; got {list(vectors.shape)}")
        with torch.no_grad():
            for table in self._tables():
                table.weight.copy_(vectors)
                table.weight[PAD_ID].zero_()

    def embed(self, tokens: Tensor) -> Tensor:
        """``tokens [N, L] -> [N, channels, L]`` (the embedding channels stacked)."""
        return torch.cat([t(tokens) for t in self._tables()], dim=2).transpose(1, 2)

    def forward_features(self, tokens: Tensor) -> Tensor:
        """``tokens [N, L] -> [N, filters * len(widths)]``: per width, ReLU of the wide
        convolution, then the maximum over the windows that touch a real token."""
        check_tokens(tokens, "textcnn")
        x = self.embed(tokens)
        mask = (tokens != PAD_ID).unsqueeze(1).to(x.dtype)  # [N, 1, L]
        pooled = []
        for layer, k in zip(self.convs, self.config.widths):
            h = F.relu(layer(x)) * window_mask(mask, k, k - 1)
            pooled.append(h.amax(dim=2))
        return torch.cat(pooled, dim=1)

    def forward_head(self, features: Tensor) -> Tensor:
        """``[N, num_features] -> [N, classes]``; in training the max-norm constraint is
        applied first (so it holds after every optimizer step)."""
        if self.training:
            self.apply_max_norm()
        return self.head(features)

    def apply_max_norm(self) -> None:
        """Rescale each class's head weight vector to l2 norm <= ``max_norm`` (Kim's
        constraint; nothing when ``max_norm`` is 0 or there is no head)."""
        if self.max_norm > 0 and isinstance(self.head, nn.Sequential):
            weight = self.head[-1].weight
            with torch.no_grad():
                weight.copy_(torch.renorm(weight, p=2, dim=0, maxnorm=self.max_norm))

    def train(self, mode: bool = True) -> "TextCNN":
        """As ``nn.Module.train``; switching to evaluation also applies the max-norm
        constraint, so it holds after the last update too."""
        if not mode:
            self.apply_max_norm()
        return super().train(mode)

    def param_groups(self, weight_decay: float) -> list[dict]:
        """Optimizer groups: conv and head weights decay, biases and embeddings do not;
        frozen embeddings are left out."""
        decay, no_decay = [], []
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            (decay if p.dim() > 1 and "embedding" not in name else no_decay).append(p)
        return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


@register_model(domain="text", input_kind="tokens")
def textcnn(vocab_size: int = 20000, num_classes: int = 2, embed_dim: int = 300,
            widths: tuple[int, ...] | list[int] = (3, 4, 5), filters: int = 100, dropout: float = 0.5,
            variant: str = "rand", max_norm: float = 0.0, ngrams: bool = False, **_ignored) -> TextCNN:
    """Kim 2014's TextCNN on token ids ``[N, L]`` (``vocab_size`` ids, 0 = padding);
    ``ngrams``: with an n-gram member (:meth:`TextCNN.attach_ngrams`)."""
    _check_ignored("textcnn", _ignored)
    return TextCNN(TextCNNConfig(vocab_size, embed_dim, tuple(widths), filters, dropout, variant, max_norm,
                                 bool(ngrams)), num_classes)


# --------------------------------------------------------------------------- character level


@dataclass(frozen=True)
class CharCNNConfig:
    """Character CNN settings: ``vocab_size`` (characters, padding and unknown included),
    ``channels`` per conv layer, conv ``kernels``, ``pool_after`` (layer indices followed by
    max pooling of 3), ``hidden`` units of the two fully connected layers, ``dropout``."""

    vocab_size: int
    channels: int = 256
    kernels: tuple[int, ...] = (7, 7, 3, 3, 3, 3)
    pool_after: tuple[int, ...] = (0, 1, 5)
    hidden: int = 1024
    dropout: float = 0.5

    def __post_init__(self) -> None:
        if self.vocab_size < 3 or self.channels < 1 or self.hidden < 1 or not self.kernels:
            raise ConfigError("char_cnn needs vocab_size >= 3 and positive channels, hidden and kernels; got "
                              f"{self.vocab_size}, {self.channels}, {self.hidden}, {list(self.kernels)}")
        if any(not 0 <= i < len(self.kernels) for i in self.pool_after):
            raise ConfigError(f"char_cnn pool_after must index the {len(self.kernels)} conv layers; "
                              f"got {list(self.pool_after)}")


class CharCNN(Classifier):
    """Character-level CNN after Zhang et al. 2015 ("small" sizes by default):
    ``tokens [N, L]`` character ids -> one-hot ``[N, V, L]`` (padding and unknown are
    all-zero, as in the paper) -> six ReLU convolutions (kernels 7, 7, 3, 3, 3, 3; max
    pooling of 3 after the 1st, 2nd and 6th) -> max over time -> two ReLU fully connected
    layers with dropout -> head.

    Departures from the paper, for sentences of any length: "same"-padded convolutions
    and a masked max over time instead of a fixed 1014-character input flattened into the
    first fully connected layer; positions past the sentence are zeroed after every layer.
    """

    input_kind = "tokens"

    def __init__(self, config: CharCNNConfig, num_classes: int = 2) -> None:
        super().__init__()
        self.config = config
        self.spatial_dims, self.in_channels = 1, config.vocab_size
        onehot = torch.eye(config.vocab_size)
        onehot[:2] = 0.0  # <pad> and <unk>: all-zero vectors
        self.register_buffer("onehot", onehot, persistent=False)
        layers, channels = [], config.vocab_size
        for k in config.kernels:
            layers.append(conv(1, channels, config.channels, k))
            channels = config.channels
        self.convs = nn.ModuleList(layers)
        self.pool = pool(1, "max", 3, stride=3, padding=1, ceil_mode=True)  # no real step dropped
        self.fc = nn.Sequential(nn.Linear(config.channels, config.hidden), nn.ReLU(), nn.Dropout(config.dropout),
                                nn.Linear(config.hidden, config.hidden), nn.ReLU())
        self._init_head(config.hidden, num_classes, config.dropout)

    def forward_features(self, tokens: Tensor) -> Tensor:
        """``tokens [N, L] -> [N, hidden]``."""
        check_tokens(tokens, "char_cnn")
        x = F.embedding(tokens, self.onehot).transpose(1, 2)  # [N, V, L]
        mask = (tokens != PAD_ID).unsqueeze(1).to(x.dtype)
        for i, layer in enumerate(self.convs):
            x = F.relu(layer(x)) * mask
            if i in self.config.pool_after:
                x, mask = self.pool(x), self.pool(mask)
        return self.fc(x.amax(dim=2))


@register_model(domain="text", input_kind="tokens")
def char_cnn(vocab_size: int = 72, num_classes: int = 2, channels: int = 256,
             kernels: tuple[int, ...] | list[int] = (7, 7, 3, 3, 3, 3),
             pool_after: tuple[int, ...] | list[int] = (0, 1, 5), hidden: int = 1024, dropout: float = 0.5,
             **_ignored) -> CharCNN:
    """Zhang et al. 2015's character CNN ("small": 256 channels, 1024 hidden) on
    character ids ``[N, L]``."""
    _check_ignored("char_cnn", _ignored)
    return CharCNN(CharCNNConfig(vocab_size, channels, tuple(kernels), tuple(pool_after), hidden, dropout),
                   num_classes)


def _check_ignored(name: str, options: dict) -> None:
    """Token models take no ``in_channels``/``spatial_dims`` beyond the grid defaults a
    generic caller passes (``spatial_dims=1``); anything else is an unknown option."""
    unknown = {k: v for k, v in options.items() if k not in ("spatial_dims", "in_channels")}
    if unknown:
        raise ConfigError(f"model {name!r}: unknown options {sorted(unknown)}")
