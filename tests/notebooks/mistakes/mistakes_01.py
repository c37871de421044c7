"""Mistakes corpus of notebook 01 (chain rule); see __init__.py for the format."""

from mistakes import Alternative, Mistake

ASSIGNMENT = "01_chain_rule"

MISTAKES = {
    "forward_difference": [
        Mistake('''def forward_difference(f, x, h):
    return (f(x + h) - f(x)) / (2 * h)
''', phrase="divided by h, not by 2h", score=0),
        Mistake('''def forward_difference(f, x, h):
    fx = f(x)
    x += h
    return (f(x) - fx) / h
''', phrase="x += h works in place", score=1.5),
        Mistake('''def forward_difference(f, x, h):
    return f(x + h) - f(x) / h
''', phrase="the parentheses matter", score=0),
        Mistake('''def forward_difference(f, x, h):
    return (f(x) - f(x - h)) / h
''', phrase="compute (f(x + h) - f(x)) / h (one step forward", score=0),
    ],
    "centered_difference": [
        Mistake('''def centered_difference(f, x, h):
    return (f(x + h) - f(x - h)) / h
''', phrase="About 24 means you divided by h", score=0),
        Mistake('''def centered_difference(f, x, h):
    return (f(x + h) - f(x - h)) / 2 * h
''', phrase="(/ 2 * h multiplies by h)", score=0),
        Mistake('''def centered_difference(f, x, h):
    x += h
    f_plus = f(x)
    x -= 2 * h
    f_minus = f(x)
    return (f_plus - f_minus) / (2 * h)
''', phrase="x += h and x -= h work in place", score=1.5),
        Mistake('''def centered_difference(f, x, h):
    return (f(x + h) - f(x)) / h
''', phrase="12.006 means you computed the forward difference", score=0),
        Mistake('''def centered_difference(f, x, h):
    if np.ndim(x) == 0:
        return gradcheck.numerical_gradient(lambda v: float(f(v[0])), np.array([float(x)]), h=h)[0]
    return (f(x + h) - f(x - h)) / (2 * h)
''', phrase="numerical_gradient", score=0.5),
    ],
    "empirical_order": [
        Mistake('''def empirical_order(h, err):
    slope, intercept = np.polyfit(np.log(err), np.log(h), 1)
    return slope
''', phrase="0.5 means the axes are swapped", score=0),
        Mistake('''def empirical_order(h, err):
    return np.polyfit(h, err, 1)[0]
''', phrase="fit a straight line to the points (log h, log err)", score=0),
        Mistake('''def empirical_order(h, err):
    return np.polyfit(np.log(h), np.log(err), 1)
''', phrase="returns [slope, intercept], so take its first entry", score=0),
        Mistake('''def empirical_order(h, err):
    intercept, slope = np.polyfit(np.log(h), np.log(err), 1)
    return slope
''', phrase="returns [slope, intercept], in that order", score=0),
        Mistake('''def empirical_order(h, err):
    log_h, log_err = np.log(h), np.log(err)
    return (log_err[-1] - log_err[0]) / (log_h[-1] - log_h[0])
''', phrase="not the slope between two of them", score=1),
    ],
    "best_step_size": [
        Mistake('''def best_forward_h(f_abs, f2_abs, eps):
    return np.sqrt(eps * f_abs / f2_abs)


def best_centered_h(f_abs, f3_abs, eps):
    return np.cbrt(eps * f_abs / f3_abs)
''', phrase="Differentiate E(h) again, keeping the constants", score=0),
        Mistake('''def best_forward_h(f_abs, f2_abs, eps):
    return np.sqrt(2 * eps * f_abs / f2_abs)
''', phrase="your h is not where dE/dh = 0", score=1),
        Mistake('''def best_centered_h(f_abs, f3_abs, eps):
    return (3 * eps * f_abs / f3_abs) ** 1 / 3
''', phrase="** binds tighter than /", score=1),
        Mistake('''def best_forward_h(f_abs, f2_abs, eps):
    return 2 * np.sqrt(eps * f2_abs / f_abs)


def best_centered_h(f_abs, f3_abs, eps):
    return np.cbrt(3 * eps * f3_abs / f_abs)
''', phrase="the minimiser with f_abs and f2_abs swapped", score=0),
        Mistake('''def best_centered_h(f_abs, f3_abs, eps):
    return np.cbrt(6 * eps * f_abs / f3_abs)
''', phrase="your h is not where dE/dh = 0", score=1),
    ],
    "sigmoid_neuron_grads": [
        Mistake('''def sigmoid_neuron_grads(w, x, b):
    z = w * x + b
    ds_dz = z * (1 - z)
    return ds_dz * x, ds_dz * w, ds_dz
''', phrase="not z(1 - z)", score=0),
        Mistake('''def sigmoid_neuron_grads(w, x, b):
    s = 1 / (1 + np.exp(-(w * x + b)))
    d = s * (1 - s)
    return d, d, d
''', phrase="ds/dw = sigma'(z) * dz/dw with dz/dw = x", score=1),
        Mistake('''def sigmoid_neuron_grads(w, x, b):
    s = 1 / (1 + np.exp(-(w * x + b)))
    return s * (1 - s) * w, s * (1 - s) * x, s * (1 - s)
''', phrase="ds/dx = sigma'(z) * dz/dx with dz/dx = w", score=1),
        Mistake('''def sigmoid_neuron_grads(w, x, b):
    s = 1 / (1 + np.exp(-(w * x + b)))
    ds_dz = s * (1 - s)
    ds_dw = ds_dz * x
    ds_dx = ds_dz * x
    ds_db = ds_dz
    return ds_dw, ds_dx, ds_db
''', phrase="with dz/dx = w", score=2),
    ],
    "graph_gradient": [
        Mistake('''def graph_gradient(x, y, z):
    p = x * y
    q = p + z
    t = np.tanh(x)
    dq = t
    dt = q
    dp = dq
    dz = dq
    dx = dp * y
    dx = dt * (1 - t**2)
    dy = dp * x
    return dx, dy, dz
''', phrase="df_dx holds only the path x -> t = tanh(x)", score=2),
        Mistake('''def graph_gradient(x, y, z):
    t = np.tanh(x)
    return y * t, x * t, t
''', phrase="df_dx holds only the path x -> p = x*y", score=2),
        Mistake('''def graph_gradient(x, y, z):
    t = np.tanh(x)
    q = x * y + z
    dx = t * y + q * (1 - x**2)
    return dx, t * x, t
''', phrase="with t = tanh(x) (not 1 - x**2)", score=2),
        Mistake('''def graph_gradient(x, y, z):
    p = x * y
    q = p + z
    t = np.tanh(x)
    dq, dt = t, q
    dp = dq
    dx = dp * y + dt * (1 - t**2)
    dy = dp * y
    dz = 1.0
    return dx, dy, dz
''', phrase="df_dy = (adjoint of p) * x", score=2),
    ],
}

ALTERNATIVES = {
    "empirical_order": [Alternative('''def empirical_order(h, err):
    a, b = np.log10(np.asarray(h, dtype=float)), np.log10(np.asarray(err, dtype=float))
    a_centred = a - a.mean()
    return float(np.sum(a_centred * (b - b.mean())) / np.sum(a_centred**2))
''', what="the closed form of the least-squares slope, with base-10 logs")],
    "graph_gradient": [Alternative('''def graph_gradient(x, y, z):
    t = np.tanh(x)
    return y * t + (x * y + z) / np.cosh(x) ** 2, x * t, t
''', what="the product rule in one line, with 1 / cosh^2 for tanh'")],
    "sigmoid_neuron_grads": [Alternative('''def sigmoid_neuron_grads(w, x, b):
    z = w * x + b
    ds_dz = np.exp(-z) / (1 + np.exp(-z)) ** 2
    return ds_dz * x, ds_dz * w, ds_dz
''', what="sigma'(z) written as e^-z / (1 + e^-z)^2")],
}

END_TO_END = [("forward_difference", 1), ("graph_gradient", 0)]
