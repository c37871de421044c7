"""Mistakes corpus of notebook 03 (vectorized backprop); see __init__.py for the format."""

from mistakes import Alternative, Mistake

ASSIGNMENT = "03_vectorized_backprop"

MISTAKES = {
    "linear_forward": [
        Mistake('''def linear_forward(x, W, b):
    return W @ x + b
''', phrase="x @ W multiplies them (W @ x does not)", score=0),
        Mistake('''def linear_forward(x, W, b):
    return x @ W
''', phrase="y equals x @ W: add the bias b", score=0),
        Mistake('''def linear_forward(x, W, b):
    return np.dot(x, W) + b.reshape(-1, 1)
''', phrase="is added to every row of x @ W as it is, with no reshape", score=0),
    ],
    "linear_backward": [
        Mistake('''def linear_backward(dy, x, W):
    return dy @ W.T, dy.T @ x, dy.sum(axis=0)
''', phrase="dy.T @ x is its transpose", score=2),
        Mistake('''def linear_backward(dy, x, W):
    return dy @ W.T, x.T @ dy, dy.sum()
''', phrase="dy.sum() is one number for all biases", score=2),
        Mistake('''def linear_backward(dy, x, W):
    return dy @ W.T, x.T @ dy, dy.mean(axis=0)
''', phrase="not the mean (the 1/N is already in dy)", score=2),
        Mistake('''def linear_backward(dy, x, W):
    dx = dy @ W
    dW = x.T @ dy
    db = np.sum(dy, axis=0)
    return dx, dW, db
''', phrase="dx = dy @ W.T is (N, D)", score=0),
        Mistake('''def linear_backward(dy, x, W):
    N = x.shape[0]
    dx = dy @ W.T / N
    dW = x.T @ dy / N
    db = dy.sum(axis=0) / N
    return dx, dW, db
''', phrase="no 1/N here: the mean's 1/N is already in dy", score=0),
        Mistake('''def linear_backward(dy, x, W):
    return dy @ W.T, x.T @ dy, dy.sum(axis=1)
''', phrase="sum dy over the batch axis only, dy.sum(axis=0)", score=2),
    ],
    "linear_input_jacobian": [
        Mistake('''def linear_input_jacobian(W, batch_size):
    return np.kron(np.eye(batch_size), W)
''', phrase="blocks of W instead of W.T give shape (N*D, N*M)", score=0),
        Mistake('''def linear_input_jacobian(W, batch_size):
    return np.kron(W.T, np.eye(batch_size))
''', phrase="np.kron(np.eye(N), W.T), in that order", score=0),
        Mistake('''def linear_input_jacobian(W, batch_size):
    D, M = W.shape
    J = np.zeros((batch_size * M, batch_size * D))
    for n in range(batch_size):
        J[n * M:(n + 1) * M, n * M:(n + 1) * M] = W.T
    return J
''', phrase="sits at rows n*M:(n+1)*M and columns n*D:(n+1)*D", score=0),
        Mistake('''def linear_input_jacobian(W, batch_size):
    return np.tile(W.T, (batch_size, batch_size))
''', phrase="the off-diagonal blocks of J must be 0", score=0),
    ],
    "relu_backward": [
        Mistake('''def relu_backward(dy, x):
    return dy * (dy > 0)
''', phrase="mask with the forward's input x, not with dy", score=0),
        Mistake('''def relu_backward(dy, x):
    return dy * (x >= 0)
''', phrase="(also at x = 0)", score=1),
        Mistake('''def relu_backward(dy, x):
    dy[x <= 0] = 0
    return dy
''', phrase="relu_backward changed its input dy or x", score=1.5),
        Mistake('''def relu_backward(dy, x):
    return dy * (x > 0).astype(np.float64)
''', phrase="for float32 inputs return float32", score=1.5),
        Mistake('''def relu_backward(dy, x):
    return (x > 0).astype(float)
''', phrase="it equals dy where x > 0 and 0 where x <= 0", score=0),
    ],
    "sigmoid_backward": [
        Mistake('''def sigmoid_backward(dy, y):
    s = 1 / (1 + np.exp(-y))
    return dy * s * (1 - s)
''', phrase="do not apply the sigmoid to y again", score=0),
        Mistake('''def sigmoid_backward(dy, y):
    return y * (1 - y)
''', phrase="dx = dy * y * (1 - y)", score=0),
        Mistake('''def sigmoid_backward(dy, y):
    dy *= y * (1 - y)
    return dy
''', phrase="sigmoid_backward changed its input dy or y", score=1.5),
        Mistake('''def sigmoid_backward(dy, y):
    return dy * (1 - y**2)
''', phrase="dx = dy * y * (1 - y), where y is the cached OUTPUT", score=0),
    ],
    "two_layer_loss_and_grads": [
        Mistake('''def two_layer_loss_and_grads(x, labels, params):
    a = linear_forward(x, params["W1"], params["b1"])
    h = np.maximum(a, 0.0)
    scores = linear_forward(h, params["W2"], params["b2"])
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(scores, labels)
    dh, dW2, db2 = linear_backward(loss_fn.backward(), h, params["W2"])
    da = relu_backward(dh, x)
    _, dW1, db1 = linear_backward(da, x, params["W1"])
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
''', phrase="relu_backward(dh, a) takes the ReLU's input a", score=0),
        Mistake('''def two_layer_loss_and_grads(x, labels, params):
    a = linear_forward(x, params["W1"], params["b1"])
    h = np.maximum(a, 0.0)
    scores = linear_forward(h, params["W2"], params["b2"])
    loss = SoftmaxCrossEntropy().forward(scores, labels)
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(labels)), labels] -= 1
    dh, dW2, db2 = linear_backward(p, h, params["W2"])
    _, dW1, db1 = linear_backward(relu_backward(dh, a), x, params["W1"])
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
''', phrase="like 1/N of a mean over the batch", score=1),
        Mistake('''def two_layer_loss_and_grads(x, labels, params):
    a = linear_forward(x, params["W1"], params["b1"])
    h = np.maximum(a, 0.0)
    scores = linear_forward(h, params["W2"], params["b2"])
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(scores, labels)
    dh, dW2, db2 = linear_backward(loss_fn.backward(), h, params["W2"])
    _, dW1, db1 = linear_backward(dh, x, params["W1"])
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
''', phrase="relu_backward with the ReLU's input a, then linear_backward with (da, x, W1)",
            score=1),
        Mistake('''def two_layer_loss_and_grads(x, labels, params):
    h = np.maximum(x @ params["W1"], 0.0)
    scores = h @ params["W2"]
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(scores, labels)
    dh, dW2, db2 = linear_backward(loss_fn.backward(), h, params["W2"])
    _, dW1, db1 = linear_backward(relu_backward(dh, h), x, params["W1"])
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
''', phrase="scores = relu(x @ W1 + b1) @ W2 + b2", score=0),
    ],
    "average_example_gradients": [
        Mistake('''def average_example_gradients(loss_and_grads, x, labels, params):
    total = {name: np.zeros_like(value) for name, value in params.items()}
    for n in range(len(x)):
        _, grads = loss_and_grads(x[n:n + 1], labels[n:n + 1], params)
        for name in total:
            total[name] += grads[name]
    return total
''', phrase="and divide by N = 5", score=1),
        Mistake('''def average_example_gradients(loss_and_grads, x, labels, params):
    total = {name: np.zeros_like(value) for name, value in params.items()}
    for n in range(len(x)):
        _, grads = loss_and_grads(x[n], labels[n], params)
        for name in total:
            total[name] += grads[name]
    return {name: g / len(x) for name, g in total.items()}
''', phrase="(x[n] and labels[n] drop the batch axis)", score=0),
        Mistake('''def average_example_gradients(loss_and_grads, x, labels, params):
    total = None
    for n in range(len(x)):
        _, grads = loss_and_grads(x[n:n + 1], labels[n:n + 1], params)
        if total is None:
            total = grads
        else:
            for name in total:
                total[name] += grads[name]
    return {name: g / len(x) for name, g in total.items()}
''', phrase="keep the running sum in arrays of your own", score=2),
        Mistake('''def average_example_gradients(loss_and_grads, x, labels, params):
    total = {name: np.zeros_like(value) for name, value in params.items()}
    for n in range(len(x)):
        _, grads = loss_and_grads(x[n:n + 1], labels[n:n + 1], params)
        for name in total:
            total[name] = total[name] + grads[name]
    return {name: g / len(params) for name, g in total.items()}
''', phrase="add the N per-example gradients and divide by N = 5", score=1),
        Mistake('''def average_example_gradients(loss_and_grads, x, labels, params):
    _, grads = loss_and_grads(x, labels, params)
    return {name: g.copy() for name, g in grads.items()}
''', phrase="loss_and_grads must be called 5 times", score=1.5),
    ],
    "sgd_step": [
        Mistake('''def sgd_step(params, grads, learning_rate):
    for name in params:
        params[name] = params[name] - learning_rate * grads[name]
''', phrase="params[name] = params[name] - ... makes new arrays", score=0),
        Mistake('''def sgd_step(params, grads, learning_rate):
    for name in params:
        grads[name] *= learning_rate
        params[name] -= grads[name]
''', phrase="sgd_step must not modify grads", score=1),
        Mistake('''def sgd_step(params, grads, learning_rate):
    for name in params:
        params[name] += learning_rate * grads[name]
''', phrase="param <- param - learning_rate * grad", score=0),
        Mistake('''def sgd_step(params, grads, learning_rate):
    return {name: p - learning_rate * grads[name] for name, p in params.items()}
''', phrase="sgd_step left params['W'] unchanged", score=0),
    ],
}

ALTERNATIVES = {
    "linear_input_jacobian": [Alternative('''def linear_input_jacobian(W, batch_size):
    D, M = W.shape
    J = np.zeros((batch_size * M, batch_size * D))
    for n in range(batch_size):
        J[n * M:(n + 1) * M, n * D:(n + 1) * D] = W.T
    return J
''', what="a loop filling the diagonal blocks")],
    "relu_backward": [Alternative('''def relu_backward(dy, x):
    return np.where(x > 0, dy, np.zeros_like(dy))
''', what="np.where with zeros of dy's dtype")],
    "average_example_gradients": [Alternative(
        '''def average_example_gradients(loss_and_grads, x, labels, params):
    per_example = []
    for n in range(x.shape[0]):
        _, grads = loss_and_grads(x[n:n + 1], labels[n:n + 1], params)
        per_example.append({name: np.array(g) for name, g in grads.items()})
    return {name: np.mean([g[name] for g in per_example], axis=0) for name in params}
''', what="np.mean over copies of the per-example gradients")],
}

END_TO_END = [("linear_input_jacobian", 3), ("sgd_step", 1)]
