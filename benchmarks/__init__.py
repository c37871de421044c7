"""Benchmark: the kit's forward+backward time against the naive loops and PyTorch CPU.

Run it from the repository root::

    python -m benchmarks            # everything, 1 and 2 threads, float32 and float64
    python -m benchmarks --quick    # tiny shapes and repeats, a smoke test
    python -m benchmarks --cases conv --threads 1 --dtypes float64
    python -m benchmarks --threads 1 --clock cpu   # steadier on a busy machine

It prints the environment (numpy's BLAS, torch's version or that torch is absent), then one
table row per case, dtype and thread count: the median milliseconds of the kit, the naive loop
references and torch, measured side by side in the same process, the ratios kit/torch and
naive/kit, the target and whether it is met (targets apply at 1 thread), and a summary of the
targets met. ``--clock cpu`` times the calling thread's CPU time instead of the wall clock:
on a shared machine it leaves out the waits for a core, but it only means something at 1
thread. Torch is optional (``pip install torch==2.13.0`` installs a CPU build); without it
the torch columns show ``-``. The machine is shared, so compare ratios, not absolute times,
and rerun when a ratio is close to its target.

Modules: ``core`` (the :class:`~benchmarks.core.Case` description, timing with
warm-up and medians, thread control, the table), ``__main__`` (the command line) and one
*case module* per topic: ``conv``, ``pool``, ``mlp``, ``rnn``.

Adding a case module (say ``attention``) takes one file and one line:

1. write ``benchmarks/attention.py`` with a function ``cases(quick: bool) -> list[Case]``.
   Each :class:`~benchmarks.core.Case` has a ``name``, a builder ``kit(dtype) -> step``
   and optionally ``naive(dtype) -> step`` and ``torch(torch_module, dtype) -> step``, plus its
   targets (``torch_targets={"float32": 0.9}`` for kit/torch at 1 thread, ``min_speedup=200``
   for naive/kit). A builder does the setup (seeded data, layers) and returns a function of no
   arguments that runs one forward+backward; only that function is timed
   (``core.layer_step`` and ``core.autograd_step`` make the usual ones; a builder that needs
   the shape is a module-level function bound with ``functools.partial``). Never import torch
   at module level: use the module passed to the torch builder. With ``quick=True`` return
   tiny shapes and no targets (the smoke test runs them). See ``pool.py`` for a short
   example; a case whose step takes about a second (naive loops) sets ``slow=True``;
2. add ``"attention"`` to :data:`CASE_MODULES` below.
"""

CASE_MODULES: tuple[str, ...] = ("conv", "pool", "mlp", "rnn")
"""The case modules the benchmark runs, in table order (``benchmarks.<name>``)."""

__all__ = ["CASE_MODULES"]
