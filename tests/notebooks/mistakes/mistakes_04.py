"""Mistakes corpus of notebook 04 (losses); see __init__.py for the format."""

from mistakes import Alternative, Mistake

ASSIGNMENT = "04_losses"

MISTAKES = {
    "logsumexp": [
        Mistake('''def logsumexp(z, axis=-1):
    m = z.max()
    return m + np.log(np.sum(np.exp(z - m), axis=axis))
''', phrase="the maximum of the whole array (z.max()) leaves a row of -1000s", score=2),
        Mistake('''def logsumexp(z, axis=-1):
    m = np.max(z, axis=axis, keepdims=True)
    z -= m
    return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(z), axis=axis))
''', phrase="write z - m, not z -= m", score=2),
        Mistake('''def logsumexp(z, axis=-1):
    m = np.max(z, axis=axis, keepdims=True)
    return np.log(np.sum(np.exp(z - m), axis=axis))
''', phrase="so add m back after the log", score=0),
        Mistake('''def logsumexp(z, axis=-1):
    m = np.max(z, axis=axis)
    return m + np.log(np.sum(np.exp(z - m), axis=axis))
''', phrase="keep the reduced axis of the maximum", score=0),
        Mistake('''def logsumexp(z, axis=-1):
    m = np.max(z, axis=axis, keepdims=True)
    return m + np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True))
''', phrase="add np.squeeze(m, axis=axis) to the log, not m itself", score=0),
    ],
    "softmax": [
        Mistake('''def softmax(z):
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / e.sum(axis=-1)
''', phrase="an (N, C) array divided by an (N,) one", score=0),
        Mistake('''def softmax(z):
    z -= np.max(z, axis=-1, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=-1, keepdims=True)
''', phrase="softmax changed the caller's array z", score=2),
        Mistake('''def softmax(z):
    e = np.exp(z)
    return e / np.sum(e, axis=-1, keepdims=True)
''', phrase="without it exp(1000) overflows", score=1),
        Mistake('''def softmax(z):
    e = np.exp(z - np.max(z))
    return e / np.sum(e, axis=-1, keepdims=True)
''', phrase="with the maximum of the whole array the row of -1000s", score=1),
        Mistake('''def softmax(z):
    e = np.exp(z - np.max(z, axis=0, keepdims=True))
    return e / np.sum(e, axis=0, keepdims=True)
''', phrase="each row normalised on its own", score=0),
    ],
    "cross_entropy_loss": [
        Mistake('''def cross_entropy_loss(logits, labels):
    n_samples, n_classes = logits.shape
    if np.any((labels < 0) | (labels >= n_classes)):
        raise ValueError(f"labels must lie in [0, {n_classes})")
    return float(np.sum(logsumexp(logits, axis=1) - logits[np.arange(n_samples), labels]))
''', phrase="a sum gives twice the value", score=1),
        Mistake('''def cross_entropy_loss(logits, labels):
    if np.any((labels < 0) | (labels >= logits.shape[1])):
        raise ValueError("labels out of range")
    return float(np.mean(logsumexp(logits, axis=1) - logits[:, labels]))
''', phrase="logits[:, labels] is an (N, N) array", score=2),
        Mistake('''def cross_entropy_loss(logits, labels):
    n_samples = logits.shape[0]
    picked = logits[np.arange(n_samples), labels]
    return float(np.mean(logsumexp(logits, axis=1) - picked))
''', phrase="labels [0, 3] with C = 3 classes must raise ValueError", score=3),
        Mistake('''def cross_entropy_loss(logits, labels):
    n_samples, n_classes = logits.shape
    if np.any(labels >= n_classes):
        raise ValueError(f"labels must be below {n_classes}")
    picked = logits[np.arange(n_samples), labels]
    return float(np.mean(logsumexp(logits, axis=1) - picked))
''', phrase="labels [-1, 1] with C = 3 classes must raise ValueError", score=3),
        Mistake('''def cross_entropy_loss(logits, labels):
    n_samples, n_classes = logits.shape
    if np.any((labels < 0) | (labels >= n_classes)):
        raise ValueError(f"labels must lie in [0, {n_classes})")
    probs = softmax(logits)
    return float(-np.mean(np.log(probs[np.arange(n_samples), labels])))
''', phrase="never log(softmax(z)), whose second row underflows to log(0)", score=3),
    ],
    "softmax_cross_entropy_backward": [
        Mistake('''def softmax_cross_entropy_backward(logits, labels):
    probs = softmax(logits)
    probs[np.arange(len(labels)), labels] -= 1.0
    return probs
''', phrase="like 1/N of a mean over the batch", score=0),
        Mistake('''def softmax_cross_entropy_backward(logits, labels):
    probs = softmax(logits)
    probs[:, labels] -= 1.0
    return probs / logits.shape[0]
''', phrase="subtract 1 only at [n, labels[n]]", score=0),
        Mistake('''def softmax_cross_entropy_backward(logits, labels):
    n_samples = logits.shape[0]
    onehot = np.zeros_like(logits)
    onehot[np.arange(n_samples), labels] = 1.0
    return (onehot - softmax(logits)) / n_samples
''', phrase="has the opposite sign", score=0),
        Mistake('''def softmax_cross_entropy_backward(logits, labels):
    probs = softmax(logits)
    probs[np.arange(len(labels)), labels] -= 1.0
    return probs / logits.shape[1]
''', phrase="a constant factor is off", score=2),
    ],
    "mse_loss": [
        Mistake('''def mse_loss(pred, target):
    return float(np.sum((pred - target) ** 2) / len(pred))
''', phrase="3.083 means you divided by N = 3 only", score=0),
        Mistake('''def mse_loss(pred, target):
    return float(0.5 * np.mean((pred - target) ** 2))
''', phrase="0.771 means a factor 1/2", score=0),
        Mistake('''def mse_loss(pred, target):
    return float(np.sum((pred - target) ** 2))
''', phrase="9.25 means the sum, not the mean", score=0),
        Mistake('''def mse_loss(pred, target):
    return float(np.mean(pred - target) ** 2)
''', phrase="square each residual before the mean", score=0),
    ],
    "mse_loss_backward": [
        Mistake('''def mse_loss_backward(pred, target):
    return (pred - target) / pred.size
''', phrase="check the 2, the sign and the divisor", score=0),
        Mistake('''def mse_loss_backward(pred, target):
    return 2 * (pred - target) / len(pred)
''', phrase="not N = len(pred)", score=0),
        Mistake('''def mse_loss_backward(pred, target):
    return 2 * (target - pred) / pred.size
''', phrase="has the opposite sign", score=0),
    ],
    "bce_with_logits": [
        Mistake('''def bce_with_logits(z, y):
    s = 1 / (1 + np.exp(-z))
    loss = float(-np.mean(y * np.log(s) + (1 - y) * np.log(1 - s)))
    return loss, (s - y) / z.size
''', phrase="1 / (1 + np.exp(-z)) overflows for z = -1000", score=2),
        Mistake('''def bce_with_logits(z, y):
    softplus = np.logaddexp(0.0, z)
    loss = float(np.mean(softplus - y * z))
    return loss, np.exp(z - softplus) - y
''', phrase="(sigmoid(z) - y) / z.size", score=0),
        Mistake('''def bce_with_logits(z, y):
    sigmoid = np.where(z >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z)))
    loss = float(np.mean(np.logaddexp(0.0, z) - y * z))
    return loss, (sigmoid - y) / z.size
''', phrase="computes both branches for every entry", score=2),
        Mistake('''def bce_with_logits(z, y):
    softplus = np.log(1 + np.exp(z))
    loss = float(np.mean(softplus - y * z))
    return loss, (np.exp(z - softplus) - y) / z.size
''', phrase="softplus(x) = np.logaddexp(0, x)", score=2),
    ],
}

ALTERNATIVES = {
    "logsumexp": [Alternative('''def logsumexp(z, axis=-1):
    m = np.max(z, axis=axis)
    shifted = z - np.expand_dims(m, axis)
    return m + np.log(np.exp(shifted).sum(axis=axis))
''', what="np.expand_dims instead of keepdims and squeeze")],
    "softmax": [Alternative('''def softmax(z):
    return np.exp(z - logsumexp(z, axis=-1)[..., None])
''', what="exp(z - lse(z)) with the student's own logsumexp")],
    "bce_with_logits": [Alternative('''def bce_with_logits(z, y):
    positive = z >= 0
    sigmoid = np.empty_like(z)
    sigmoid[positive] = 1 / (1 + np.exp(-z[positive]))
    e = np.exp(z[~positive])
    sigmoid[~positive] = e / (1 + e)
    softplus = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))
    return float(np.mean(softplus - y * z)), (sigmoid - y) / z.size
''', what="each sigmoid branch on its own entries, softplus by max and log1p")],
}

END_TO_END = [("mse_loss", 2), ("bce_with_logits", 1)]
