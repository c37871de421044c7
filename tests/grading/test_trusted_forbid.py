"""What the trusted executor reads ahead from the instructor's cells: the kit functions forbid=
arguments name, before any student code runs (backprop_course.trusted.forbid)."""

from backprop_course.trusted.forbid import forbidden_functions
from backprop_kit.layers import pooling


def test_a_forbidden_dataclass_gives_its_written_methods_but_no_generated_code():
    sources = ["from backprop_kit.layers import pooling",
               "call(f, 1, forbid=(pooling.PoolCache, pooling.maxpool2d_backward))"]
    found = forbidden_functions(sources)
    assert pooling.maxpool2d_backward in found and pooling.PoolCache.__init__ not in found
    assert all(not f.__code__.co_filename.startswith("<") for f in found), \
        [f.__qualname__ for f in found if f.__code__.co_filename.startswith("<")]


def test_a_helper_whose_default_uses_a_later_name_does_not_stop_the_reading():
    sources = ["from backprop_kit.layers import pooling\n"
               "NAMES = ('dx',)\n"
               "def check(result, names=NAMES):\n    pass\n"
               "REFERENCES = (pooling.maxpool2d_backward,)\n"
               "call(f, 1, forbid=REFERENCES)"]
    assert forbidden_functions(sources) == [pooling.maxpool2d_backward]
