"""backprop_kit: a small numpy toolkit for learning backpropagation.

Subpackages
-----------
layers
    Layers with forward and backward side by side (dense, activations, losses, dropout,
    convolution and pooling, RNN/LSTM/embedding, batch norm, residual, Sequential).
gradcheck
    Finite-difference gradient checking with reports that say *where* a gradient is wrong,
    including the per-time-step BPTT localizer.
experiments
    Seeded reproductions of published results that the notebooks show and the tests assert.
grading
    Helpers used by the course's nbgrader test cells.
instructor
    Release checks and class grading (``python -m backprop_kit.instructor``).
bench
    The speed benchmark against naive loops and PyTorch (``python -m backprop_kit.bench``).

Modules
-------
optim, init, clip
    Optimizers (SGD, momentum, Adam), weight initialisers, gradient clipping.
data, sequences
    The offline digits; the adding and copy tasks and an offline text corpus.
train, plotting
    A minibatch training loop with history; training-curve plots.
checkpoint, cost, memory
    Gradient checkpointing; counting multiply-adds and calls; bytes held by caches.
"""

__version__ = "0.1.0"
