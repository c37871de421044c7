"""Oracle: the optimizers and the clip functions against torch.optim and torch.nn.utils.

Conventions mapped to torch (float64 throughout):

- ``SGD(lr)`` is ``torch.optim.SGD(lr=lr)``, no weight decay (the kit has none).
- ``Momentum(lr, momentum)`` is ``torch.optim.SGD(lr, momentum, dampening=0, nesterov=False)``:
  torch starts its buffer at the first gradient and the kit its velocity at 0, which after
  ``v = momentum * v + grad`` is the same first gradient; torch's dampening would scale the
  gradient term by 1 - dampening, which the kit does not, so it is 0 here.
- ``Adam(lr, betas, eps)`` is ``torch.optim.Adam(lr, betas, eps)`` with ``amsgrad=False`` and no
  weight decay: both divide by ``sqrt(v_hat) + eps`` (eps outside the square root).
- ``clip_grad_norm`` scales by ``max_norm / norm``, torch's ``clip_grad_norm_`` by
  ``max_norm / (norm + 1e-6)``; torch's clipped gradients are multiplied back by
  ``(norm + 1e-6) / norm`` before the comparison.
"""

import numpy as np
import pytest
from torch_oracle import as_tensor, assert_matches, randomize_parameters, torch

from backprop_kit.clip import clip_grad_norm, clip_grad_value, global_norm
from backprop_kit.layers import Linear, Sequential, SoftmaxCrossEntropy, Tanh
from backprop_kit.optim import SGD, Adam, Momentum

F = torch.nn.functional
TORCH_CLIP_EPS = 1e-6  # torch.nn.utils.clip_grads_with_norm_: max_norm / (total_norm + 1e-6)

# name: (the kit's optimizer, torch's), each built from its own parameters
OPTIMIZERS = {
    "sgd": (lambda pairs: SGD(pairs, lr=0.1),
            lambda params: torch.optim.SGD(params, lr=0.1)),
    "momentum": (lambda pairs: Momentum(pairs, lr=0.05, momentum=0.9),
                 lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9, dampening=0,
                                                nesterov=False)),
    "momentum_0.5": (lambda pairs: Momentum(pairs, lr=0.2, momentum=0.5),
                     lambda params: torch.optim.SGD(params, lr=0.2, momentum=0.5)),
    "adam": (lambda pairs: Adam(pairs, lr=0.01),
             lambda params: torch.optim.Adam(params, lr=0.01)),
    "adam_betas_eps": (lambda pairs: Adam(pairs, lr=0.03, betas=(0.5, 0.8), eps=1e-4),
                       lambda params: torch.optim.Adam(params, lr=0.03, betas=(0.5, 0.8),
                                                       eps=1e-4)),
    "adam_beta1_0": (lambda pairs: Adam(pairs, lr=0.01, betas=(0.0, 0.999)),
                     lambda params: torch.optim.Adam(params, lr=0.01, betas=(0.0, 0.999))),
    "adam_beta2_0": (lambda pairs: Adam(pairs, lr=0.01, betas=(0.9, 0.0)),
                     lambda params: torch.optim.Adam(params, lr=0.01, betas=(0.9, 0.0))),
    "adam_betas_0": (lambda pairs: Adam(pairs, lr=0.01, betas=(0.0, 0.0)),
                     lambda params: torch.optim.Adam(params, lr=0.01, betas=(0.0, 0.0))),
}

# Gradient sizes of successive steps: a small gradient after a large one is where an update
# written as m + (1 - beta) * (grad - m) loses the small gradient to rounding.
STEP_SCALES = [1e3, 1.0, 1e-3, 1e2, 1e-2, 1.0]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_matches_torch_over_several_steps(name):
    """The same gradients (sizes varying over six orders of magnitude) fed to both, step by
    step; the parameters must agree after every step."""
    make_kit, make_torch = OPTIMIZERS[name]
    rng = np.random.default_rng(len(name))
    params = [rng.standard_normal(shape) for shape in [(3, 4), (5,), (2, 3, 2)]]
    grads = [np.zeros_like(param) for param in params]
    tensors = [as_tensor(param, requires_grad=True) for param in params]
    kit, reference = make_kit(list(zip(params, grads, strict=True))), make_torch(tensors)
    for step, scale in enumerate(STEP_SCALES):
        for grad, tensor in zip(grads, tensors, strict=True):
            grad[...] = scale * rng.standard_normal(grad.shape)
            tensor.grad = as_tensor(grad)
        kit.step()
        reference.step()
        for index, (param, tensor) in enumerate(zip(params, tensors, strict=True)):
            assert_matches(param, tensor, f"parameter {index} after step {step + 1}")


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_training_steps_of_a_network_match_torch(name):
    """A tanh network with a softmax cross-entropy loss, four steps: the kit's backward and
    optimizer against torch's autograd and optimizer, loss and parameters after each step."""
    make_kit, make_torch = OPTIMIZERS[name]
    rng = np.random.default_rng(11)
    model = Sequential(Linear(4, 6, rng=rng), Tanh(), Linear(6, 3, rng=rng))
    randomize_parameters(model, rng)
    x, labels = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
    tensors = {key: as_tensor(value, requires_grad=True) for key, value in model.params.items()}
    kit, reference = make_kit(model.parameters()), make_torch(list(tensors.values()))
    loss = SoftmaxCrossEntropy()
    for step in range(4):
        value = loss.forward(model.forward(x), labels)
        model.backward(loss.backward())
        kit.step()
        reference.zero_grad()
        hidden = torch.tanh(F.linear(as_tensor(x), tensors["0.W"].T, tensors["0.b"]))
        torch_loss = F.cross_entropy(F.linear(hidden, tensors["2.W"].T, tensors["2.b"]),
                                     as_tensor(labels))
        torch_loss.backward()
        reference.step()
        assert_matches(value, torch_loss.item(), f"loss at step {step}")
        for key, param in model.params.items():
            assert_matches(param, tensors[key], f"{key} after step {step + 1}")


def gradient_arrays(rng, scale):
    """Gradients of three shapes, entries N(0, scale**2)."""
    return [scale * rng.standard_normal(shape) for shape in [(3, 4), (7,), (2, 2, 3)]]


def torch_parameters_with(grads):
    """Torch parameters whose .grad are copies of ``grads`` (what torch's clip functions take)."""
    params = []
    for grad in grads:
        param = torch.zeros(grad.shape, dtype=torch.float64, requires_grad=True)
        param.grad = as_tensor(grad)
        params.append(param)
    return params


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e4])
def test_global_norm_matches_torch_total_norm(scale):
    grads = gradient_arrays(np.random.default_rng(1), scale)
    reference = torch.nn.utils.get_total_norm([as_tensor(grad) for grad in grads], 2.0)
    assert_matches(global_norm(grads), reference.item(), "global norm")


@pytest.mark.parametrize("max_norm", [0.5, 3.0, 100.0])
def test_clip_grad_norm_matches_torch(max_norm):
    """Norm about 5.6: clipped for max_norm 0.5 and 3, untouched for 100."""
    grads = gradient_arrays(np.random.default_rng(2), 1.0)
    params = torch_parameters_with(grads)
    torch_norm = torch.nn.utils.clip_grad_norm_(params, max_norm).item()
    norm = clip_grad_norm(grads, max_norm)
    assert_matches(norm, torch_norm, "norm before clipping")
    undo_torch_eps = (torch_norm + TORCH_CLIP_EPS) / torch_norm if torch_norm > max_norm else 1.0
    for index, (grad, param) in enumerate(zip(grads, params, strict=True)):
        assert_matches(grad, param.grad.numpy() * undo_torch_eps, f"clipped gradient {index}")
    assert_matches(global_norm(grads), min(max_norm, torch_norm), "norm after clipping")


@pytest.mark.parametrize("limit", [0.1, 1.0, 10.0])
def test_clip_grad_value_matches_torch(limit):
    grads = gradient_arrays(np.random.default_rng(3), 2.0)
    params = torch_parameters_with(grads)
    torch.nn.utils.clip_grad_value_(params, limit)
    assert clip_grad_value(grads, limit) is None
    for index, (grad, param) in enumerate(zip(grads, params, strict=True)):
        assert_matches(grad, param.grad, f"clipped gradient {index}")


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_clip_grad_norm_refuses_non_finite_gradients_like_torch(bad):
    """Torch raises with error_if_nonfinite=True; the kit always does (FloatingPointError)."""
    grads = gradient_arrays(np.random.default_rng(4), 1.0)
    grads[1][2] = bad
    with pytest.raises(RuntimeError, match="non-finite"):
        torch.nn.utils.clip_grad_norm_(torch_parameters_with(grads), 1.0,
                                       error_if_nonfinite=True)
    with pytest.raises(FloatingPointError, match="overflowed"):
        clip_grad_norm(grads, 1.0)
