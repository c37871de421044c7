"""Mistakes corpus of notebook 05 (training an MLP); see __init__.py for the format."""

from mistakes import Alternative, Mistake

ASSIGNMENT = "05_training_mlp"

MISTAKES = {
    "mlp_forward": [
        Mistake('''def mlp_forward(x, params):
    cache = []
    h = x
    for l in range(1, len(params) // 2 + 1):
        cache.append(h)
        h = np.maximum(0, h @ params[f"W{l}"] + params[f"b{l}"])
    return h, cache
''', phrase="with no ReLU after the last layer", score=1),
        Mistake('''def mlp_forward(x, params):
    L = len(params) // 2
    cache = []
    h = x
    for l in range(1, L + 1):
        a = h @ params["W" + str(l)] + params["b" + str(l)]
        h = np.maximum(a, 0) if l < L else a
        cache.append(h)
    return h, cache
''', phrase="cache[0] must be the input x of the first layer", score=1),
        Mistake('''def mlp_forward(x, params):
    cache = [x]
    a1 = x @ params["W1"] + params["b1"]
    h1 = np.maximum(a1, 0)
    cache.append(h1)
    scores = h1 @ params["W2"] + params["b2"]
    return scores, cache
''', phrase="KeyError", score=2, hidden_only=True),
        Mistake('''def mlp_forward(x, params):
    n_layers = len(params) // 2
    cache, h = [x], x
    for layer in range(1, n_layers + 1):
        a = h @ params[f"W{layer}"] + params[f"b{layer}"]
        if layer < n_layers:
            cache.append(a)
            h = np.maximum(a, 0)
        else:
            h = a
    return h, cache
''', phrase="(the ReLU's output, not a1)", score=1),
    ],
    "mlp_backward": [
        Mistake('''def mlp_backward(dscores, cache, params):
    grads = {}
    N = dscores.shape[0]
    da = dscores
    for layer in range(len(cache), 0, -1):
        h = cache[layer - 1]
        grads[f"W{layer}"] = h.T @ da / N
        grads[f"b{layer}"] = da.sum(axis=0) / N
        if layer > 1:
            da = (da @ params[f"W{layer}"].T) * (h > 0)
    return grads
''', phrase="do not divide by N", score=0),
        Mistake('''def mlp_backward(dscores, cache, params):
    grads = {}
    da = dscores
    for layer in reversed(range(1, len(cache) + 1)):
        grads[f"W{layer}"] = cache[layer - 1].T @ da
        grads[f"b{layer}"] = np.sum(da, axis=0)
        da = da @ params[f"W{layer}"].T
    return grads
''', phrase="then da = (da @ W.T) * (h_(l-1) > 0) for the layer below", score=1),
        Mistake('''def mlp_backward(dscores, cache, params):
    grads = {}
    da = dscores
    for layer in range(len(cache), 0, -1):
        h = cache[layer - 1]
        grads[f"W{layer}"] = h.T @ da
        grads[f"b{layer}"] = da.sum(axis=1)
        if layer > 1:
            da = (da @ params[f"W{layer}"].T) * (h > 0)
    return grads
''', phrase="grads['b2']", score=0),
    ],
    "momentum_step": [
        Mistake('''def momentum_step(params, grads, velocities, learning_rate, momentum):
    for name in params:
        params[name] += velocities[name]
        velocities[name] *= momentum
        velocities[name] -= learning_rate * grads[name]
''', phrase="with the NEW velocity", score=0),
        Mistake('''def momentum_step(params, grads, velocities, learning_rate, momentum):
    for name in params:
        velocities[name] = momentum * velocities[name] - learning_rate * grads[name]
        params[name] += velocities[name]
''', phrase="update params and velocities in place", score=2),
        Mistake('''def momentum_step(params, grads, velocities, learning_rate, momentum):
    for name, param in params.items():
        v = velocities[name]
        v[:] = momentum * v - learning_rate * grads[name]
        param[:] = param + v
''', phrase="0-dimensional", score=1),
    ],
    "adam_step": [
        Mistake('''def adam_step(params, grads, state, learning_rate,
              beta1=0.9, beta2=0.999, eps=1e-8):
    state["t"] += 1
    t = state["t"]
    for k in params:
        state["m"][k] *= beta1
        state["m"][k] += (1 - beta1) * grads[k]
        state["v"][k] *= beta2
        state["v"][k] += (1 - beta2) * grads[k] ** 2
        m_hat = state["m"][k] / (1 - beta1 ** t)
        v_hat = state["v"][k] / (1 - beta2 ** t)
        params[k] -= learning_rate * m_hat / np.sqrt(v_hat + eps)
''', phrase="eps goes outside the square root", score=1),
        Mistake('''def adam_step(params, grads, state, learning_rate,
              beta1=0.9, beta2=0.999, eps=1e-8):
    state["t"] += 1
    for name, p in params.items():
        m, v = state["m"][name], state["v"][name]
        m[...] = beta1 * m + (1 - beta1) * grads[name]
        v[...] = beta2 * v + (1 - beta2) * grads[name] ** 2
        p -= learning_rate * m / (np.sqrt(v) + eps)
''', phrase="bias-correct m and v", score=0),
        Mistake('''def adam_step(params, grads, state, learning_rate,
              beta1=0.9, beta2=0.999, eps=1e-8):
    state["t"] += 1
    t = state["t"]
    for name in params:
        g = grads[name]
        m = beta1 * state["m"][name] + (1 - beta1) * g
        v = beta2 * state["v"][name] + (1 - beta2) * g * g
        state["m"][name] = m / (1 - beta1 ** t)
        state["v"][name] = v / (1 - beta2 ** t)
        params[name] -= learning_rate * state["m"][name] / (np.sqrt(state["v"][name]) + eps)
''', phrase="store m without the bias correction", score=1),
        Mistake('''def adam_step(params, grads, state, learning_rate,
              beta1=0.9, beta2=0.999, eps=1e-8):
    t = state["t"]
    for name, param in params.items():
        m, v = state["m"][name], state["v"][name]
        m *= beta1
        m += (1 - beta1) * grads[name]
        v *= beta2
        v += (1 - beta2) * grads[name] ** 2
        param -= learning_rate * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
    state["t"] += 1
''', phrase="increase state['t'] before the bias correction", score=0),
    ],
    "train_epoch": [
        Mistake('''def train_epoch(loss_and_grads, step, params, X, labels, batch_size, gen):
    N = X.shape[0]
    order = gen.permutation(N)
    total = 0.0
    for i in range(0, N - batch_size, batch_size):
        rows = order[i:i + batch_size]
        loss, grads = loss_and_grads(X[rows], labels[rows], params)
        step(params, grads)
        total += loss * len(rows)
    return float(total / N)
''', phrase="the last rows are missing; range(0, N, batch_size) reaches them", score=0),
        Mistake('''def train_epoch(loss_and_grads, step, params, X, labels, batch_size, gen):
    order = gen.permutation(len(X))
    losses = []
    for start in range(0, len(X), batch_size):
        batch = order[start:start + batch_size]
        loss, grads = loss_and_grads(X[batch], labels[batch], params)
        step(params, grads)
        losses.append(loss)
    return float(np.mean(losses))
''', phrase="weight each batch's loss by its number of rows", score=2),
        Mistake('''def train_epoch(loss_and_grads, step, params, X, labels, batch_size, gen):
    idx = np.random.permutation(len(X))
    total = 0.0
    for start in range(0, len(X), batch_size):
        rows = idx[start:start + batch_size]
        loss, grads = loss_and_grads(X[rows], labels[rows], params)
        step(params, grads)
        total += loss * len(rows)
    return total / len(X)
''', phrase="take the order from gen.permutation(N)", score=2, hidden_only=True),
        Mistake('''def train_epoch(loss_and_grads, step, params, X, labels, batch_size, gen):
    perm = gen.permutation(len(X))
    total = 0.0
    for start in range(0, len(X), batch_size):
        rows = perm[start:start + batch_size]
        loss, grads = loss_and_grads(X[rows], labels, params)
        step(params, grads)
        total += loss * len(rows)
    return float(total / len(X))
''', phrase="X[rows] and labels[rows] must be the same rows", score=2),
    ],
    "rhw_error_and_grads": [
        Mistake('''def sigmoid(z):
    return 1 / (1 + np.exp(-z))

def rhw_error_and_grads(params, inputs, targets):
    P = len(inputs)
    h = sigmoid(inputs @ params["W1"] + params["b1"])
    o = sigmoid(h @ params["w2"] + params["b2"])
    E = 0.5 * np.mean((o - targets) ** 2)
    delta = (o - targets) * o * (1 - o) / P
    da = np.outer(delta, params["w2"]) * h * (1 - h)
    return float(E), {"W1": inputs.T @ da, "b1": da.sum(axis=0), "w2": h.T @ delta,
                      "b2": delta.sum()}
''', phrase="E is a sum over the vectors, not a mean", score=0),
        Mistake('''def sigmoid(z):
    return 1 / (1 + np.exp(-z))

def rhw_error_and_grads(params, inputs, targets):
    h = sigmoid(inputs @ params["W1"] + params["b1"])
    o = sigmoid(h @ params["w2"] + params["b2"])
    E = 0.5 * np.sum((o - targets) ** 2)
    delta = 2 * (o - targets) * o * (1 - o)
    da = np.outer(delta, params["w2"]) * h * (1 - h)
    return float(E), {"W1": inputs.T @ da, "b1": da.sum(axis=0), "w2": h.T @ delta,
                      "b2": delta.sum()}
''', phrase="twice the expected value: E has a factor 1/2", score=1),
        Mistake('''def rhw_error_and_grads(params, inputs, targets):
    hidden = 1 / (1 + np.exp(-(inputs @ params["W1"] + params["b1"])))
    out = 1 / (1 + np.exp(-(hidden @ params["w2"] + params["b2"])))
    delta = (out - targets) * out * (1 - out)
    dhidden = np.outer(delta, params["w2"])
    grads = {"W1": inputs.T @ dhidden, "b1": dhidden.sum(0), "w2": hidden.T @ delta,
             "b2": delta.sum()}
    return float(0.5 * ((out - targets) ** 2).sum()), grads
''', phrase="da = dh h (1 - h)", score=1),
    ],
}

ALTERNATIVES = {
    "adam_step": [Alternative('''def adam_step(params, grads, state, learning_rate,
              beta1=0.9, beta2=0.999, eps=1e-8):
    state["t"] += 1
    t = state["t"]
    step_size = learning_rate * np.sqrt(1 - beta2**t) / (1 - beta1**t)
    for name, param in params.items():
        m, v = state["m"][name], state["v"][name]
        m += (1 - beta1) * (grads[name] - m)
        v += (1 - beta2) * (grads[name] ** 2 - v)
        param -= step_size * m / (np.sqrt(v) + eps)
''', what="the efficient form of Kingma & Ba, Sec. 2 (eps next to sqrt(v))")],
    "mlp_backward": [Alternative('''def mlp_backward(dscores, cache, params):
    grads, da = {}, dscores
    for layer, h in reversed(list(enumerate(cache, start=1))):
        grads[f"W{layer}"] = np.einsum("ni,nj->ij", h, da)
        grads[f"b{layer}"] = np.einsum("nj->j", da)
        if layer > 1:
            da = np.where(h > 0, da @ params[f"W{layer}"].T, 0.0)
    return grads
''', what="einsum for the products, np.where for the ReLU mask")],
}

END_TO_END = [("train_epoch", 1), ("rhw_error_and_grads", 1)]
