"""Small, seeded reproductions of published results that the notebooks show and the tests assert.

Each public module reproduces one published result (the data it needs, the network, the
measurement) so that a notebook can run it once and a test can run it over several seeds.
Its docstring cites the paper (authors, year, title, section or figure) and states the pass
criteria that ``tests/experiments/test_experiments_<module>.py`` asserts:

- :mod:`symmetry`: Rumelhart, Hinton & Williams (1986), symmetry detection (notebook 05);
- :mod:`digits_cnn`: LeCun et al. (1989), a small CNN on the digits (notebook 07);
- :mod:`adding`: Hochreiter & Schmidhuber (1997), RNN against LSTM on the adding problem
  (notebook 08);
- :mod:`speed_of_learning`, :mod:`init_statistics`, :mod:`rnn_jacobians`: Nielsen (2015),
  Glorot & Bengio (2010) and He et al. (2015), Pascanu et al. (2013) on vanishing and
  exploding gradients (notebook 09);
- :mod:`depth_probe`, :mod:`batch_norm`, :mod:`residual`, :mod:`clipping`: He et al. (2015),
  Ioffe & Szegedy (2015), He et al. (2016), Pascanu et al. (2013) on the remedies
  (notebook 10);
- :mod:`transformer_vs_rnn`: Vaswani et al. (2017), Radford et al. (2019), a one-block
  character transformer against notebook 08's RNN (notebook 12).

Import the modules directly, e.g. ``from backprop_experiments import symmetry``. The modules
whose names start with an underscore hold pieces several experiments share.
"""
