"""Text CNNs (convkit.models.text): Kim's TextCNN sizes and variants, max-over-time pooling
that ignores padding, the max-norm constraint, optimizer groups, the character CNN, and
ONNX export with a dynamic sequence axis."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from convkit.errors import ConfigError, ShapeError
from convkit.models import create_model, get_entry
from convkit.models.text import CHAR_LEVEL_MODELS, TextCNN


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small(variant: str = "rand", **options) -> TextCNN:
    torch.manual_seed(0)
    return create_model("textcnn", vocab_size=30, num_classes=3, embed_dim=8, filters=4, variant=variant, **options)


def test_kim_sizes_by_default():
    model = create_model("textcnn", vocab_size=1000, num_classes=2)
    assert model.embedding.weight.shape == (1000, 300)
    assert [c.weight.shape for c in model.convs] == [(100, 300, k) for k in (3, 4, 5)]
    assert model.num_features == 300 and model.head[0].p == 0.5
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == 1000 * 300 + sum(100 * 300 * k + 100 for k in (3, 4, 5)) + 300 * 2 + 2
    assert get_entry("textcnn").domain == "text"
    features = model.eval().forward_features(torch.randint(2, 1000, (2, 7)))
    assert features.shape == (2, 300)


def test_random_embeddings_are_uniform_quarter_and_padding_row_zero():
    model = create_model("textcnn", vocab_size=500, embed_dim=50)
    w = model.embedding.weight.detach()
    assert torch.all(w[0] == 0) and w[1:].abs().max() <= 0.25 and w[1:].std() > 0.1


@pytest.mark.parametrize("variant", ["rand", "static", "non-static", "multichannel"])
def test_prediction_ignores_padding_and_any_length_works(variant):
    model = small(variant).eval()
    sentence = torch.tensor([[5, 9, 2]])
    padded = torch.tensor([[5, 9, 2] + [0] * 9])
    with torch.no_grad():
        assert torch.allclose(model(sentence), model(padded), atol=1e-6)
        assert model(torch.tensor([[7]])).shape == (1, 3)  # shorter than every filter
        batch = torch.tensor([[5, 9, 2, 0, 0], [3, 3, 3, 3, 3]])
        assert torch.allclose(model(batch)[0], model(sentence)[0], atol=1e-6)


def test_pooling_ignores_windows_of_only_padding():
    """With a large positive bias every filter responds to all-zero (padding) windows; those
    windows must not win the max."""
    model = small().eval()
    with torch.no_grad():
        for layer in model.convs:
            layer.bias.fill_(10.0)
            layer.weight.fill_(-1.0)
        model.embedding.weight[1:].fill_(1.0)  # real tokens drive every filter below 10
        features = model.forward_features(torch.tensor([[4, 4, 4, 0, 0, 0, 0, 0]]))
    # a window touching real tokens sums -1 * (#real tokens * 8) + 10; the best such
    # window holds one real token (width k, at the sentence edge): 10 - 8 = 2
    assert torch.allclose(features, torch.full_like(features, 2.0))


def test_variants_freeze_the_right_embeddings_and_load_vectors():
    vectors = torch.randn(30, 8)
    for variant, trained, frozen in [("rand", 1, 0), ("static", 0, 1), ("non-static", 1, 0),
                                     ("multichannel", 1, 1)]:
        model = small(variant)
        model.load_vectors(vectors)
        tables = [t for t in (model.embedding, model.static_embedding) if t is not None]
        assert sum(t.weight.requires_grad for t in tables) == trained
        assert sum(not t.weight.requires_grad for t in tables) == frozen
        for t in tables:
            assert torch.all(t.weight[0] == 0) and torch.allclose(t.weight[1:], vectors[1:])
    multichannel = small("multichannel")
    assert multichannel.convs[0].weight.shape[1] == 16  # both channels feed every filter
    with pytest.raises(ShapeError, match=r"load_vectors expects vectors \[30, 8\]"):
        multichannel.load_vectors(torch.zeros(30, 5))


def test_static_channel_stays_fixed_while_training():
    model = small("multichannel")
    model.load_vectors(torch.randn(30, 8))
    before_static = model.static_embedding.weight.clone()
    before_trained = model.embedding.weight.clone()
    opt = torch.optim.Adam([p for g in model.param_groups(0.0) for p in g["params"]], lr=0.1)
    tokens, labels = torch.randint(1, 30, (6, 5)), torch.tensor([0, 1, 2, 0, 1, 2])
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(model(tokens), labels).backward()
        opt.step()
    assert torch.equal(model.static_embedding.weight, before_static)
    assert not torch.equal(model.embedding.weight, before_trained)
    assert torch.all(model.embedding.weight[0] == 0)


def test_param_groups_leave_out_frozen_and_do_not_decay_embeddings_or_biases():
    model = small("static")
    decay, no_decay = model.param_groups(0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    ids = lambda ps: {id(p) for p in ps}  # noqa: E731
    assert ids(decay["params"]) == ids([c.weight for c in model.convs] + [model.head[1].weight])
    assert id(model.embedding.weight) not in ids(decay["params"]) | ids(no_decay["params"])
    rand = small("rand")
    assert id(rand.embedding.weight) in ids(rand.param_groups(0.1)[1]["params"])


def test_max_norm_bounds_each_class_vector_after_training_steps_and_on_eval():
    model = small(max_norm=3.0)
    with torch.no_grad():
        model.head[1].weight.mul_(100.0)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    tokens, labels = torch.randint(1, 30, (6, 5)), torch.tensor([0, 1, 2, 0, 1, 2])
    opt.zero_grad()
    F.cross_entropy(model(tokens), labels).backward()  # forward projected the weights first
    opt.step()
    model.eval()
    norms = model.head[1].weight.norm(dim=1)
    assert torch.all(norms <= 3.0 + 1e-5) and torch.any(norms > 2.9)
    unconstrained = small()
    with torch.no_grad():
        unconstrained.head[1].weight.mul_(100.0)
    unconstrained.train()(tokens)
    assert unconstrained.eval().head[1].weight.norm(dim=1).max() > 3.0


def test_bad_options_and_inputs():
    with pytest.raises(ConfigError, match="variant must be one of rand, static, non-static, multichannel"):
        create_model("textcnn", vocab_size=10, variant="dynamic")
    with pytest.raises(ConfigError, match=r"unknown options \['depth'\]"):
        create_model("textcnn", vocab_size=10, depth=3)
    with pytest.raises(ShapeError, match=r"textcnn expects token ids \[N, L\] \(int64\)"):
        small()(torch.randn(2, 8, 5))


def test_char_cnn_shapes_padding_and_paper_sizes():
    assert "char_cnn" in CHAR_LEVEL_MODELS
    big = create_model("char_cnn", vocab_size=72, num_classes=4)
    assert [c.weight.shape[-1] for c in big.convs] == [7, 7, 3, 3, 3, 3] and big.num_features == 1024
    torch.manual_seed(0)
    model = create_model("char_cnn", vocab_size=20, num_classes=3, channels=8, hidden=16).eval()
    chars = torch.randint(2, 20, (1, 23))
    with torch.no_grad():
        out = model(chars)
        assert out.shape == (1, 3)
        assert torch.allclose(out, model(F.pad(chars, (0, 17))), atol=1e-6)
        assert model(torch.tensor([[5]])).shape == (1, 3)
    assert torch.all(model.onehot[:2] == 0) and torch.equal(model.onehot[2:, 2:], torch.eye(18))


@pytest.mark.parametrize("name,options", [("textcnn", dict(embed_dim=8, filters=4, variant="multichannel")),
                                          ("char_cnn", dict(channels=8, hidden=16))])
def test_onnx_export_takes_any_sentence_length(tmp_path, name, options):
    onnxruntime = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = create_model(name, vocab_size=30, num_classes=2, **options).eval()
    path = tmp_path / "m.onnx"
    torch.onnx.export(model, (torch.randint(1, 30, (2, 9)),), str(path), input_names=["tokens"],
                      output_names=["logits"], dynamic_axes={"tokens": {0: "batch", 1: "length"}},
                      dynamo=False)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for length in (1, 4, 37):
        tokens = torch.randint(1, 30, (3, length))
        tokens[0, length // 2 + 1:] = 0
        (got,) = session.run(None, {"tokens": tokens.numpy()})
        with torch.no_grad():
            np.testing.assert_allclose(got, model(tokens).numpy(), atol=1e-4)
