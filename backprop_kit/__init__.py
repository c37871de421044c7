"""backprop_kit: a small numpy toolkit for learning backpropagation.

Subpackages
-----------
gradcheck
    Finite-difference gradient checking with reports that say *where* a gradient is wrong.
grading
    Helpers used by the course's nbgrader test cells.
"""

__version__ = "0.1.0"
