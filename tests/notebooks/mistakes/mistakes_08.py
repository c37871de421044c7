"""Mistakes corpus of notebook 08 (RNN backprop); see __init__.py for the format."""

from mistakes import Alternative, Mistake

ASSIGNMENT = "08_rnn_backprop"

MISTAKES = {
    "rnn_step_backward": [
        Mistake('''def rnn_step_backward(dh_t, cache):
    da = dh_t * (1 - np.tanh(cache.h_t) ** 2)
    dx_t = da @ cache.Wx.T
    dh_prev = da @ cache.Wh.T
    dWx = cache.x_t.T @ da
    dWh = cache.h_prev.T @ da
    db = np.sum(da, axis=0)
    return dx_t, dh_prev, dWx, dWh, db
''', phrase="tanh' from the output h_t", score=0),
        Mistake('''def rnn_step_backward(dh_t, cache):
    da = dh_t * (1 - cache.h_t ** 2)
    dx_t = da @ cache.Wx.T
    dh_prev = da @ cache.Wh
    dWx = cache.x_t.T @ da
    dWh = cache.h_prev.T @ da
    db = np.sum(da, axis=0)
    return dx_t, dh_prev, dWx, dWh, db
''', phrase="the transpose: Wh is square", score=1),
        Mistake('''def rnn_step_backward(dh_t, cache):
    da = dh_t * (1 - cache.h_t ** 2)
    dx_t = da @ cache.Wx.T
    dh_prev = da @ cache.Wh.T
    dWx = cache.x_t.T @ da
    dWh = cache.h_t.T @ da
    db = np.sum(da, axis=0)
    return dx_t, dh_prev, dWx, dWh, db
''', phrase="the state that ENTERED the step, not h_t", score=1),
        Mistake('''def rnn_step_backward(dh_t, cache):
    da = dh_t * (1 - cache.h_t ** 2)
    dx_t = da @ cache.Wx.T
    dh_prev = da @ cache.Wh.T
    dWx = cache.x_t.T @ da
    dWh = cache.h_prev.T @ da
    db = da.sum(axis=1)
    return dx_t, dh_prev, dWx, dWh, db
''', phrase="sum over the batch axis (axis=0)", score=1),
    ],
    "rnn_backward": [
        Mistake('''def rnn_backward(dh, caches):
    N, T, H = dh.shape
    D = caches[0].x_t.shape[1]
    dx = np.zeros((N, T, D))
    dWx, dWh, db = np.zeros((D, H)), np.zeros((H, H)), np.zeros(H)
    dh_next = np.zeros((N, H))
    for t in range(T - 1, 0, -1):
        dx[:, t], dh_next, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t] + dh_next, caches[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dh_next, dWx, dWh, db
''', phrase="does your loop reach t = 0?", score=1),
        Mistake('''def rnn_backward(dh, caches):
    N, T, H = dh.shape
    D = caches[0].x_t.shape[1]
    dx = np.zeros((N, T, D))
    dh_next = np.zeros((N, H))
    for t in reversed(range(T)):
        dx[:, t], dh_next, dWx, dWh, db = rnn_step_backward(dh[:, t] + dh_next, caches[t])
    return dx, dh_next, dWx, dWh, db
''', phrase="their gradients must be summed over t (dWh += ..., not dWh = ...)", score=2),
        Mistake('''def rnn_backward(dh, caches):
    N, T, H = dh.shape
    D = caches[0].x_t.shape[1]
    dx = np.zeros((N, T, D))
    dWx, dWh, db = np.zeros((D, H)), np.zeros((H, H)), np.zeros(H)
    dh0 = np.zeros((N, H))
    for t in reversed(range(T)):
        dx[:, t], dh0, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t], caches[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dh0, dWx, dWh, db
''', phrase="check that the carried gradient is added (the recurrent term)", score=1),
        Mistake('''def rnn_backward(dh, caches):
    N, T, H = dh.shape
    D = caches[0].x_t.shape[1]
    dx = np.zeros((N, T, D))
    dWx, dWh, db = np.zeros((D, H)), np.zeros((H, H)), np.zeros(H)
    for t in reversed(range(T)):
        dx[:, t], dh_prev, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t], caches[t])
        if t > 0:
            dh[:, t - 1] += dh_prev
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dh_prev, dWx, dWh, db
''', phrase="rnn_backward must not modify dh", score=0),
    ],
    "truncated_rnn_gradients": [
        Mistake('''def truncated_rnn_gradients(rnn, x, dh, k):
    T = x.shape[1]
    dx = np.zeros_like(x)
    grads = {name: np.zeros_like(g) for name, g in rnn.grads.items()}
    for start in range(0, T, k):
        rnn.forward(x[:, start:start + k])
        dx[:, start:start + k] = rnn.backward(dh[:, start:start + k])
        for name in grads:
            grads[name] += rnn.grads[name]
    return dx, grads
''', phrase="every window seems to start from zeros", score=0),
        Mistake('''def truncated_rnn_gradients(rnn, x, dh, k):
    T = x.shape[1]
    dx = np.zeros_like(x)
    h = None
    for start in range(0, T, k):
        rnn.forward(x[:, start:start + k], h)
        dx[:, start:start + k] = rnn.backward(dh[:, start:start + k])
        h = rnn.last_state
    return dx, dict(rnn.grads)
''', phrase="add up a COPY of each window's rnn.grads", score=1),
        Mistake('''def truncated_rnn_gradients(rnn, x, dh, k):
    rnn.forward(x)
    dx = rnn.backward(dh)
    return dx, {name: g.copy() for name, g in rnn.grads.items()}
''', phrase="this is full BPTT", score=0),
    ],
    "clip_by_global_norm": [
        Mistake('''def clip_by_global_norm(grads, max_norm):
    norm = np.sqrt(sum(np.sum(g ** 2) for g in grads))
    if norm > max_norm:
        for i in range(len(grads)):
            grads[i] = grads[i] * max_norm / norm
    return float(norm)
''', phrase="grads[i] = grads[i] * scale would put a new array in the list", score=0.5),
        Mistake('''def clip_by_global_norm(grads, max_norm):
    total = 0.0
    for g in grads:
        n = np.linalg.norm(g)
        total += n ** 2
        if n > max_norm:
            g *= max_norm / n
    return float(np.sqrt(total))
''', phrase="the global norm, not each array's own", score=0.5),
        Mistake('''def clip_by_global_norm(grads, max_norm):
    norm = np.sqrt(sum(np.sum(g ** 2) for g in grads))
    if norm > max_norm:
        for g in grads:
            g *= max_norm / norm
        norm = max_norm
    return float(norm)
''', phrase="return the global norm before clipping", score=0.5),
    ],
    "lstm_gates_backward": [
        Mistake('''def lstm_gates_backward(dh_t, dc_t, cache):
    i, f, o, g = cache.i, cache.f, cache.o, cache.g
    dz_o = dh_t * cache.tanh_c * o * (1 - o)
    dz_i = dc_t * g * i * (1 - i)
    dz_f = dc_t * cache.c_prev * f * (1 - f)
    dz_g = dc_t * i * (1 - g ** 2)
    return np.concatenate([dz_i, dz_f, dz_o, dz_g], axis=1), dc_t * f
''', phrase="(both paths into c_t)", score=1),
        Mistake('''def lstm_gates_backward(dh_t, dc_t, cache):
    i, f, o, g = cache.i, cache.f, cache.o, cache.g
    dc = dc_t + dh_t * o * (1 - cache.tanh_c ** 2)
    dz_i = dc * g * i * (1 - i)
    dz_f = dc * cache.c_prev * f * (1 - f)
    dz_o = dh_t * cache.tanh_c * o * (1 - o)
    dz_g = dc * i * (1 - g ** 2)
    return np.concatenate([dz_i, dz_f, dz_g, dz_o], axis=1), dc * f
''', phrase="block 2 of dz (gate o) is wrong", score=2),
        Mistake('''def lstm_gates_backward(dh_t, dc_t, cache):
    i, f, o, g = cache.i, cache.f, cache.o, cache.g
    dc = dc_t + dh_t * o * (1 - cache.tanh_c ** 2)
    dz_i = dc * g * i * (1 - i)
    dz_f = dc * cache.c_prev * f * (1 - f)
    dz_o = dh_t * cache.tanh_c * o * (1 - o)
    dz_g = dc * i * (1 - g) ** 2
    return np.concatenate([dz_i, dz_f, dz_o, dz_g], axis=1), dc * f
''', phrase="dz_g = dc * i * (1 - g**2)", score=3),
        Mistake('''def lstm_gates_backward(dh_t, dc_t, cache):
    i, f, o, g = cache.i, cache.f, cache.o, cache.g
    dc = dc_t + dh_t * o * (1 - cache.tanh_c ** 2)
    dz_i = dc * g * i * (1 - i)
    dz_f = dc * cache.c_prev * f * (1 - f)
    dz_o = dh_t * cache.tanh_c * o * (1 - o)
    dz_g = dc * i * (1 - g ** 2)
    return np.concatenate([dz_i, dz_f, dz_o, dz_g], axis=1), dc_t * f
''', phrase="dc_prev = dc * f, with dc the total cell gradient", score=3),
    ],
    "lstm_step_backward": [
        Mistake('''def lstm_step_backward(dh_t, dc_t, cache):
    dz, dc_prev = lstm_gates_backward(dh_t, dc_t, cache)
    dx_t = dz @ cache.Wx.T
    dh_prev = dz @ cache.Wh.T
    dWx = cache.x_t.T @ dz
    dWh = cache.h_prev.T @ dz
    db = dz.mean(axis=0)
    return dx_t, dh_prev, dc_prev, dWx, dWh, db
''', phrase="db = dz summed over the batch axis 0", score=0.75),
        Mistake('''def lstm_step_backward(dh_t, dc_t, cache):
    dz, dc_prev = lstm_gates_backward(dh_t, dc_t, cache)
    dx_t = dz @ cache.Wx.T
    dh_prev = dz @ cache.Wh.T
    dWx = dz.T @ cache.x_t
    dWh = dz.T @ cache.h_prev
    db = dz.sum(axis=0)
    return dx_t, dh_prev, dc_prev, dWx, dWh, db
''', phrase="(transposed?)", score=0.75),
        Mistake('''def lstm_step_backward(dh_t, dc_t, cache):
    dz, dc_prev = lstm_gates_backward(dh_t, dc_t, cache)
    dx_t = dz @ cache.Wx.T
    dh_prev = dh_t
    dWx = cache.x_t.T @ dz
    dWh = cache.h_prev.T @ dz
    db = dz.sum(axis=0)
    return dx_t, dh_prev, dc_prev, dWx, dWh, db
''', phrase="dh_prev = dz @ Wh.T", score=0.75),
    ],
}

ALTERNATIVES = {
    "rnn_backward": [Alternative('''def rnn_backward(dh, caches):
    N, T, H = dh.shape
    grads = None
    dxs = []
    dh_next = np.zeros((N, H))
    for cache, dh_here in zip(reversed(caches), reversed(np.moveaxis(dh, 1, 0))):
        dx_t, dh_next, *step = rnn_step_backward(dh_here + dh_next, cache)
        dxs.append(dx_t)
        grads = step if grads is None else [a + b for a, b in zip(grads, step)]
    return (np.stack(dxs[::-1], axis=1), dh_next, *grads)
''', what="a loop over reversed caches, the step gradients summed in a list, dx stacked")],
}

END_TO_END = [("rnn_backward", 0), ("clip_by_global_norm", 0)]
