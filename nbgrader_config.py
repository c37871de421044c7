"""nbgrader configuration for the backprop course.

Run every nbgrader command from the repository root, e.g.
``nbgrader generate_assignment 01_chain_rule --force``.
The instructor notebooks in ``solutions/`` are nbgrader's *source*; the student notebooks in
``notebooks/`` are its *release*. Each numbered notebook is its own assignment.
"""

import os

c = get_config()  # noqa: F821  (injected by traitlets when nbgrader loads this file)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "backprop"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"

# Student code runs only in a bubblewrap sandbox (backprop_course/sandbox.py), and the points are
# decided outside it (backprop_course/trusted/): nbgrader's default autograde steps, with Execute
# replaced by TrustedExecute: for every assignment, the test cells run in a trusted shell (forked
# from the grading process for each notebook) that never receives student code, and the
# student's cells in a sandboxed process that answers calls (forked into its fresh sandbox from
# a pre-imported zygote; --TrustedExecute.warm_start=False starts a new Python there instead).
# Without bwrap, grading stops with an error that says how to fix it;
# `nbgrader autograde ... --TrustedExecute.sandbox=False` (or `backprop-course grade
# --no-sandbox`) grades WITHOUT any isolation.
c.Autograde.autograde_preprocessors = [
    "backprop_course.trusted.executor.TrustedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# Per-cell budget while autograding; the slowest cell of any notebook is well under this.
c.Execute.timeout = 120
# A test cell a student deleted is put back and run, instead of silently losing its points.
c.OverwriteCells.add_missing_cells = True
# Feedback shows the message of a failed hidden check, never the hidden test code: the hidden
# region leaves the source and the traceback shrinks to "ExceptionType: message".
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "backprop_course.feedback.HideHiddenTests",
    # the comments a cell shows (automatic ones quote file names a student chose), cleaned
    "backprop_course.feedback.SanitizeComments",
]
# Everything nbgrader renders to HTML with this configuration, the feedback and the formgrader's
# view of each submission, first passes the student's markdown and outputs through nbconvert's
# SanitizeHTML (bleach): no script, event-handler attribute or javascript: URL of a student's
# runs in a student's browser or in the instructor's formgrader session.
c.HTMLExporter.preprocessors = ["backprop_course.feedback.SanitizeFeedback"]
# The feedback's exporter: nbconvert's HTMLExporter (the settings above apply to it) whose
# templates compile once in the grade command, not once per student.
c.GenerateFeedback.exporter_class = "backprop_course.feedback.FeedbackExporter"
