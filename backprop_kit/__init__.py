"""backprop_kit: a small numpy toolkit for learning backpropagation.

This package holds only what a student imports; it needs numpy, matplotlib, scikit-learn, tqdm
and threadpoolctl. The notebooks' grading helpers (``backprop_grading``), the reproductions of
published results (``backprop_experiments``), the instructor's tool (``backprop_course``, the
``backprop-course`` command) and the benchmark (``benchmarks/`` in the repository) live apart.

Subpackages
-----------
layers
    Layers with forward and backward side by side (dense, activations, losses, dropout,
    convolution and pooling, RNN/LSTM/embedding, batch norm, residual, Sequential), each file
    the readable version a student learns from; ``layers.naive`` holds the loop versions to
    start from.
fast
    The tuned convolution and pooling kernels the layers use for training speed, proven equal
    to the readable ones by the tests.
gradcheck
    Finite-difference gradient checking with reports that say *where* a gradient is wrong,
    including the per-time-step BPTT localizer.

Modules
-------
optim, init, clip
    Optimizers (SGD, momentum, Adam), weight initialisers, gradient clipping.
data, sequences
    The offline digits; the adding and copy tasks and an offline text corpus.
train, plotting
    A minibatch training loop with history; training-curve plots.
grad_checkpoint, flops, memory
    Gradient checkpointing (recompute instead of storing); counting multiply-adds and calls;
    bytes held by caches.
"""

__version__ = "0.2.0"
