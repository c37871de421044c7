"""Mistakes corpus of notebook 11 (the cost of backprop); see __init__.py for the format."""

from mistakes import Alternative, Mistake

ASSIGNMENT = "11_cost_of_backprop"

MISTAKES = {
    "linear_macs": [
        Mistake('''def linear_macs(n, d_in, d_out, input_grad=True):
    forward = n * d_in * d_out + n * d_out
    return forward, 2 * forward if input_grad else forward
''', phrase="leave out the bias", score=0),
        Mistake('''def linear_macs(n, d_in, d_out, input_grad=True):
    product = n * d_in * d_out
    return product, product
''', phrase="dW = x.T @ dy and dx = dy @ W.T are each as large as the forward product",
            score=0.5),
        Mistake('''def linear_macs(n, d_in, d_out, input_grad=True):
    return n * d_in * d_out, 2 * n * d_in * d_out
''', phrase="without dx = dy @ W.T the backward is the one product", score=1),
        Mistake('''def linear_macs(n, d_in, d_out, input_grad=True):
    forward = n * d_in * d_out
    backward = d_in * n * d_out + n * d_out * d_in if input_grad else n * d_in
    return forward, backward
''', phrase="expected (140, 140)", score=1),
    ],
    "fd_gradient": [
        Mistake('''def fd_gradient(f, theta, h=1e-5):
    f0 = f(theta)
    grad = np.zeros_like(theta)
    for i in range(len(theta)):
        theta_plus, theta_minus = theta.copy(), theta.copy()
        theta_plus[i] += h
        theta_minus[i] -= h
        grad[i] = (f(theta_plus) - f(theta_minus)) / (2 * h)
    return grad
''', phrase="and no call of f(theta) itself", score=0),
        Mistake('''def fd_gradient(f, theta, h=1e-5):
    grad = np.zeros_like(theta)
    for i in range(len(theta)):
        theta[i] += h
        f_plus = f(theta)
        theta[i] -= 2 * h
        f_minus = f(theta)
        theta[i] += h
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad
''', phrase="theta[i] + h - h can differ in the last bit", score=1),
        Mistake('''def fd_gradient(f, theta, h=1e-5):
    grad = np.zeros_like(theta)
    for i in range(len(theta)):
        step = np.zeros_like(theta)
        step[i] = h
        grad[i] = (f(theta + step) - f(theta - step)) / h
    return grad
''', phrase="divided by 2h, not h", score=0),
        Mistake('''def fd_gradient(f, theta, h=1e-5):
    grad = np.zeros_like(theta)
    for i in range(len(theta)):
        original = theta[i]
        theta[i] = original + h
        f_plus = f(theta)
        theta[i] = original - h
        f_minus = f(theta)
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad
''', phrase="put every perturbed entry back to its saved original value", score=0),
    ],
    "stack_cached_bytes": [
        Mistake('''def stack_cached_bytes(layers):
    return sum(layer.cache.nbytes for layer in layers if layer.cache is not None)
''', phrase="an array cached by several layers counts once", score=0),
        Mistake('''def stack_cached_bytes(layers):
    held = {id(layer.cache): layer.cache for layer in layers if layer.cache is not None}
    return sum(8 * array.size for array in held.values())
''', phrase="use array.nbytes, which knows the dtype", score=1),
        Mistake('''def stack_cached_bytes(layers):
    held = {id(layer.cache): layer.cache for layer in layers}
    return sum(array.nbytes for array in held.values())
''', phrase="their cache is None, which holds nothing (skip it)", score=1),
        Mistake('''def stack_cached_bytes(layers):
    held = {}
    for layer in layers:
        if layer.cache is not None:
            held[layer.cache.shape] = layer.cache
    return sum(array.nbytes for array in held.values())
''', phrase="not by shape or value", score=1),
    ],
    "checkpoint_forward": [
        Mistake('''def checkpoint_forward(layers, x, segment_size):
    segments = split_into_segments(layers, segment_size)
    saved = []
    for index, segment in enumerate(segments):
        for layer in segment:
            x = layer.forward(x)
        saved.append(x)
        if index < len(segments) - 1:
            for layer in segment:
                drop_caches(layer)
    return x, saved
''', phrase="saved before the segment runs, not its output", score=1),
        Mistake('''def checkpoint_forward(layers, x, segment_size):
    saved = []
    for segment in split_into_segments(layers, segment_size):
        saved.append(x)
        for layer in segment:
            x = layer.forward(x)
        for layer in segment:
            drop_caches(layer)
    return x, saved
''', phrase="expected only the 4 layers of the last segment", score=1),
        Mistake('''def checkpoint_forward(layers, x, segment_size):
    segments = split_into_segments(layers, segment_size)
    saved = [x.copy()]
    for index, segment in enumerate(segments):
        for layer in segment:
            x[...] = layer.forward(x)
        if index < len(segments) - 1:
            saved.append(x.copy())
            for layer in segment:
                drop_caches(layer)
    return x, saved
''', phrase="checkpoint_forward changed its input x", score=1),
    ],
    "checkpoint_backward": [
        Mistake('''def checkpoint_backward(layers, saved, dy, segment_size):
    segments = split_into_segments(layers, segment_size)
    for index in reversed(range(len(segments))):
        segment = segments[index]
        if index < len(segments) - 1:
            h = saved[index + 1]
            for layer in segment:
                h = layer.forward(h)
        for layer in reversed(segment):
            dy = layer.backward(dy)
        for layer in segment:
            drop_caches(layer)
    return dy
''', phrase="recompute segment k from saved[k]", score=1),
        Mistake('''def checkpoint_backward(layers, saved, dy, segment_size):
    segments = split_into_segments(layers, segment_size)
    for index in reversed(range(len(segments))):
        segment = segments[index]
        if index < len(segments) - 1:
            h = saved[index]
            for layer in segment:
                h = layer.forward(h)
        for layer in segment:
            dy = layer.backward(dy)
        for layer in segment:
            drop_caches(layer)
    return dy
''', phrase="run its layers' backward in reverse order", score=1),
        Mistake('''def checkpoint_backward(layers, saved, dy, segment_size):
    segments = split_into_segments(layers, segment_size)
    for index in reversed(range(len(segments))):
        segment = segments[index]
        if index < len(segments) - 1:
            h = saved[index]
            for layer in segment:
                h = layer.forward(h)
        for layer in reversed(segment):
            dy = layer.backward(dy)
    return dy
''', phrase="call drop_caches on each layer of a segment right after its backward", score=3),
        Mistake('''def checkpoint_backward(layers, saved, dy, segment_size):
    segments = split_into_segments(layers, segment_size)
    for index in reversed(range(len(segments))):
        segment = segments[index]
        h = saved[index]
        for layer in segment:
            h = layer.forward(h)
        for layer in reversed(segment):
            dy = layer.backward(dy)
        for layer in segment:
            drop_caches(layer)
    return dy
''', phrase="expected every block once except the last segment's", score=1.5),
    ],
    "segment_size": [
        Mistake('''def peak_activations(n_layers, segment_size):
    return n_layers // segment_size + segment_size
''', phrase="(rounded up: L // s rounds down)", score=0),
        Mistake('''def best_segment_size(n_layers):
    return min(peak_activations(n_layers, s) for s in range(1, n_layers + 1))
''', phrase="return the segment size s, not its M(s)", score=1),
        Mistake('''def best_segment_size(n_layers):
    costs = [peak_activations(n_layers, s) for s in range(1, n_layers + 1)]
    return int(np.argmin(costs)) + 1
''', phrase="on a tie the largest s wins", score=1),
        Mistake('''def best_segment_size(n_layers):
    return max(1, math.isqrt(n_layers))
''', phrase="on a tie the largest s wins", score=1),
    ],
}

ALTERNATIVES = {
    "fd_gradient": [Alternative('''def fd_gradient(f, theta, h=1e-5):
    work = theta.copy()
    grad = np.zeros(theta.shape)
    for i in range(work.size):
        work[i] = theta[i] + h
        f_plus = f(work)
        work[i] = theta[i] - h
        f_minus = f(work)
        work[i] = theta[i]
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad
''', what="perturbing a copy of theta")],
    "segment_size": [Alternative('''def peak_activations(n_layers, segment_size):
    return -(-n_layers // segment_size) + segment_size


def best_segment_size(n_layers):
    return max(range(1, n_layers + 1), key=lambda s: (-peak_activations(n_layers, s), s))
''', what="integer ceiling and max over (fewest activations, largest s)")],
}

END_TO_END = [("linear_macs", 2), ("fd_gradient", 2)]
