"""Oracle: LayerNorm, causal attention, MultiHeadSelfAttention, GELU, PositionalEmbedding,
TransformerBlock and a whole character transformer against PyTorch float64 autograd.

Conventions, the same in both: layer norm over the last axis with the biased variance
(``F.layer_norm``); attention ``softmax(q k^T / sqrt(d)) v`` with the causal mask of
``F.scaled_dot_product_attention(..., is_causal=True)`` (query i sees keys 0..i); heads are
consecutive column blocks of the projections; GELU in the tanh approximation
(``F.gelu(x, approximate="tanh")``). The kit stores weights as (in, out) and multiplies
``x @ W``, so torch gets ``F.linear(x, W.T, b)``.
"""

import numpy as np
import pytest
from torch_oracle import assert_matches, check_layer, randomize_parameters, run_reference, torch

from backprop_kit.layers import (
    GELU,
    Embedding,
    LayerNorm,
    MultiHeadSelfAttention,
    PositionalEmbedding,
    Sequential,
    TemporalLinear,
    TransformerBlock,
)
from backprop_kit.layers.attention import (
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
)

F = torch.nn.functional


def torch_attention(x, Wq, Wk, Wv, Wo, bq, bv, bo, n_heads, causal=True):
    """The kit's MultiHeadSelfAttention written with torch operations."""
    n, steps, dim = x.shape

    def split(a):
        return a.reshape(n, steps, n_heads, dim // n_heads).transpose(1, 2)

    q, k, v = split(x @ Wq + bq), split(x @ Wk), split(x @ Wv + bv)
    heads = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    return heads.transpose(1, 2).reshape(n, steps, dim) @ Wo + bo


def torch_block(t, prefix, x, n_heads):
    """A pre-LN block from the leaves named ``<prefix>ln1.gamma`` and so on."""
    def p(name):
        return t[prefix + name]

    dim = x.shape[-1]
    a = F.layer_norm(x, (dim,), p("ln1.gamma"), p("ln1.beta"), eps=1e-5)
    h = x + torch_attention(a, *(p(f"attn.{k}") for k in ("Wq", "Wk", "Wv", "Wo", "bq", "bv",
                                                           "bo")), n_heads)
    m = F.layer_norm(h, (dim,), p("ln2.gamma"), p("ln2.beta"), eps=1e-5)
    m = F.gelu(F.linear(m, p("mlp.0.W").T, p("mlp.0.b")), approximate="tanh")
    return h + F.linear(m, p("mlp.2.W").T, p("mlp.2.b"))


@pytest.mark.parametrize("shape", [(3, 5, 4), (7, 6)])
def test_layernorm_matches_torch(shape):
    rng = np.random.default_rng(0)
    layer = LayerNorm(shape[-1], eps=1e-3)
    randomize_parameters(layer, rng)
    check_layer(layer, 2 * rng.standard_normal(shape) + 1,
                lambda t: F.layer_norm(t["x"], (shape[-1],), t["gamma"], t["beta"], eps=1e-3),
                rng)


@pytest.mark.parametrize("causal", [True, False])
def test_scaled_dot_product_attention_functions_match_torch(causal):
    """(N, H, T, d) queries and keys, values with another width d_v."""
    rng = np.random.default_rng(1)
    arrays = {"q": rng.standard_normal((2, 3, 6, 4)), "k": rng.standard_normal((2, 3, 6, 4)),
              "v": rng.standard_normal((2, 3, 6, 5))}
    out, probs = scaled_dot_product_attention(*arrays.values(), causal=causal)
    dout = rng.standard_normal(out.shape)
    grads = scaled_dot_product_attention_backward(dout, *arrays.values(), probs)
    ref_out, ref_grads = run_reference(
        lambda t: F.scaled_dot_product_attention(t["q"], t["k"], t["v"], is_causal=causal),
        arrays, dout)
    assert_matches(out, ref_out, "out")
    for name, grad in zip("qkv", grads, strict=True):
        assert_matches(grad, ref_grads[name], f"d{name}")


@pytest.mark.parametrize(("dim", "n_heads", "causal"), [(6, 2, True), (8, 4, False),
                                                        (5, 1, True)])
def test_multi_head_self_attention_matches_torch(dim, n_heads, causal):
    rng = np.random.default_rng(2)
    layer = MultiHeadSelfAttention(dim, n_heads, rng=rng, causal=causal)
    randomize_parameters(layer, rng)
    check_layer(layer, rng.standard_normal((3, 7, dim)),
                lambda t: torch_attention(t["x"], *(t[k] for k in ("Wq", "Wk", "Wv", "Wo", "bq",
                                                                   "bv", "bo")),
                                          n_heads, causal), rng)


def test_multi_head_self_attention_matches_torchs_own_multihead_attention_module():
    """nn.MultiheadAttention holds (out, in) weights and a key bias; with that bias at zero it
    computes the kit's layer (its attention weights, averaged over heads, included)."""
    rng = np.random.default_rng(3)
    dim, n_heads = 6, 3
    layer = MultiHeadSelfAttention(dim, n_heads, rng=rng)
    randomize_parameters(layer, rng)
    p = {k: torch.tensor(v) for k, v in layer.params.items()}
    module = torch.nn.MultiheadAttention(dim, n_heads, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        module.in_proj_weight.copy_(torch.cat([p["Wq"].T, p["Wk"].T, p["Wv"].T]))
        module.in_proj_bias.copy_(torch.cat([p["bq"], torch.zeros(dim, dtype=torch.float64),
                                             p["bv"]]))
        module.out_proj.weight.copy_(p["Wo"].T)
        module.out_proj.bias.copy_(p["bo"])
    x = rng.standard_normal((2, 5, dim))
    mask = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)  # True = masked here
    ref, ref_weights = module(*(torch.tensor(x),) * 3, attn_mask=mask)
    assert_matches(layer.forward(x), ref, "y")
    assert_matches(layer.cache.probs.mean(axis=1), ref_weights, "attention weights")


def test_gelu_matches_torchs_tanh_approximation():
    rng = np.random.default_rng(4)
    check_layer(GELU(), 3 * rng.standard_normal((4, 5, 3)),
                lambda t: F.gelu(t["x"], approximate="tanh"), rng)


def test_positional_embedding_matches_torch():
    rng = np.random.default_rng(5)
    layer = PositionalEmbedding(9, 4, rng=rng)
    check_layer(layer, rng.standard_normal((3, 6, 4)), lambda t: t["x"] + t["P"][:6], rng)


@pytest.mark.parametrize(("dim", "n_heads", "mlp_ratio"), [(6, 2, 4), (8, 4, 2)])
def test_transformer_block_matches_torch(dim, n_heads, mlp_ratio):
    rng = np.random.default_rng(6)
    block = TransformerBlock(dim, n_heads, rng=rng, mlp_ratio=mlp_ratio)
    randomize_parameters(block, rng)
    check_layer(block, rng.standard_normal((2, 7, dim)),
                lambda t: torch_block(t, "", t["x"], n_heads), rng)


def test_a_two_block_character_transformer_matches_torch():
    """Embedding, positions, two blocks, a final layer norm and the readout, from token ids
    (no input gradient: the model's first layer is the embedding)."""
    rng = np.random.default_rng(7)
    vocab, dim, n_heads = 11, 8, 2
    model = Sequential(Embedding(vocab, dim, rng=rng), PositionalEmbedding(6, dim, rng=rng),
                       TransformerBlock(dim, n_heads, rng=rng, mlp_ratio=2),
                       TransformerBlock(dim, n_heads, rng=rng, mlp_ratio=2), LayerNorm(dim),
                       TemporalLinear(dim, vocab, rng=rng))
    randomize_parameters(model, rng)
    ids = rng.integers(0, vocab, size=(3, 6))

    def reference(t):
        h = t["0.W"][t["x"]] + t["1.P"][:6]
        h = torch_block(t, "2.", h, n_heads)
        h = torch_block(t, "3.", h, n_heads)
        h = F.layer_norm(h, (dim,), t["4.gamma"], t["4.beta"], eps=1e-5)
        return F.linear(h, t["5.W"].T, t["5.b"])

    check_layer(model, ids, reference, rng, input_grad=False)
