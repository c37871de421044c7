"""Grading where the student's code cannot reach: a trusted shell for the tests, a separate
process (the answer server) for the student's cells, and a plain-data channel between them.

- :mod:`.wire`: the channel's message format (JSON and raw numpy buffers, no pickle);
- :mod:`.channel`: requests, replies and calls back the other way;
- :mod:`.answer_server`: the student's process;
- :mod:`.zygote`: warm starts of it, forked from a pre-imported process into a fresh sandbox;
- :mod:`.kernel_side`: the trusted side's end, with stand-ins for the student's objects;
- :mod:`.trusted_shell`: the trusted side itself, an IPython shell in a child forked from the
  grading process for one notebook;
- :mod:`.forbid`: which kit functions the tests forbid, read ahead from the instructor's cells;
- :mod:`.executor`: :class:`~.executor.TrustedExecute`, nbgrader's Execute step built on them.

The course's ``nbgrader_config.py`` puts ``"backprop_course.trusted.executor.TrustedExecute"``
first in ``c.Autograde.autograde_preprocessors`` (in place of nbgrader's Execute); every
assignment is graded this way.
"""
