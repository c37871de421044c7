"""What the oracle tests share: PyTorch float64 autograd as the reference for the kit.

Every oracle test runs a kit layer (loss, optimizer, clip function) and the same computation
written with PyTorch's own operations on float64 tensors holding *copies* of the kit's
parameters, then compares the outputs and every gradient with tight tolerances. The upstream
gradient is random, so that a gradient that is right only for ``dy = 1`` (or only summed)
fails. Importing this module skips the importing test file when torch is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch",
    reason="the oracle tests compare the kit with PyTorch float64 autograd and need torch: "
    "pip install -e '.[bench]' (torch==2.13.0, the CPU build)",
)

RTOL = 1e-10
ATOL = 1e-12

Reference = Callable[[Mapping[str, torch.Tensor]], torch.Tensor]
"""A torch computation: float64 leaf tensors by name (the kit's names and layouts) -> output."""


def as_tensor(array: np.ndarray, *, requires_grad: bool = False) -> torch.Tensor:
    """A float64 torch copy of ``array`` (integer arrays stay int64, e.g. labels and ids)."""
    dtype = torch.int64 if np.issubdtype(np.asarray(array).dtype, np.integer) else torch.float64
    return torch.tensor(np.asarray(array), dtype=dtype, requires_grad=requires_grad)


def assert_matches(kit: np.ndarray | float, reference: torch.Tensor | np.ndarray | float,
                   name: str) -> None:
    """Assert that a kit result equals the torch one within RTOL and ATOL, shape included.

    Parameters
    ----------
    kit : np.ndarray or float
        The kit's value; arrays must be float64 (the oracle's precision).
    reference : torch.Tensor, np.ndarray or float
        Torch's value, same shape.
    name : str
        What is compared, for the failure message.
    """
    if isinstance(reference, torch.Tensor):
        reference = reference.detach().numpy()
    if isinstance(kit, np.ndarray):
        assert kit.dtype == np.float64, f"{name}: the kit returned {kit.dtype}, not float64"
    assert np.shape(kit) == np.shape(reference), (
        f"{name}: the kit's shape {np.shape(kit)} differs from torch's {np.shape(reference)}"
    )
    np.testing.assert_allclose(kit, reference, rtol=RTOL, atol=ATOL, err_msg=name)


def run_reference(
    reference: Reference, arrays: Mapping[str, np.ndarray], upstream: np.ndarray | float
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run ``reference`` on float64 leaf copies of ``arrays`` and backpropagate ``upstream``.

    Parameters
    ----------
    reference : callable
        Maps the leaves by name to the output tensor.
    arrays : mapping of str to np.ndarray
        Inputs and parameters in the kit's layout; float arrays become leaves that require a
        gradient, integer arrays (labels, ids) constant int64 tensors.
    upstream : np.ndarray or float
        dL/doutput, shape of the output (a float for a scalar output, e.g. a loss).

    Returns
    -------
    output : torch.Tensor
        The reference output, detached.
    grads : dict of str to torch.Tensor
        dL/dleaf for every float leaf, shape of its array (zeros where the output does not
        depend on it).
    """
    leaves = {
        name: as_tensor(array, requires_grad=np.issubdtype(array.dtype, np.floating))
        for name, array in arrays.items()
    }
    output = reference(leaves)
    output.backward(as_tensor(upstream))
    grads = {
        name: torch.zeros_like(leaf) if leaf.grad is None else leaf.grad
        for name, leaf in leaves.items()
        if leaf.requires_grad
    }
    return output.detach(), grads


def randomize_parameters(layer: object, rng: np.random.Generator, scale: float = 0.5) -> None:
    """Overwrite every parameter of ``layer`` in place with N(0, scale**2) draws.

    The kit starts biases at 0 (and batch norm's gamma at 1), values under which a bias
    gradient routed to the wrong place, or a missing gamma factor, would go unseen.
    """
    for param in layer.params.values():
        param[...] = scale * rng.standard_normal(param.shape)


def check_layer(
    layer: object,
    x: np.ndarray,
    reference: Reference,
    rng: np.random.Generator,
    *,
    input_grad: bool = True,
) -> None:
    """Compare a kit layer's y, dx and every parameter gradient with torch's.

    The kit runs ``forward(x)`` and ``backward(dy)`` with a random dy; ``reference`` gets the
    leaves ``"x"`` and the layer's parameters under their kit names, in the kit's layout.

    Parameters
    ----------
    layer : layer
        A kit layer, its parameters already set.
    x : np.ndarray
        The input batch, float64.
    reference : callable
        The same layer in torch, from the leaves by name.
    rng : np.random.Generator
        Draws the upstream gradient dy (shape of y).
    input_grad : bool, default True
        Whether the layer returns dx (False: its backward returns None, which is checked).
    """
    params = {name: param.copy() for name, param in layer.params.items()}
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    ref_y, ref_grads = run_reference(reference, {"x": x, **params}, dy)
    assert_matches(y, ref_y, "y")
    if input_grad:
        assert_matches(dx, ref_grads["x"], "dx")
    else:
        assert dx is None, f"backward returned {type(dx).__name__} with input_grad=False"
    assert layer.grads.keys() == params.keys()
    for name in params:
        assert_matches(layer.grads[name], ref_grads[name], f"d{name}")
