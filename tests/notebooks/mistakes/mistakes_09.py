"""Mistakes corpus of notebook 09 (vanishing and exploding gradients); see __init__.py for the
format."""

from mistakes import Alternative, Mistake

ASSIGNMENT = "09_vanishing_exploding"

MISTAKES = {
    "sigmoid_prime": [
        Mistake('''def chain_gain_bound(w, depth):
    return (w * SIGMOID_PRIME_MAX) ** depth
''', phrase="with the absolute value of w", score=1.5),
        Mistake('''def sigmoid_prime(z):
    s = 1 / (1 + np.exp(-z))
    return s * (1 - s)
''', phrase="np.exp(-z) overflows for z = -1000", score=2),
        Mistake('''def chain_gain_bound(w, depth):
    return np.abs(w) * SIGMOID_PRIME_MAX * depth
''', phrase="three layers multiply three such factors", score=1.5),
        Mistake('''SIGMOID_PRIME_ARGMAX = 0.5
SIGMOID_PRIME_MAX = 0.25
''', phrase="which z has sigma(z) = 1/2?", score=2),
        Mistake('''def sigmoid_prime(z):
    e = np.exp(-np.abs(z))
    return 1 / (1 + e)
''', phrase="sigma'(z) = sigma(z) (1 - sigma(z))", score=1),
    ],
    "layer_speeds": [
        Mistake('''def layer_speeds(weights, biases, X, Y):
    activations = [X]
    for W, b in zip(weights, biases):
        activations.append(1 / (1 + np.exp(-(activations[-1] @ W + b))))
    delta = (activations[-1] - Y) / len(X)
    speeds = [np.linalg.norm(delta.sum(axis=0))]
    for layer in range(len(weights) - 1, 0, -1):
        a = activations[layer + 1]
        delta = (delta @ weights[layer].T) * a * (1 - a)
        speeds.append(np.linalg.norm(delta.sum(axis=0)))
    return np.array(speeds[::-1])
''', phrase="with a_l the output of the layer below the weights", score=1),
        Mistake('''def layer_speeds(weights, biases, X, Y):
    activations = [X]
    for W, b in zip(weights, biases):
        activations.append(1 / (1 + np.exp(-(activations[-1] @ W + b))))
    delta = activations[-1] - Y
    speeds = [np.linalg.norm(delta.sum(axis=0))]
    for layer in range(len(weights) - 1, 0, -1):
        a = activations[layer]
        delta = (delta @ weights[layer].T) * a * (1 - a)
        speeds.append(np.linalg.norm(delta.sum(axis=0)))
    return np.array(speeds[::-1])
''', phrase="delta_2 = (a_2 - Y) / N", score=0),
        Mistake('''def layer_speeds(weights, biases, X, Y):
    activations = [X]
    for W, b in zip(weights, biases):
        activations.append(1 / (1 + np.exp(-(activations[-1] @ W + b))))
    a_out = activations[-1]
    delta = (a_out - Y) * a_out * (1 - a_out) / len(X)
    speeds = [np.linalg.norm(delta.sum(axis=0))]
    for layer in range(len(weights) - 1, 0, -1):
        a = activations[layer]
        delta = (delta @ weights[layer].T) * a * (1 - a)
        speeds.append(np.linalg.norm(delta.sum(axis=0)))
    return np.array(speeds[::-1])
''', phrase="no a_2 (1 - a_2) at the output", score=0),
        Mistake('''def layer_speeds(weights, biases, X, Y):
    activations = [X]
    for W, b in zip(weights, biases):
        activations.append(1 / (1 + np.exp(-(activations[-1] @ W + b))))
    delta = (activations[-1] - Y) / len(X)
    speeds = [np.linalg.norm(delta.sum(axis=0))]
    for layer in range(len(weights) - 1, 0, -1):
        a = activations[layer]
        delta = (delta @ weights[layer].T) * a * (1 - a)
        speeds.append(np.linalg.norm(delta.sum(axis=0)))
    return np.array(speeds)
''', phrase="the speeds are in reverse order", score=0),
        Mistake('''def layer_speeds(weights, biases, X, Y):
    activations = [X]
    for W, b in zip(weights, biases):
        activations.append(1 / (1 + np.exp(-(activations[-1] @ W + b))))
    delta = (activations[-1] - Y) / len(X)
    speeds = [np.linalg.norm(delta)]
    for layer in range(len(weights) - 1, 0, -1):
        a = activations[layer]
        delta = (delta @ weights[layer].T) * a * (1 - a)
        speeds.append(np.linalg.norm(delta))
    return np.array(speeds[::-1])
''', phrase="the norm of its sum over the batch", score=0),
    ],
    "variance_conditions": [
        Mistake('''def he_std(fan_in):
    return math.sqrt(1.0 / fan_in)
''', phrase="sqrt(1 / n) leaves out the ReLU's 1/2", score=2.5),
        Mistake('''def xavier_std(fan_in, fan_out):
    return math.sqrt(2 / fan_in + fan_out)
''', phrase="Var[w] = 2 / (fan_in + fan_out)", score=2.5),
        Mistake('''def layer_stds(x, weights, activation):
    if activation not in ("relu", "tanh"):
        raise ValueError(f"unknown activation {activation}")
    h, stds = x, []
    for W in weights:
        h = np.maximum(h @ W, 0) if activation == "relu" else np.tanh(h @ W)
        stds.append(h.var())
    return np.array(stds)
''', phrase="h.std(), not the variance", score=2),
        Mistake('''def layer_stds(x, weights, activation):
    h, stds = x, []
    for W in weights:
        h = np.maximum(h @ W, 0) if activation == "relu" else np.tanh(h @ W)
        stds.append(h.std())
    return np.array(stds)
''', phrase="must raise ValueError, got no error", score=3.5),
        Mistake('''def layer_stds(x, weights, activation):
    if activation not in ("relu", "tanh"):
        raise ValueError(activation)
    h, stds = x, []
    for W in weights:
        h = np.maximum(h @ W, 0) if activation == "relu" else np.tanh(h @ W)
        stds.append(h.std(axis=0).mean())
    return np.array(stds)
''', phrase="not a std per unit", score=1.5),
    ],
    "jacobian_norms_through_time": [
        Mistake('''def jacobian_norms_through_time(W, states):
    J = np.eye(W.shape[0])
    norms = [1.0]
    for h in states[1:]:
        J = ((1 - h**2)[:, None] * W) @ J
        norms.append(np.linalg.norm(J, 2))
    return np.array(norms)
''', phrase="J_t = diag(1 - h_t^2) @ W.T @ J_{t-1}", score=1),
        Mistake('''def jacobian_norms_through_time(W, states):
    J = np.eye(W.shape[0])
    norms = [1.0]
    for h in states[1:]:
        J = ((1 - h**2)[:, None] * W.T) @ J
        norms.append(np.linalg.norm(J))
    return np.array(norms)
''', phrase="np.linalg.norm(J) is the larger Frobenius norm", score=1),
        Mistake('''def jacobian_norms_through_time(W, states):
    J = np.eye(W.shape[0])
    norms = []
    for h in states[1:]:
        J = ((1 - h**2)[:, None] * W.T) @ J
        norms.append(np.linalg.norm(J, 2))
    return np.array(norms)
''', phrase="entry 0 is ||J_0|| = ||I|| = 1", score=0),
        Mistake('''def jacobian_norms_through_time(W, states):
    J = np.eye(W.shape[0])
    norms = [1.0]
    for t in range(1, len(states)):
        J = ((1 - states[t - 1] ** 2)[:, None] * W.T) @ J
        norms.append(np.linalg.norm(J, 2))
    return np.array(norms)
''', phrase="step t uses h_t, the state it produced", score=0),
        Mistake('''def jacobian_norms_through_time(W, states):
    J = np.eye(W.shape[0])
    norms = [1.0]
    for h in states[1:]:
        J = J @ ((1 - h**2)[:, None] * W.T)
        norms.append(np.linalg.norm(J, 2))
    return np.array(norms)
''', phrase="J_t = diag(1 - h_t^2) @ W.T @ J_{t-1}", score=1),
    ],
    "cliff_gradient": [
        Mistake('''def cliff_gradient(w, b, steps=50, x0=0.5, target=0.7):
    w, b = np.broadcast_arrays(np.asarray(w, dtype=float), np.asarray(b, dtype=float))
    x = np.full(w.shape, float(x0))
    outputs = []
    for _ in range(steps):
        x = w * (0.5 * (1 + np.tanh(0.5 * x))) + b
        outputs.append(0.5 * (1 + np.tanh(0.5 * x)))
    s = outputs[-1]
    E = (s - target) ** 2
    delta = 2 * (s - target) * s * (1 - s)
    dE_dw, dE_db = np.zeros(w.shape), np.zeros(w.shape)
    for s_t in reversed(outputs):
        dE_dw += delta * s_t
        dE_db += delta
        delta = delta * w * s_t * (1 - s_t)
    return E, dE_dw, dE_db
''', phrase="delta_1 times s_0 = sigmoid(x_0), the output the weight multiplied", score=1),
        Mistake('''def cliff_gradient(w, b, steps=50, x0=0.5, target=0.7):
    w, b = np.broadcast_arrays(np.asarray(w, dtype=float), np.asarray(b, dtype=float))
    x = np.full(w.shape, float(x0))
    outputs = []
    for _ in range(steps):
        s = 0.5 * (1 + np.tanh(0.5 * x))
        outputs.append(s)
        x = w * s + b
    s = 0.5 * (1 + np.tanh(0.5 * x))
    E = (s - target) ** 2
    delta = 2 * (s - target) * s * (1 - s)
    dE_dw, dE_db = np.zeros(w.shape), np.zeros(w.shape)
    for s_prev in reversed(outputs):
        delta = delta * w * s_prev * (1 - s_prev)
        dE_dw += delta * s_prev
        dE_db += delta
    return E, dE_dw, dE_db
''', phrase="added to the gradients before delta moves one step back", score=0),
        Mistake('''def cliff_gradient(w, b, steps=50, x0=0.5, target=0.7):
    w, b = np.broadcast_arrays(np.asarray(w, dtype=float), np.asarray(b, dtype=float))
    x = np.full(w.shape, float(x0))
    outputs = []
    for _ in range(steps):
        s = 0.5 * (1 + np.tanh(0.5 * x))
        outputs.append(s)
        x = w * s + b
    s = 0.5 * (1 + np.tanh(0.5 * x))
    E = (s - target) ** 2
    delta = 2 * (s - target) * s * (1 - s)
    dE_dw, dE_db = np.zeros(w.shape), np.zeros(w.shape)
    for s_prev in reversed(outputs):
        dE_dw += delta * s_prev
        dE_db += delta
        delta = delta * s_prev * (1 - s_prev)
    return E, dE_dw, dE_db
''', phrase="delta picks up w s_{t-1} (1 - s_{t-1}) at each step back", score=1),
        Mistake('''def cliff_gradient(w, b, steps=50, x0=0.5, target=0.7):
    w, b = np.broadcast_arrays(np.asarray(w, dtype=float), np.asarray(b, dtype=float))
    x = np.full(w.shape, float(x0))
    outputs = []
    for _ in range(steps):
        s = 0.5 * (1 + np.tanh(0.5 * x))
        outputs.append(s)
        x = w * s + b
    s = 0.5 * (1 + np.tanh(0.5 * x))
    E = (s - target) ** 2
    delta = 2 * (s - target)
    dE_dw, dE_db = np.zeros(w.shape), np.zeros(w.shape)
    for s_prev in reversed(outputs):
        dE_dw += delta * s_prev
        dE_db += delta
        delta = delta * w * s_prev * (1 - s_prev)
    return E, dE_dw, dE_db
''', phrase="with the sigmoid's derivative s_1 (1 - s_1)", score=0),
    ],
}

ALTERNATIVES = {
    "sigmoid_prime": [Alternative('''def sigmoid_prime(z):
    s = 0.5 * (1.0 + np.tanh(0.5 * z))
    return s * (1.0 - s)
''', what="sigma through tanh, then s (1 - s)")],
    "jacobian_norms_through_time": [Alternative('''def jacobian_norms_through_time(W, states):
    J = np.eye(len(W))
    norms = [np.linalg.svd(J, compute_uv=False)[0]]
    for h in states[1:]:
        J = np.diag(1 - h**2) @ W.T @ J
        norms.append(np.linalg.svd(J, compute_uv=False)[0])
    return np.array(norms)
''', what="an explicit np.diag and the largest singular value from np.linalg.svd")],
}

END_TO_END = [("layer_speeds", 3), ("cliff_gradient", 2)]
