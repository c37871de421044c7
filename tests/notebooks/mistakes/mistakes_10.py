"""Mistakes corpus of notebook 10 (remedies); see __init__.py for the format."""

from mistakes import Alternative, Mistake

ASSIGNMENT = "10_remedies"

MISTAKES = {
    "preserving_std": [
        Mistake('''def preserving_std(fan_in, activation):
    if activation not in ("linear", "tanh", "relu"):
        raise ValueError(f"unknown activation {activation}")
    gain = 2.0 if activation == "relu" else 1.0
    return gain / fan_in
''', phrase="did you return the variance?", score=0.5),
        Mistake('''def preserving_std(fan_in, activation):
    if activation == "relu":
        return float(np.sqrt(2 / fan_in))
    return float(np.sqrt(1 / fan_in))
''', phrase="must raise ValueError: only 'linear', 'tanh' and 'relu' are known", score=1.5),
        Mistake('''def preserving_std(fan_in, activation):
    if activation not in ("linear", "tanh", "relu"):
        raise ValueError(f"unknown activation {activation}")
    return float(np.sqrt(1 / fan_in))
''', phrase="a ReLU keeps half of the second moment, so (1/2) n Var[W] = 1", score=1),
        Mistake('''def preserving_std(fan_in, activation):
    gain = {"linear": 1.0, "tanh": 1.0, "relu": 2.0}[activation]
    return float(np.sqrt(gain / fan_in))
''', phrase="raised KeyError: check the name first", score=1.5),
    ],
    "batchnorm_backward": [
        Mistake('''def batchnorm_backward(dy, cache):
    x_hat, inv_std, gamma = cache
    dbeta = dy.sum(axis=0)
    dgamma = (dy * x_hat).sum(axis=0)
    dx = dy * gamma * inv_std
    return {"x": dx, "gamma": dgamma, "beta": dbeta}
''', phrase="mu and var depend on x too", score=1),
        Mistake('''def batchnorm_backward(dy, cache):
    x_hat, inv_std, gamma = cache
    N, D = dy.shape
    dbeta = dy.sum(axis=0)
    dgamma = (dy * x_hat).sum(axis=0)
    dx = gamma * inv_std / D * (D * dy - dbeta - x_hat * dgamma)
    return {"x": dx, "gamma": dgamma, "beta": dbeta}
''', phrase="N = dy.shape[0] the batch size", score=1),
        Mistake('''def batchnorm_backward(dy, cache):
    x_hat, inv_std, gamma = cache
    N = len(dy)
    dbeta = dy.sum(axis=0)
    dgamma = dy.sum(axis=0) * x_hat
    dx = gamma * inv_std / N * (N * dy - dbeta - x_hat * dgamma)
    return {"x": dx, "gamma": dgamma, "beta": dbeta}
''', phrase="dgamma sums dy * x_hat", score=0),
    ],
    "residual_block_backward": [
        Mistake('''def residual_block_backward(dy, cache):
    x, W1, W2, r = cache
    dW2 = r.T @ dy
    da = (dy @ W2.T) * (r > 0)
    return {"x": da @ W1.T, "W1": x.T @ da, "b1": da.sum(axis=0), "W2": dW2}
''', phrase="x reaches y directly too, so dx = dy + da @ W1.T", score=1),
        Mistake('''def residual_block_backward(dy, cache):
    x, W1, W2, r = cache
    dr = dy @ W2.T
    return {"x": dy + dr @ W1.T, "W1": x.T @ dr, "b1": dr.sum(axis=0), "W2": r.T @ dy}
''', phrase="da = dr * (r > 0)", score=0),
        Mistake('''def residual_block_backward(dy, cache):
    x, W1, W2, r = cache
    da = (dy @ W2.T) * (r > 0)
    return {"x": dy + da @ W1.T, "W1": x.T @ da, "b1": da.sum(axis=0), "W2": dy.T @ r}
''', phrase="W2: transposed", score=1),
    ],
    "clip_by_value": [
        Mistake('''def clipped_by_value(grads, limit):
    return [np.clip(g, -limit, limit, out=g) for g in grads]
''', phrase="np.clip(g, -limit, limit) without out=", score=1),
        Mistake('''def clipped_by_value(grads, limit):
    return [np.minimum(g, limit) for g in grads]
''', phrase="entries beyond the limit become +-limit", score=0.5),
        Mistake('''def clipped_by_value(grads, limit):
    for g in grads:
        g[g > limit] = limit
        g[g < -limit] = -limit
    return grads
''', phrase="clipped_by_value changed the caller's arrays", score=1),
    ],
    "clip_by_global_norm": [
        Mistake('''def clipped_by_global_norm(grads, max_norm):
    norm = float(np.sqrt(sum(np.sum(g ** 2) for g in grads)))
    return [g * min(1.0, max_norm / np.linalg.norm(g)) for g in grads], norm
''', phrase="not each array's own norm", score=0.5),
        Mistake('''def clipped_by_global_norm(grads, max_norm):
    norm = float(np.sqrt(sum(np.sum(g ** 2) for g in grads)))
    if norm > max_norm:
        for g in grads:
            g *= max_norm / norm
    return grads, norm
''', phrase="return new ones (g * scale, not g *= scale)", score=1),
        Mistake('''def clipped_by_global_norm(grads, max_norm):
    norm = float(np.sqrt(sum(np.sum(g ** 2) for g in grads)))
    return [g * max_norm / norm for g in grads], norm
''', phrase="the global norm 5 is below the threshold 10", score=1),
        Mistake('''def clipped_by_global_norm(grads, max_norm):
    norm = np.sqrt(sum(np.sum(g ** 2) for g in grads))
    scale = min(1.0, max_norm / norm)
    return [g * scale for g in grads]
''', phrase="must return a pair (clipped, norm)", score=0),
    ],
    "which_remedy": [
        Mistake('''def which_remedy(situation):
    return {1: "he_init", 2: "gradient clipping", 3: "batchnorm", 4: "residual",
            5: "relu"}[situation]
''', phrase="every answer must be one of", score=0),
        Mistake('''def which_remedy(situation):
    answers = ["He initialisation", "clip_norm", "batchnorm", "residual", "relu"]
    return answers[situation - 1]
''', phrase="every answer must be one of", score=0),
        Mistake('''def which_remedy(situation):
    return REMEDIES.index({1: "he_init", 2: "clip_norm", 3: "batchnorm", 4: "residual",
                           5: "relu"}[situation])
''', phrase="every answer must be one of", score=0),
        Mistake('''def which_remedy(situation):
    return {1: "he_init", 2: "clip_norm", 3: "residual", 4: "batchnorm", 5: "relu"}[situation]
''', phrase="situation 3: cross out what the constraints forbid", score=1.5, hidden_only=True),
    ],
}

ALTERNATIVES = {
    "clip_by_value": [Alternative('''def clipped_by_value(grads, limit):
    return [np.minimum(np.maximum(g, -limit), limit) for g in grads]
''', what="np.minimum of np.maximum instead of np.clip")],
    "clip_by_global_norm": [Alternative('''def clipped_by_global_norm(grads, max_norm):
    norm = float(np.linalg.norm(np.concatenate([g.ravel() for g in grads])))
    if norm <= max_norm:
        return [g.copy() for g in grads], norm
    return [g * (max_norm / norm) for g in grads], norm
''', what="the norm of all entries concatenated, copies below the threshold")],
}

END_TO_END = [("clip_by_value", 0), ("residual_block_backward", 0)]
