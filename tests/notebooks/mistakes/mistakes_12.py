"""Mistakes corpus of notebook 12 (backprop through attention); see __init__.py for the format."""

from mistakes import Alternative, Mistake

ASSIGNMENT = "12_attention_backprop"

_ATTACH = '''
Tensor.__add__ = Tensor.__radd__ = tensor_add
Tensor.__mul__ = Tensor.__rmul__ = tensor_mul
Tensor.__matmul__ = tensor_matmul
'''

_UNBROADCAST = '''def unbroadcast(grad, shape):
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad
'''

# every operation with = instead of +=: a complete answer cell (used end to end)
_ASSIGNING = _UNBROADCAST + '''

def tensor_add(self, other):
    other = as_tensor(other)
    out = Tensor(self.data + other.data, (self, other), "+")

    def local_backward():
        self.grad = unbroadcast(out.grad, self.shape)
        other.grad = unbroadcast(out.grad, other.shape)

    out.local_backward = local_backward
    return out


def tensor_mul(self, other):
    other = as_tensor(other)
    out = Tensor(self.data * other.data, (self, other), "*")

    def local_backward():
        self.grad = unbroadcast(out.grad * other.data, self.shape)
        other.grad = unbroadcast(out.grad * self.data, other.shape)

    out.local_backward = local_backward
    return out


def tensor_matmul(self, other):
    other = as_tensor(other)
    out = Tensor(self.data @ other.data, (self, other), "@")

    def local_backward():
        self.grad = unbroadcast(out.grad @ np.swapaxes(other.data, -1, -2), self.shape)
        other.grad = unbroadcast(np.swapaxes(self.data, -1, -2) @ out.grad, other.shape)

    out.local_backward = local_backward
    return out
''' + _ATTACH

_BLOCK_START = '''def block_backward(dy, cache):
    p, H = cache.params, cache.n_heads
    grads = {}
    r2, dy2 = cache.r.reshape(-1, cache.r.shape[-1]), dy.reshape(-1, dy.shape[-1])
    grads["W2"], grads["b2"] = r2.T @ dy2, dy2.sum(axis=0)
    dz = gelu_backward(dy @ p["W2"].T, cache.z)
    m2, dz2 = cache.m.reshape(-1, cache.m.shape[-1]), dz.reshape(-1, dz.shape[-1])
    grads["W1"], grads["b1"] = m2.T @ dz2, dz2.sum(axis=0)
    ln2 = layernorm_backward(dz @ p["W1"].T, cache.ln2)
    grads["ln2_gamma"], grads["ln2_beta"] = ln2["gamma"], ln2["beta"]
'''

_BLOCK_ATTENTION = '''    D = dh.shape[-1]
    grads["Wo"] = cache.c.reshape(-1, D).T @ dh.reshape(-1, D)
    dq, dk, dv = attention_backward(split_heads(dh @ p["Wo"].T, H), cache.attention)
    a2 = cache.a.reshape(-1, cache.a.shape[-1])
    da = 0
    for name, d in (("Wq", dq), ("Wk", dk), ("Wv", dv)):
        d = merge_heads(d, H)
        grads[name] = a2.T @ d.reshape(-1, d.shape[-1])
        da = da + d @ p[name].T
    ln1 = layernorm_backward(da, cache.ln1)
    grads["ln1_gamma"], grads["ln1_beta"] = ln1["gamma"], ln1["beta"]
'''

MISTAKES = {
    "tensor_ops": [
        Mistake(_ASSIGNING, phrase="both contributions must be added (+=, not =)", score=2),
        Mistake('''def tensor_add(self, other):
    other = as_tensor(other)
    out = Tensor(self.data + other.data, (self, other), "+")

    def local_backward():
        self.grad += out.grad
        other.grad += out.grad

    out.local_backward = local_backward
    return out
''' + _ATTACH, phrase="its gradient is unbroadcast(out.grad, other.shape)", score=3),
        Mistake('''def tensor_matmul(self, other):
    other = as_tensor(other)
    out = Tensor(self.data @ other.data, (self, other), "@")

    def local_backward():
        self.grad += unbroadcast(out.grad @ other.data.T, self.shape)
        other.grad += unbroadcast(self.data.T @ out.grad, other.shape)

    out.local_backward = local_backward
    return out
''' + _ATTACH, phrase=".T reverses all three axes of a 3-D array", score=3),
        Mistake('''def unbroadcast(grad, shape):
    while len(grad.shape) > len(shape):
        grad = grad.sum(axis=0)
    return grad
''', phrase="AND over the axes where the input has size 1", score=2),
        Mistake('''def tensor_mul(self, other):
    other = as_tensor(other)
    out = Tensor(self.data * other.data, (self, other), "*")

    def local_backward():
        self.grad += unbroadcast(out.grad * self.data, self.shape)
        other.grad += unbroadcast(out.grad * other.data, other.shape)

    out.local_backward = local_backward
    return out
''' + _ATTACH, phrase="x.grad = out.grad * c (the OTHER factor)", score=3),
    ],
    "masked_softmax_backward": [
        Mistake('''def masked_softmax_backward(dprobs, probs):
    return dprobs * probs * (1 - probs)
''', phrase="the diagonal of the Jacobian only", score=0),
        Mistake('''def masked_softmax_backward(dprobs, probs):
    s = np.sum(dprobs * probs, axis=-2, keepdims=True)
    return probs * (dprobs - s)
''', phrase="sum over the LAST axis (keys)", score=0),
        Mistake('''def masked_softmax_backward(dprobs, probs):
    return probs * (dprobs - np.sum(dprobs * probs, axis=-1))
''', phrase="keep that axis (keepdims=True)", score=0),
        Mistake('''def masked_softmax_backward(dprobs, probs):
    return dprobs - (dprobs * probs).sum(axis=-1, keepdims=True)
''', phrase="dscores = P * (dP - sum over the LAST axis", score=0),
    ],
    "attention_backward": [
        Mistake('''def attention_backward(dout, cache):
    q, k, v, probs = cache
    dv = np.swapaxes(probs, -1, -2) @ dout
    dscores = masked_softmax_backward(dout @ np.swapaxes(v, -1, -2), probs)
    return dscores @ k, np.swapaxes(dscores, -1, -2) @ q, dv
''', phrase="dq is sqrt(d) = 1.73 times too large", score=1),
        Mistake('''def attention_backward(dout, cache):
    q, k, v, probs = cache
    scale = 1 / np.sqrt(q.shape[-1])
    dv = np.swapaxes(probs, -1, -2) @ dout
    dS = masked_softmax_backward(dout @ np.swapaxes(v, -1, -2), probs) * scale
    return dS @ k, dS @ q, dv
''', phrase="(dS @ q has the right shape, since dS is square", score=2),
        Mistake('''def attention_backward(dout, cache):
    q, k, v, probs = cache
    dv = probs @ dout
    dp = dout @ np.swapaxes(v, -1, -2)
    ds = masked_softmax_backward(dp, probs) / np.sqrt(q.shape[-1])
    return ds @ k, np.swapaxes(ds, -1, -2) @ q, dv
''', phrase="(P @ dout has the right shape, since P is square", score=2),
        Mistake('''def attention_backward(dout, cache):
    q, k, v, probs = cache
    d = q.shape[-1]
    dv = probs.T @ dout
    dscores = masked_softmax_backward(dout @ v.T, probs) / np.sqrt(d)
    return dscores @ k, dscores.T @ q, dv
''', phrase="a.T reverses ALL the axes of a 3-D array", score=0),
    ],
    "layernorm_backward": [
        Mistake('''def layernorm_backward(dy, cache):
    x_hat, inv_std, gamma = cache
    axes = tuple(range(dy.ndim - 1))
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * x_hat).sum(axis=axes)
    N = dy.shape[0]
    dx = gamma * inv_std / N * (N * dy - dy.sum(axis=0) - x_hat * (dy * x_hat).sum(axis=0))
    return {"x": dx, "gamma": dgamma, "beta": dbeta}
''', phrase="the means run over the LAST axis", score=1),
        Mistake('''def layernorm_backward(dy, cache):
    x_hat, inv_std, gamma = cache
    g = dy * gamma
    dx = inv_std * (g - g.mean(axis=-1, keepdims=True)
                    - x_hat * (g * x_hat).mean(axis=-1, keepdims=True))
    return {"x": dx, "gamma": (dy * x_hat).sum(axis=0), "beta": dy.sum(axis=0)}
''', phrase="sum over EVERY axis but the last", score=0),
        Mistake('''def layernorm_backward(dy, cache):
    x_hat, inv_std, gamma = cache
    sum_axes = tuple(range(dy.ndim - 1))
    dx = inv_std * (dy - dy.mean(axis=-1, keepdims=True)
                    - x_hat * (dy * x_hat).mean(axis=-1, keepdims=True))
    return {"x": dx, "gamma": (dy * x_hat).sum(axis=sum_axes), "beta": dy.sum(axis=sum_axes)}
''', phrase="g = gamma * dy", score=1),
        Mistake('''def layernorm_backward(dy, cache):
    x_hat, inv_std, gamma = cache
    sum_axes = tuple(range(dy.ndim - 1))
    return {"x": gamma * inv_std * dy, "gamma": np.sum(dy * x_hat, axis=sum_axes),
            "beta": np.sum(dy, axis=sum_axes)}
''', phrase="dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat))", score=1),
    ],
    "block_backward": [
        Mistake(_BLOCK_START + '''    dh = ln2["x"]
''' + _BLOCK_ATTENTION + '''    grads["x"] = dh + ln1["x"]
    return grads
''', phrase="the skip connection hands dy down unchanged", score=1),
        Mistake(_BLOCK_START + '''    dh = dy + ln2["x"]
''' + _BLOCK_ATTENTION + '''    grads["x"] = ln1["x"]
    return grads
''', phrase="each residual connection adds its input's gradient unchanged", score=2),
        Mistake(_BLOCK_START + '''    dh = dy
''' + _BLOCK_ATTENTION + '''    grads["x"] = dy + ln2["x"] + ln1["x"]
    return grads
''', phrase="the attention branch starts from dh = dy + (what the MLP branch sent back",
            score=1),
        Mistake(_BLOCK_START + '''    dh = dy + ln2["x"]
    c2, dh2 = cache.c.reshape(-1, cache.c.shape[-1]), dh.reshape(-1, dh.shape[-1])
    grads["Wo"] = c2.T @ dh2
    dq, dk, dv = attention_backward(split_heads(dh @ p["Wo"].T, H), cache.attention)
    a2 = cache.a.reshape(-1, cache.a.shape[-1])
    dq, dk, dv = merge_heads(dq, H), merge_heads(dk, H), merge_heads(dv, H)
    grads["Wq"] = a2.T @ dq.reshape(-1, dq.shape[-1])
    grads["Wk"] = a2.T @ dk.reshape(-1, dk.shape[-1])
    grads["Wv"] = a2.T @ dv.reshape(-1, dv.shape[-1])
    ln1 = layernorm_backward(dq @ p["Wq"].T, cache.ln1)
    grads["ln1_gamma"], grads["ln1_beta"] = ln1["gamma"], ln1["beta"]
    grads["x"] = dh + ln1["x"]
    return grads
''', phrase="so da = dq Wq^T + dk Wk^T + dv Wv^T", score=1),
    ],
    "train_step": [
        Mistake('''def train_step(model, loss_fn, optimizer, x, y, max_norm):
    loss = loss_fn.forward(model.forward(x), y)
    model.backward(loss_fn.backward())
    optimizer.step()
    norm = clip_grad_norm([g for _, g in model.parameters()], max_norm)
    return loss, norm
''', phrase="the step used the UNCLIPPED gradients", score=1),
        Mistake('''def train_step(model, loss_fn, optimizer, x, y, max_norm):
    scores = model.forward(x)
    loss = loss_fn.forward(scores, y)
    loss_fn.backward()
    norm = clip_grad_norm([g for _, g in model.parameters()], max_norm)
    optimizer.step()
    return loss, norm
''', phrase="hand loss_fn.backward() to model.backward", score=0),
        Mistake('''def train_step(model, loss_fn, optimizer, x, y, max_norm):
    loss_fn.forward(model.forward(x), y)
    model.backward(loss_fn.backward())
    norm = clip_grad_norm([g for _, g in model.parameters()], max_norm)
    optimizer.step()
    loss = loss_fn.forward(model.forward(x), y)
    return loss, norm
''', phrase="this is the loss AFTER the update", score=0),
        Mistake('''def train_step(model, loss_fn, optimizer, x, y, max_norm):
    loss = loss_fn.forward(model.forward(x), y)
    model.backward(loss_fn.backward())
    norms = [clip_grad_norm([g], max_norm) for _, g in model.parameters()]
    optimizer.step()
    return loss, max(norms)
''', phrase="of all gradients together", score=1),
    ],
}

ALTERNATIVES = {
    "tensor_ops": [Alternative('''def unbroadcast(grad, shape):
    extra = grad.ndim - len(shape)
    stretched = [extra + i for i, size in enumerate(shape)
                 if size == 1 and grad.shape[extra + i] != 1]
    return grad.sum(axis=tuple(range(extra)) + tuple(stretched)).reshape(shape)
''', what="one sum over all the axes at once, then a reshape")],
    "masked_softmax_backward": [Alternative('''def masked_softmax_backward(dprobs, probs):
    T = probs.shape[-1]
    jacobian = probs[..., :, None] * np.eye(T) - probs[..., :, None] * probs[..., None, :]
    return np.einsum("...ij,...j->...i", jacobian, dprobs)
''', what="the full Jacobian of every row, diag(p) - p p^T, applied with einsum")],
    "attention_backward": [Alternative('''def attention_backward(dout, cache):
    q, k, v, probs = cache
    dv = np.einsum("...ij,...id->...jd", probs, dout)
    dprobs = np.einsum("...id,...jd->...ij", dout, v)
    ds = probs * (dprobs - (probs * dprobs).sum(-1, keepdims=True)) / np.sqrt(q.shape[-1])
    return (np.einsum("...ij,...jd->...id", ds, k), np.einsum("...ij,...id->...jd", ds, q), dv)
''', what="einsum for every product, the softmax backward inline")],
    "block_backward": [Alternative('''def block_backward(dy, cache):
    p, H = cache.params, cache.n_heads
    g = {"W2": np.tensordot(cache.r, dy, axes=([0, 1], [0, 1])), "b2": dy.sum(axis=(0, 1))}
    dz = gelu_backward(np.einsum("ntj,ij->nti", dy, p["W2"]), cache.z)
    g["W1"] = np.tensordot(cache.m, dz, axes=([0, 1], [0, 1]))
    g["b1"] = dz.sum(axis=(0, 1))
    ln2 = layernorm_backward(dz @ p["W1"].T, cache.ln2)
    dh = ln2["x"] + dy
    g["Wo"] = np.tensordot(cache.c, dh, axes=([0, 1], [0, 1]))
    dq, dk, dv = (merge_heads(d, H) for d in attention_backward(
        split_heads(dh @ p["Wo"].T, H), cache.attention))
    g["Wq"], g["Wk"], g["Wv"] = (np.tensordot(cache.a, d, axes=([0, 1], [0, 1]))
                                 for d in (dq, dk, dv))
    ln1 = layernorm_backward(dq @ p["Wq"].T + dk @ p["Wk"].T + dv @ p["Wv"].T, cache.ln1)
    g.update(ln1_gamma=ln1["gamma"], ln1_beta=ln1["beta"], ln2_gamma=ln2["gamma"],
             ln2_beta=ln2["beta"], x=dh + ln1["x"])
    return g
''', what="np.tensordot over the batch and position axes for every weight")],
    "train_step": [Alternative('''def train_step(model, loss_fn, optimizer, x, y, max_norm):
    scores = model.forward(x)
    loss = float(loss_fn.forward(scores, y))
    model.backward(loss_fn.backward())
    grads = list(model.grads.values())
    norm = float(np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads)))
    if norm > max_norm:
        for g in grads:
            g *= max_norm / norm
    optimizer.step()
    return loss, norm
''', what="the global norm and the in-place clipping written out")],
}

END_TO_END = [("tensor_ops", 0), ("train_step", 0)]
