"""Mistakes corpus of notebook 06 (gradient checking); see __init__.py for the format."""

from mistakes import Alternative, Mistake

ASSIGNMENT = "06_gradient_checking"

MISTAKES = {
    "relative_error": [
        Mistake('''def relative_error(a, n):
    floor = np.maximum(1e-3 * np.abs(n), 1e-8)
    r = np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), floor)
    return np.where(np.isfinite(a) & np.isfinite(n), r, np.inf)
''', phrase="(not 1e-3 * |n_i| per entry)", score=2),
        Mistake('''def relative_error(a, n):
    floor = max(1e-3 * np.abs(n).max(), 1e-8)
    return np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), floor)
''', phrase="where a or n is not finite return np.inf", score=2),
        Mistake('''def relative_error(a, n):
    finite = np.isfinite(n)
    floor = max(1e-3 * np.abs(n[finite]).max(), 1e-8)
    r = np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)
    return np.where(np.isfinite(a) & finite, r, np.inf)
''', phrase="entry 1 is 0.5 / (2 + 2.5)", score=0),
        Mistake('''def relative_error(a, n):
    floor = max(1e-3 * np.max(np.abs(n)), 1e-8)
    r = np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), floor)
    r[~(np.isfinite(a) & np.isfinite(n))] = np.inf
    return r
''', phrase="the floor comes from the finite entries of n only", score=2),
    ],
    "error_curve": [
        Mistake('''def error_curve(f, x, analytic, steps):
    return np.array([relative_error(analytic, numerical_gradient(f, x, h=h)).mean()
                     for h in steps])
''', phrase="the LARGEST entry of relative_error(analytic, n)", score=1),
        Mistake('''def error_curve(f, x, analytic, steps):
    return np.array([relative_error(analytic, numerical_gradient(f, x)).max() for h in steps])
''', phrase="n = numerical_gradient(f, x, h=h)", score=1),
        Mistake('''def best_step(steps, errors):
    return float(np.min(errors))
''', phrase="the smallest error, 2e-10, belongs to h = 1e-5", score=1),
        Mistake('''def best_step(steps, errors):
    return int(np.argmin(errors))
''', phrase="belongs to h = 1e-5", score=1),
    ],
    "softmax_backward": [
        Mistake('''def softmax_backward(dy, y):
    return {"z": y * (dy - dy.mean(axis=1, keepdims=True))}
''', phrase="the y-weighted sum of each row, not the plain mean", score=0.5),
        Mistake('''def softmax_backward(dy, y):
    return {"z": y * (dy - np.sum(dy * y))}
''', phrase="not a sum over the whole array or over axis 0", score=0),
        Mistake('''def softmax_backward(dy, y):
    return {"z": y * (dy - np.sum(dy * y, axis=1))}
''', phrase="has shape (N, 1) and broadcasts against (N, C)", score=0),
        Mistake('''def softmax_backward(dy, y):
    return {"z": dy * y * (1 - y)}
''', phrase="softmax_backward fails the gradient check with a random dy", score=0),
    ],
    "linear_backward": [
        Mistake('''def linear_backward(dy, cache):
    x, W = cache
    return {"x": dy @ W.T, "W": x.T @ dy, "b": dy.mean(axis=0)}
''', phrase="analytic = numerical / 4 everywhere", score=0),
        Mistake('''def linear_backward(dy, cache):
    x, W = cache
    return {"x": dy @ W.T, "W": x.T @ dy, "b": dy.sum(axis=1)}
''', phrase="summed over the wrong axis", score=0),
        Mistake('''def linear_backward(dy, cache):
    x, W = cache
    return {"x": dy @ W.T, "W": x.T @ dy, "b": np.sum(dy)}
''', phrase="a gradient always has the shape of the array it is the gradient of", score=0),
    ],
    "dense_backward": [
        Mistake('''def dense_backward(dy, cache):
    x, W = cache
    return {"x": dy @ W, "W": x.T @ dy, "b": dy.sum(axis=0)}
''', phrase="transpose", score=0),
        Mistake('''def dense_backward(dy, cache):
    x, W = cache
    return {"x": dy @ W.T, "W": dy.T @ x, "b": dy.sum(axis=0)}
''', phrase="dx = dy @ W", score=0),
        Mistake('''def dense_backward(dy, cache):
    x, W = cache
    return {"x": dy @ W, "W": (x.T @ dy).reshape(W.shape), "b": dy.sum(axis=0)}
''', phrase="dy.T @ x", score=0),
    ],
    "sigmoid_backward": [
        Mistake('''def sigmoid_backward(dy, cache):
    x, y = cache
    dy *= y * (1 - y)
    return {"x": dy}
''', phrase="never dy *= ...", score=1.5),
        Mistake('''def sigmoid_backward(dy, cache):
    x, y = cache
    s = 1 / (1 + np.exp(-y))
    return {"x": dy * s * (1 - s)}
''', phrase="do not apply it again", score=0.5),
        Mistake('''def sigmoid_backward(dy, cache):
    x, y = cache
    return {"x": y * (1 - y)}
''', phrase="dx = dy * sigmoid'(x)", score=0.5),
        Mistake('''def sigmoid_backward(dy, cache):
    x, y = cache
    return {"x": dy * np.exp(-x) * y}
''', phrase="sigmoid'(x) = y * (1 - y)", score=0.5),
    ],
    "mse_backward": [
        Mistake('''def mse_backward(dloss, cache):
    diff, n_examples = cache
    dpred = 2 * diff * dloss / diff.size
    return {"pred": dpred, "target": -dpred}
''', phrase="not the number of entries", score=0),
        Mistake('''def mse_backward(dloss, cache):
    diff, n_examples = cache
    dpred = 2 * diff * dloss / n_examples
    return {"pred": dpred, "target": dpred}
''', phrase="sign", score=0),
        Mistake('''def mse_backward(dloss, cache):
    diff, n_examples = cache
    dpred = 2 * diff / n_examples
    return {"pred": dpred, "target": -dpred}
''', phrase="dloss multiplies both", score=0),
        Mistake('''def mse_backward(dloss, cache):
    diff, n_examples = cache
    dpred = diff * dloss / n_examples
    return {"pred": dpred, "target": -dpred}
''', phrase="numerical / 2", score=0),
    ],
    "log_softmax_backward": [
        Mistake('''def log_softmax_backward(dy, p):
    return {"z": dy - p * dy.sum(axis=1)}
''', phrase="has shape (N, 1) and broadcasts against p (N, C)", score=0),
        Mistake('''def log_softmax_backward(dy, p):
    return {"z": dy - p * dy}
''', phrase="the sum runs over the classes of one example", score=0),
        Mistake('''def log_softmax_backward(dy, p):
    return {"z": dy * (1 - p)}
''', phrase="dy.sum(axis=1, keepdims=True), and p multiplies it", score=0),
        Mistake('''def log_softmax_backward(dy, p):
    return {"z": dy - dy.sum(axis=1, keepdims=True) / p.shape[1]}
''', phrase="and p multiplies it", score=0),
    ],
    "residual_backward": [
        Mistake('''def residual_backward(dy, cache):
    x, W, t = cache
    da = dy * (1 - t**2)
    return {"x": dy * (da @ W.T), "W": x.T @ da}
''', phrase="dx is the sum of both paths", score=0),
        Mistake('''def residual_backward(dy, cache):
    x, W, t = cache
    return {"x": dy + dy @ W.T, "W": x.T @ dy}
''', phrase="with da = dy * (1 - t**2)", score=0),
        Mistake('''def residual_backward(dy, cache):
    x, W, t = cache
    da = dy * (1 - t**2)
    return {"x": dy + da @ W.T, "W": da.T @ x}
''', phrase="transpose", score=0),
        Mistake('''def residual_backward(dy, cache):
    x, W, t = cache
    da = dy * (1 - t**2)
    return {"x": dy + da @ W, "W": x.T @ da}
''', phrase="dx is the sum of both paths, dy + da @ W.T", score=0),
    ],
    "sqdist_backward": [
        Mistake('''def sqdist_backward(dy, diff):
    dx = 2 * diff * dy
    return {"x": dx, "c": -dx.sum(axis=0)}
''', phrase="dy[:, None] broadcasts dy[n] along row n", score=0),
        Mistake('''def sqdist_backward(dy, diff):
    dx = 2 * diff * dy[:, None]
    return {"x": dx, "c": dx.sum(axis=0)}
''', phrase="sign flip", score=0),
        Mistake('''def sqdist_backward(dy, diff):
    dx = 2 * diff * dy[:, None]
    return {"x": dx, "c": -dx.sum(axis=1)}
''', phrase="a gradient always has the shape of the array it is the gradient of", score=0),
        Mistake('''def sqdist_backward(dy, diff):
    dx = diff * dy[:, None]
    return {"x": dx, "c": -dx.sum(axis=0)}
''', phrase="numerical / 2", score=0),
    ],
}

ALTERNATIVES = {
    "relative_error": [Alternative('''def relative_error(a, n):
    a, n = np.array(a, dtype=float), np.array(n, dtype=float)
    finite = np.isfinite(a) & np.isfinite(n)
    largest = np.max(np.abs(n), where=np.isfinite(n), initial=0.0)
    floor = max(1e-3 * largest, 1e-8)
    r = np.full(a.shape, np.inf)
    r[finite] = np.abs(a[finite] - n[finite]) / np.maximum(
        np.abs(a[finite]) + np.abs(n[finite]), floor)
    return r
''', what="np.max with where= and a result filled with inf")],
    "dense_backward": [Alternative('''def dense_backward(dy, cache):
    x, W = cache
    return {"x": np.einsum("nm,md->nd", dy, W), "W": (x.T @ dy).T, "b": dy.sum(axis=0)}
''', what="einsum for dx, and dW as the transpose of x.T @ dy")],
    "log_softmax_backward": [Alternative('''def log_softmax_backward(dy, p):
    return {"z": dy - p * np.sum(dy, axis=-1)[:, None]}
''', what="the row sum with [:, None] instead of keepdims")],
}

END_TO_END = [("relative_error", 1), ("sqdist_backward", 1)]
