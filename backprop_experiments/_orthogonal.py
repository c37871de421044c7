"""Random orthogonal matrices, for the linear RNNs whose recurrent matrix is W = rho * Q.

Every singular value of such a W is rho, so the gradient sent back one step through it is
multiplied by exactly rho in norm (:mod:`~backprop_experiments.rnn_jacobians` and
:mod:`~backprop_experiments.clipping` both build one).
"""

from __future__ import annotations

import numpy as np

from backprop_kit.layers._validate import check_positive_int

__all__ = ["orthogonal_matrix"]


def orthogonal_matrix(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random orthogonal matrix, uniformly (Haar) distributed, from a Gaussian matrix's QR.

    The QR factorisation alone is not uniform: it fixes the signs of R's diagonal. Multiplying
    each column of Q by the sign of the matching diagonal entry of R makes it so (Mezzadri
    2007, "How to generate random matrices from the classical compact groups", Notices of the
    AMS 54(5), Sec. 5).

    Parameters
    ----------
    n : int
        Size, >= 1.
    rng : np.random.Generator
        Draws the (n, n) standard normal matrix.

    Returns
    -------
    np.ndarray
        (n, n) float64 Q with Q^T Q = I.
    """
    n = check_positive_int(n, "n", "orthogonal_matrix")
    Q, R = np.linalg.qr(rng.normal(size=(n, n)))
    return Q * np.sign(np.diag(R))
