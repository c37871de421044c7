"""Small, seeded reproductions of published results that the notebooks show and the tests assert.

Each module holds one experiment (the data it needs, the network, the measurement) so that a
notebook can run it once and a test can run it over several seeds with the criteria of
``shared/notes/papers.md``. Import the modules directly, e.g.
``from backprop_experiments import symmetry``.
"""
