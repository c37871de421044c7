"""GradCheckReport: the text table, the HTML table, lookup by name and raise_if_failed."""

import numpy as np
import pytest

from backprop_kit.gradcheck import (
    ArrayReport,
    GradientCheckError,
    check_gradients,
    check_scalar_gradient,
)


def two_array_report():
    """y = x * s with x (3, 4) and s (4,); the gradient of s is planted wrong (doubled)."""
    rng = np.random.default_rng(0)
    inputs = {"x": rng.standard_normal((3, 4)), "s": rng.standard_normal(4)}

    def forward(x, s):
        return x * s

    def backward(dy):
        return {"x": dy * inputs["s"], "s": 2 * (dy * inputs["x"]).sum(axis=0)}

    return check_gradients(forward, backward, inputs, seed=1)


def test_array_reports_have_the_agreed_attributes():
    s = two_array_report()["s"]
    assert isinstance(s, ArrayReport)
    assert (s.name, s.shape, s.passed, s.n_checked, s.n_kinks) == ("s", (4,), False, 4, 0)
    assert isinstance(s.worst_index, tuple) and len(s.worst_index) == 1
    assert s.analytic_at_worst == pytest.approx(2 * s.numerical_at_worst, rel=1e-6)
    assert s.analytic.shape == s.numerical.shape == (4,)
    assert 0.3 < s.max_rel_error < 0.34  # |2n - n| / (|2n| + |n|) = 1/3
    assert "2 * numerical" in s.hint


def test_text_is_a_table_with_one_row_per_array_then_the_hints():
    report = two_array_report()
    text = str(report)
    lines = text.splitlines()
    assert lines[0].startswith("Gradient check FAILED for s")
    header = next(line for line in lines if line.startswith("name"))
    for column in ("shape", "max rel error", "status", "worst index", "analytic", "numerical"):
        assert column in header
    x_row = next(line for line in lines if line.startswith("x "))
    s_row = next(line for line in lines if line.startswith("s "))
    assert "(3, 4)" in x_row and "| ok" in x_row
    assert "(4,)" in s_row and "| FAIL" in s_row and "3.3e-01" in s_row
    assert f"{report['s'].analytic_at_worst:.6g}" in s_row
    assert lines.index("hints:") > lines.index(s_row)
    assert "  s: analytic = 2 * numerical" in text
    assert "almost certainly a bug" in lines[-1]


def test_passing_report_says_so_and_has_no_hints():
    report = check_scalar_gradient(lambda v: np.sum(np.sin(v)), np.cos, np.linspace(-1, 1, 5))
    text = str(report)
    assert report.passed and text.startswith("Gradient check passed for x")
    assert "hints:" not in text and "FAIL" not in text


def test_html_contains_every_row_with_coloured_status_and_no_external_css():
    html = two_array_report()._repr_html_()
    assert html.count("<tr>") == 3  # header and two arrays
    assert ">x</td>" in html and ">s</td>" in html and "(3, 4)" in html
    assert "background:#009E73" in html and "background:#D55E00" in html  # green ok, red FAIL
    assert ">ok</td>" in html and ">FAIL</td>" in html
    assert "2 * numerical" in html
    for external in ("<link", "<style", "stylesheet", "class="):
        assert external not in html


def test_html_escapes_names():
    report = check_gradients(
        lambda **a: a["<x>"] * 2.0, lambda dy: {"<x>": 2 * dy}, {"<x>": np.ones(2)}
    )
    html = report._repr_html_()
    assert "&lt;x&gt;" in html and "<x>" not in html


def test_raise_if_failed_raises_an_assertion_error_with_the_table():
    with pytest.raises(GradientCheckError, match="FAILED for s") as caught:
        two_array_report().raise_if_failed()
    assert isinstance(caught.value, AssertionError)
    assert "hints:" in str(caught.value)
    check_scalar_gradient(np.sin, np.cos, 0.5).raise_if_failed()  # passes: no raise


def test_lookup_of_an_unknown_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="no array named 'W'.*'x', 's'"):
        two_array_report()["W"]


def test_repr_is_the_readable_table_for_text_front_ends():
    x = np.random.default_rng(3).normal(size=(2, 3))
    report = check_scalar_gradient(lambda v: float(np.sum(v**2)), lambda v: 2 * v, x)
    assert repr(report) == str(report)
    assert repr(report).startswith("Gradient check passed for x")
