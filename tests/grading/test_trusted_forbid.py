"""What the trusted executor reads ahead from the instructor's cells: the kit functions forbid=
arguments name, before any student code runs (backprop_course.trusted.forbid)."""

from pathlib import Path

import nbformat

from backprop_course.trusted.forbid import forbidden_functions, unresolved_forbids
from backprop_experiments import symmetry
from backprop_kit.layers import pooling

REPO = Path(__file__).resolve().parents[2]


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


def test_every_notebooks_forbid_arguments_are_read_in_full():
    """A forbid= expression the read-ahead cannot evaluate would leave its kit and experiment
    functions in the student's process, where delegation to them goes unseen (05 once forbade
    backprop_experiments.symmetry.run_symmetry this way and the trusted path missed it)."""
    unresolved = {}
    for path in sorted((REPO / "solutions").glob("[0-9][0-9]_*/*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        sources = [c.source for c in cells if c.cell_type == "code"
                   and c.metadata.get("nbgrader", {}).get("locked")]
        if unresolved_forbids(sources):
            unresolved[path.parent.name] = unresolved_forbids(sources)
    assert not unresolved, unresolved


def test_an_experiment_function_is_forbidden_and_a_helpers_parameter_is_not_unresolved():
    sources = ["from backprop_experiments import symmetry\n"
               "FORBID = (symmetry.run_symmetry,)\n"
               "def graded(f, forbid):\n    return call(f, forbid=forbid)\n"
               "graded(g, forbid=FORBID)"]
    assert symmetry.run_symmetry in forbidden_functions(sources)
    assert unresolved_forbids(sources) == []
    assert unresolved_forbids(["call(f, forbid=(missing.thing,))"]) == ["(missing.thing,)"]
