"""LayerNorm, causal attention (functions and MultiHeadSelfAttention), GELU, PositionalEmbedding
and TransformerBlock: gradients by finite differences (float64, random upstream gradients,
shapes whose sizes all differ), the forward formulas, causality, the compact layer-norm
identities, dtypes, cache sizes and error messages."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_kit.gradcheck import check_gradients, check_layer
from backprop_kit.layers import (
    GELU,
    LayerNorm,
    MultiHeadSelfAttention,
    PositionalEmbedding,
    TransformerBlock,
)
from backprop_kit.layers.attention import (
    causal_mask,
    masked_softmax,
    masked_softmax_backward,
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
)
from backprop_kit.memory import nbytes_held


def randomized(layer, rng, scale=0.5):
    """Parameters of both signs (gamma around 1), so that no gradient is special by accident."""
    for name, param in layer.params.items():
        param[...] = scale * rng.standard_normal(param.shape) + (1.0 if "gamma" in name else 0)
    return layer


# ---------------------------------------------------------------------------------------
# LayerNorm


@pytest.mark.parametrize("shape", [(3, 5, 4), (6, 7), (2, 1, 3, 5)])
def test_layernorm_backward_matches_finite_differences(shape):
    rng = np.random.default_rng(0)
    layer = randomized(LayerNorm(shape[-1]), rng)
    report = check_layer(layer, 2 * rng.standard_normal(shape) + 1, seed=1)
    report.raise_if_failed()
    assert [array.name for array in report.arrays] == ["x", "gamma", "beta"]


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 3), steps=st.integers(1, 4), dim=st.integers(3, 6),
       seed=st.integers(0, 2**16))
def test_layernorm_gradients_are_right_for_all_small_shapes(n, steps, dim, seed):
    # dim >= 3: with two features x_hat is +-1 whatever x is, and dx is only the tiny eps term
    rng = np.random.default_rng(seed)
    layer = randomized(LayerNorm(dim), rng)
    check_layer(layer, 3 * rng.standard_normal((n, steps, dim)), seed=seed).raise_if_failed()


def test_layernorm_forward_normalizes_every_vector_on_its_own():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 6)) * np.array([0.1, 1.0, 10.0])[:, None] + 5
    layer = randomized(LayerNorm(6, eps=1e-3), rng)
    expected = np.empty_like(x)
    for n in range(4):
        for t in range(3):
            v = x[n, t]
            expected[n, t] = (layer.params["gamma"] * (v - v.mean()) / np.sqrt(v.var() + 1e-3)
                              + layer.params["beta"])
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)
    # a batch of one works, and the training flag changes nothing
    np.testing.assert_allclose(layer.eval().forward(x[:1, :1]), expected[:1, :1], rtol=1e-12)


def test_layernorm_dx_of_every_vector_sums_to_zero_and_is_orthogonal_to_x_hat():
    rng = np.random.default_rng(2)
    layer = randomized(LayerNorm(5, eps=0.0), rng)
    layer.forward(rng.standard_normal((3, 4, 5)))
    dx = layer.backward(rng.standard_normal((3, 4, 5)))
    np.testing.assert_allclose(dx.sum(axis=-1), 0.0, atol=1e-12)
    np.testing.assert_allclose((dx * layer.cache.x_hat).sum(axis=-1), 0.0, atol=1e-12)


def test_layernorm_parameter_gradients_sum_over_every_leading_axis_and_are_overwritten():
    rng = np.random.default_rng(3)
    layer = LayerNorm(4)
    dgamma = layer.grads["gamma"]
    for _ in range(2):
        layer.forward(rng.standard_normal((2, 3, 4)))
        dy = rng.standard_normal((2, 3, 4))
        layer.backward(dy)
        assert layer.grads["gamma"] is dgamma
        np.testing.assert_allclose(layer.grads["beta"], dy.sum(axis=(0, 1)), rtol=1e-12)
        np.testing.assert_allclose(dgamma, (dy * layer.cache.x_hat).sum(axis=(0, 1)),
                                   rtol=1e-12)


def test_gradient_checker_catches_a_layernorm_backward_that_normalizes_over_the_batch():
    class OverTheBatch(LayerNorm):
        """Planted bug: the batch-norm formula, means over axis 0 instead of the features."""

        def backward(self, dy):
            super().backward(dy)
            x_hat, s = self.cache.x_hat, self.cache.inv_std
            g = dy * self.params["gamma"]
            return s * (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0))

    rng = np.random.default_rng(4)
    report = check_layer(randomized(OverTheBatch(3), rng), rng.standard_normal((5, 3)))
    assert not report["x"].passed and report["gamma"].passed and report["beta"].passed


# ---------------------------------------------------------------------------------------
# The attention functions


def test_causal_mask_keeps_the_diagonal_and_everything_below():
    np.testing.assert_array_equal(causal_mask(3), [[1, 0, 0], [1, 1, 0], [1, 1, 1]])


def test_masked_softmax_is_the_softmax_of_the_kept_entries_and_zero_elsewhere():
    rng = np.random.default_rng(5)
    scores = rng.standard_normal((2, 4, 4)) * 3
    probs = masked_softmax(scores, causal_mask(4))
    for n in range(2):
        for i in range(4):
            kept = np.exp(scores[n, i, :i + 1] - scores[n, i, :i + 1].max())
            np.testing.assert_allclose(probs[n, i, :i + 1], kept / kept.sum(), rtol=1e-12)
            assert np.all(probs[n, i, i + 1:] == 0)
    # huge scores do not overflow, and no mask is the plain softmax
    big = masked_softmax(np.array([[1000.0, -1000.0, 999.0]]), None)
    np.testing.assert_allclose(big, [[1 / (1 + np.exp(-1)), 0, np.exp(-1) / (1 + np.exp(-1))]])


@pytest.mark.parametrize("causal", [True, False])
def test_masked_softmax_backward_matches_finite_differences(causal):
    rng = np.random.default_rng(6)
    mask = causal_mask(5) if causal else None

    def forward(scores):
        return masked_softmax(scores, mask)

    def backward(dprobs):
        return {"scores": masked_softmax_backward(dprobs, masked_softmax(scores, mask))}

    scores = rng.standard_normal((2, 3, 5, 5))
    check_gradients(forward, backward, {"scores": scores}, seed=7).raise_if_failed()
    dscores = backward(rng.standard_normal(scores.shape))["scores"]
    if causal:  # masked scores get exactly zero gradient
        assert np.all(dscores[..., ~causal_mask(5)] == 0)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("shape", [((2, 5, 3), 4), ((3, 2, 4, 2), 5), ((1, 1, 3), 1)])
def test_attention_backward_matches_finite_differences(shape, causal):
    """q, k (..., T, d), v (..., T, d_v): a batch, a batch of heads, a single step."""
    qk_shape, d_v = shape
    rng = np.random.default_rng(8)
    inputs = {"q": rng.standard_normal(qk_shape), "k": rng.standard_normal(qk_shape),
              "v": rng.standard_normal((*qk_shape[:-1], d_v))}
    last = {}

    def forward(q, k, v):
        out, last["probs"] = scaled_dot_product_attention(q, k, v, causal=causal)
        return out

    def backward(dout):
        dq, dk, dv = scaled_dot_product_attention_backward(dout, *inputs.values(),
                                                           last["probs"])
        return {"q": dq, "k": dk, "v": dv}

    check_gradients(forward, backward, inputs, seed=9).raise_if_failed()


def test_gradient_checker_catches_an_attention_backward_without_the_scale():
    rng = np.random.default_rng(10)
    inputs = {name: rng.standard_normal((2, 4, 3)) for name in "qkv"}
    last = {}

    def forward(q, k, v):
        out, last["probs"] = scaled_dot_product_attention(q, k, v)
        return out

    def backward(dout):
        dq, dk, dv = scaled_dot_product_attention_backward(dout, *inputs.values(),
                                                           last["probs"])
        return {"q": dq * np.sqrt(3), "k": dk * np.sqrt(3), "v": dv}

    report = check_gradients(forward, backward, inputs)
    assert not report["q"].passed and not report["k"].passed and report["v"].passed


def test_attention_is_causal_a_later_input_never_changes_an_earlier_output():
    rng = np.random.default_rng(11)
    layer = randomized(MultiHeadSelfAttention(6, 3, rng=rng), rng)
    x = rng.standard_normal((2, 7, 6))
    y = layer.forward(x)
    changed = x.copy()
    changed[:, 4:] += rng.standard_normal((2, 3, 6))
    y_changed = layer.forward(changed)
    np.testing.assert_array_equal(y_changed[:, :4], y[:, :4])
    assert not np.allclose(y_changed[:, 4:], y[:, 4:])
    probs = layer.cache.probs
    assert probs.shape == (2, 3, 7, 7)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-12)
    assert np.all(probs[..., ~causal_mask(7)] == 0)


def test_a_fully_masked_row_is_refused_with_a_message():
    mask = np.array([[True, False], [False, False]])
    with pytest.raises(ValueError, match="at least one key"):
        masked_softmax(np.zeros((2, 2)), mask)


def test_attention_functions_name_the_wrong_shape():
    q = np.zeros((2, 5, 3))
    with pytest.raises(ValueError, match=r"k must have the shape of q \(2, 5, 3\)"):
        scaled_dot_product_attention(q, np.zeros((2, 5, 4)), np.zeros((2, 5, 4)))
    with pytest.raises(ValueError, match=r"v must have shape \(2, 5, d_v\)"):
        scaled_dot_product_attention(q, q, np.zeros((2, 4, 4)))
    out, probs = scaled_dot_product_attention(q, q, q)
    with pytest.raises(ValueError, match="dout must have shape"):
        scaled_dot_product_attention_backward(np.zeros((2, 5, 4)), q, q, q, probs)


# ---------------------------------------------------------------------------------------
# MultiHeadSelfAttention


@pytest.mark.parametrize(("dim", "n_heads", "causal"), [(6, 2, True), (6, 3, False), (4, 1, True),
                                                        (8, 4, True)])
def test_multi_head_attention_backward_matches_finite_differences(dim, n_heads, causal):
    rng = np.random.default_rng(12)
    layer = randomized(MultiHeadSelfAttention(dim, n_heads, rng=rng, causal=causal), rng)
    report = check_layer(layer, rng.standard_normal((3, 5, dim)), seed=13)
    report.raise_if_failed()
    assert [array.name for array in report.arrays] == ["x", "Wq", "Wk", "Wv", "Wo", "bq", "bv",
                                                       "bo"]


def test_multi_head_attention_is_its_heads_side_by_side_then_projected():
    """Each head is the function on its own slice of the projections' columns."""
    rng = np.random.default_rng(14)
    layer = randomized(MultiHeadSelfAttention(6, 2, rng=rng), rng)
    x = rng.standard_normal((2, 4, 6))
    p = layer.params
    q, k, v = x @ p["Wq"] + p["bq"], x @ p["Wk"], x @ p["Wv"] + p["bv"]
    heads = [scaled_dot_product_attention(q[..., h * 3:(h + 1) * 3], k[..., h * 3:(h + 1) * 3],
                                          v[..., h * 3:(h + 1) * 3])[0] for h in range(2)]
    expected = np.concatenate(heads, axis=-1) @ p["Wo"] + p["bo"]
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)


def test_multi_head_attention_cache_holds_5_n_t_d_numbers_and_the_n_h_t_t_weights():
    rng = np.random.default_rng(15)
    layer = MultiHeadSelfAttention(8, 4, rng=rng)
    layer.forward(rng.standard_normal((3, 10, 8)))
    assert nbytes_held(layer.cache.probs) == 3 * 4 * 10 * 10 * 8
    assert nbytes_held(layer.cache) == (5 * 3 * 10 * 8 + 3 * 4 * 10 * 10) * 8


def test_multi_head_attention_errors_name_what_was_expected():
    rng = np.random.default_rng(16)
    with pytest.raises(ValueError, match="n_heads must divide dim"):
        MultiHeadSelfAttention(6, 4, rng=rng)
    layer = MultiHeadSelfAttention(6, 2, rng=rng)
    with pytest.raises(ValueError, match=r"x must have shape \(N, T, 6\), got \(2, 3, 5\)"):
        layer.forward(np.zeros((2, 3, 5)))
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.zeros((2, 3, 6)))
    layer.forward(np.zeros((2, 3, 6)))
    with pytest.raises(ValueError, match=r"dy must have shape \(2, 3, 6\), got \(2, 6, 3\)"):
        layer.backward(np.zeros((2, 6, 3)))


# ---------------------------------------------------------------------------------------
# GELU and PositionalEmbedding


def test_gelu_backward_matches_finite_differences():
    rng = np.random.default_rng(17)
    check_layer(GELU(), 3 * rng.standard_normal((4, 3, 5)), seed=18).raise_if_failed()


def test_gelu_is_within_5e_4_of_the_exact_x_phi_x_and_dips_to_about_minus_0_17():
    x = np.linspace(-6, 6, 2401)
    exact = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])
    y = GELU().forward(x)
    assert np.max(np.abs(y - exact)) < 5e-4
    assert -0.175 < y.min() < -0.165 and abs(x[np.argmin(y)] + 0.75) < 0.02
    np.testing.assert_allclose(GELU().forward(np.array([-30.0, 0.0, 30.0])), [0.0, 0.0, 30.0],
                               atol=1e-12)


def test_positional_embedding_gradient_sums_over_the_batch_and_is_zero_beyond_t():
    rng = np.random.default_rng(19)
    layer = PositionalEmbedding(7, 3, rng=rng)
    report = check_layer(layer, rng.standard_normal((4, 5, 3)), seed=20)
    report.raise_if_failed()
    dy = rng.standard_normal((4, 5, 3))
    layer.forward(np.zeros((4, 5, 3)))
    np.testing.assert_array_equal(layer.backward(dy), dy)
    np.testing.assert_allclose(layer.grads["P"][:5], dy.sum(axis=0), rtol=1e-12)
    assert not layer.grads["P"][5:].any()
    with pytest.raises(ValueError, match="T = 8 steps, more than the 7 positions"):
        layer.forward(np.zeros((1, 8, 3)))


# ---------------------------------------------------------------------------------------
# TransformerBlock


@pytest.mark.parametrize(("dim", "n_heads", "mlp_ratio"), [(6, 2, 2), (4, 1, 3)])
def test_transformer_block_backward_matches_finite_differences(dim, n_heads, mlp_ratio):
    rng = np.random.default_rng(21)
    block = randomized(TransformerBlock(dim, n_heads, rng=rng, mlp_ratio=mlp_ratio), rng)
    report = check_layer(block, rng.standard_normal((2, 5, dim)), seed=22)
    report.raise_if_failed()
    assert len(report.arrays) == 1 + 4 + 7 + 4  # x, two layer norms, attention, MLP


def test_transformer_block_is_two_residual_branches_and_its_dh_is_the_middle_gradient():
    rng = np.random.default_rng(23)
    block = randomized(TransformerBlock(6, 2, rng=rng, mlp_ratio=2), rng)
    x, dy = rng.standard_normal((3, 4, 6)), rng.standard_normal((3, 4, 6))
    y = block.forward(x)
    dx = block.backward(dy)
    h = x + block.attn.forward(block.ln1.forward(x))
    np.testing.assert_allclose(y, h + block.mlp.forward(block.ln2.forward(h)), rtol=1e-12)
    dh = dy + block.ln2.backward(block.mlp.backward(dy))
    np.testing.assert_allclose(block.dh, dh, rtol=1e-12)
    np.testing.assert_allclose(dx, dh + block.ln1.backward(block.attn.backward(dh)), rtol=1e-12)
    assert set(block.params) == set(block.grads) and "attn.Wq" in block.params
    assert block.params["mlp.0.W"] is block.mlp[0].params["W"]
    block.eval()
    assert not block.ln1.training and not block.mlp[1].training


# ---------------------------------------------------------------------------------------
# Dtypes (the rule of backprop_kit.layers.base)


LAYERS = {
    "LayerNorm": lambda p, rng: LayerNorm(4, dtype=p),
    "MultiHeadSelfAttention": lambda p, rng: MultiHeadSelfAttention(4, 2, rng=rng, dtype=p),
    "GELU": lambda p, rng: GELU(),
    "PositionalEmbedding": lambda p, rng: PositionalEmbedding(6, 4, rng=rng, dtype=p),
    "TransformerBlock": lambda p, rng: TransformerBlock(4, 2, rng=rng, dtype=p),
}


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize(("x_dtype", "param_dtype"), [(np.float32, np.float64),
                                                      (np.float64, np.float32)])
def test_every_gradient_has_the_dtype_of_its_array(name, x_dtype, param_dtype):
    rng = np.random.default_rng(24)
    layer = LAYERS[name](param_dtype, rng)
    x = rng.standard_normal((2, 5, 4)).astype(x_dtype)
    if layer.params:
        with pytest.raises(TypeError, match=f"x is {np.dtype(x_dtype)} but the layer's "
                                            f"parameters are {np.dtype(param_dtype)}"):
            layer.forward(x)
        x = x.astype(param_dtype)
    y = layer.forward(x)
    assert y.dtype == x.dtype
    dx = layer.backward(rng.standard_normal(y.shape).astype(x_dtype if not layer.params
                                                            else np.float64
                                                            if param_dtype == np.float32
                                                            else np.float32))
    assert dx.dtype == x.dtype
    for key, grad in layer.grads.items():
        assert grad.dtype == layer.params[key].dtype, key
