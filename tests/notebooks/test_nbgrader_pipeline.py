"""The whole nbgrader pipeline on simulated students, for every assignment.

generate -> submit -> autograde -> feedback, in a temporary course built from solutions/:
the reference solution scores full marks, the untouched release scores 0 without crashing, and
feedback exists for each. (Partial marks through nbgrader, exactly the points of the mistakes
made, are tests/notebooks/test_mistakes.py's end-to-end submissions, one per assignment.)
"""

import nbformat
import pytest
from conftest import ASSIGNMENTS, REPO

from backprop_course import reference_submission, submit_notebook

STUDENTS = ("reference", "untouched")
@pytest.fixture(scope="module", params=ASSIGNMENTS)
def graded_course(request, make_course):
    assignment = request.param
    course = make_course(assignment)
    course.generate(assignment)
    source = nbformat.read(course.path("source", assignment) / f"{assignment}.ipynb", as_version=4)
    release_path = course.path("release", assignment) / f"{assignment}.ipynb"
    release = nbformat.read(release_path, as_version=4)
    reference = reference_submission(source, release)
    for student, nb in zip(STUDENTS, (reference, release), strict=True):
        submit_notebook(course.path("submitted", assignment, student), nb, assignment)
        result = course.autograde(assignment, student)
        assert result["success"], f"autograde crashed for {student}:\n{result.get('error')}"
        course.feedback(assignment, student)
    return course, assignment


def test_reference_solution_gets_full_marks(graded_course):
    course, assignment = graded_course
    score, max_score = course.total_score(assignment, "reference")
    assert max_score > 0
    lost = {k: v for k, v in course.scores(assignment, "reference").items() if not v}
    assert score == max_score, f"reference lost points in {lost}"


def test_untouched_release_gets_zero(graded_course):
    course, assignment = graded_course
    score, max_score = course.total_score(assignment, "untouched")
    assert (score, max_score > 0) == (0, True)


@pytest.mark.parametrize("student", STUDENTS)
def test_feedback_is_generated(graded_course, student):
    course, assignment = graded_course
    html = course.path("feedback", assignment, student) / f"{assignment}.html"
    assert html.is_file() and html.stat().st_size > 1000, f"no feedback at {html}"


def test_the_course_config_grades_with_the_trusted_executor_and_no_other_execute_step():
    """nbgrader_config.py: the tests run outside the student's process for every assignment (the
    pipeline tests above grade each notebook that way)."""
    from traitlets.config import Config

    config = Config()
    path = REPO / "nbgrader_config.py"
    exec(path.read_text(), {"get_config": lambda: config, "__file__": str(path)})
    steps = config.Autograde.autograde_preprocessors
    assert steps[0] == "backprop_course.trusted.executor.TrustedExecute"
    assert not [step for step in steps[1:] if "Execute" in step], steps
