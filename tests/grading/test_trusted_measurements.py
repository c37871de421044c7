"""What a test measures while the student's code runs is measured on the trusted side, and
what it compares with is the notebook's.

Notebook 11 counts the block forwards ``checkpoint_backward`` runs and the calls
``fd_gradient`` makes of ``f``. Graded through the trusted executor, the layers and the counted
function stay with the test (the student's code holds handles): a submission that also tries to
rewrite the counts from its own process scores exactly what its honest code earns, and a valid
alternative that builds kit objects around those handles still earns every point.
"""

import nbformat
import pytest

from backprop_course import reference_submission, submit_notebook

ASSIGNMENT = "11_cost_of_backprop"

#: Recomputes every segment, the last one too: one extra forward per block of the last segment.
RECOMPUTES_ALL = '''def checkpoint_backward(layers, saved, dy, segment_size):
    starts = list(range(0, len(layers), segment_size))
    for k in range(len(starts) - 1, -1, -1):
        block, h = layers[starts[k]:starts[k] + segment_size], saved[k]
        for layer in block:
            h = layer.forward(h)
        for layer in block[::-1]:
            dy = layer.backward(dy)
            drop_caches(layer)
    return dy
'''
#: The same, then every way at hand to make the counts say [1, 1, 1, 1, 0, 0].
FORGES_COUNTS = RECOMPUTES_ALL.replace("    return dy\n", '''\
    attempts = [lambda layer: setattr(layer, "_forwards", 0),
                lambda layer: layer.__dict__.update(_forwards=0),
                lambda layer: setattr(layer.forward, "calls", 0),
                lambda layer: setattr(layer.forward.__self__, "_forwards", 0)]
    for layer in layers[len(layers) - segment_size:]:
        for attempt in attempts:
            try:
                attempt(layer)
            except Exception:
                pass
    return dy
''')
#: Calls f(theta) once more than centered differences need, then tries to hide it.
FD_FORGES_COUNT = '''def fd_gradient(f, theta, h=1e-5):
    f(theta)
    grad = np.zeros_like(theta)
    for i in range(len(theta)):
        step = np.zeros_like(theta)
        step[i] = h
        grad[i] = (f(theta + step) - f(theta - step)) / (2 * h)
    for attempt in (lambda: f.__closure__[0].cell_contents.pop(),
                    lambda: setattr(f, "calls", 2 * len(theta))):
        try:
            attempt()
        except Exception:
            pass
    return grad
'''
#: Right for the 4-parameter cubic, too coarse for the classifier...
COARSE_FD = '''def fd_gradient(f, theta, h=1e-5):
    h = h if theta.size <= 4 else 1e-2
    grad = np.zeros_like(theta)
    for i in range(theta.size):
        step = np.zeros_like(theta)
        step[i] = h
        grad[i] = (f(theta + step) - f(theta - step)) / (2 * h)
    return grad
'''
#: ... and a cell of its own after the given helpers that makes the reference agree with it.
REFERENCE_REDEFINED = '''def backprop_gradient(model, x, labels):
    return fd_gradient(loss_of_parameters(model, x, labels), flat_parameters(model))
'''
#: A valid alternative: each segment run as a kit Sequential of the layers it was given.
SEQUENTIAL_SEGMENTS = '''def checkpoint_backward(layers, saved, dy, segment_size):
    segments = split_into_segments(layers, segment_size)
    for index in range(len(segments) - 1, -1, -1):
        block = Sequential(*segments[index])
        if index != len(segments) - 1:
            block.forward(saved[index])
        dy = block.backward(dy)
        for layer in segments[index]:
            drop_caches(layer)
    return dy
'''


@pytest.fixture(scope="module")
def graded(make_course):
    course = make_course(ASSIGNMENT)
    course.generate(ASSIGNMENT)
    source = nbformat.read(course.path("source", ASSIGNMENT) / f"{ASSIGNMENT}.ipynb", 4)
    release = nbformat.read(course.path("release", ASSIGNMENT) / f"{ASSIGNMENT}.ipynb", 4)
    answers = {"forger": {"checkpoint_backward": FORGES_COUNTS, "fd_gradient": FD_FORGES_COUNT},
               "honest": {"checkpoint_backward": RECOMPUTES_ALL},
               "alternative": {"checkpoint_backward": SEQUENTIAL_SEGMENTS},
               "redefiner": {"fd_gradient": COARSE_FD}}
    for student, cells in answers.items():
        submission = reference_submission(source, release)
        for cell in submission.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in cells:
                cell.source = cells[grade_id]
        if student == "redefiner":
            given = next(i for i, cell in enumerate(submission.cells)
                         if "def backprop_gradient(" in cell.source)
            submission.cells[given].source += "\n\n" + REFERENCE_REDEFINED  # restored by nbgrader
            submission.cells.insert(given + 1, nbformat.v4.new_code_cell(REFERENCE_REDEFINED))
        submit_notebook(course.path("submitted", ASSIGNMENT, student), submission, ASSIGNMENT)
        assert course.autograde(ASSIGNMENT, student)["success"]
    return {student: course.scores(ASSIGNMENT, student) for student in answers}


def test_forged_forward_counts_score_as_the_honest_extra_forwards(graded):
    assert graded["honest"]["test_checkpoint_backward"] == 1.5
    assert graded["forger"]["test_checkpoint_backward"] == 1.5


def test_an_extra_call_of_f_is_still_counted(graded):
    """Every part counts the calls: the corpus's honest version of this mistake scores 0."""
    assert graded["forger"]["test_fd_gradient"] == 0.0


def test_a_kit_sequential_around_the_tests_layers_earns_every_point(graded):
    assert graded["alternative"]["test_checkpoint_backward"] == 4.0


def test_the_tests_reference_gradient_is_the_notebooks_not_the_students(graded):
    """The cubic part passes; the classifier's parts compare with the given backprop_gradient,
    which the student's own definition (in an added cell, or edited into the locked one) does
    not replace on the trusted side."""
    assert graded["redefiner"]["test_fd_gradient"] == 1.0
