"""Side-by-side rows: the report's numbers, ours, the verdict, the ranking (no training)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from digitduel.report.reproduce import (
    build_reproduction,
    format_markdown,
    format_text,
    replace_doc_block,
)


@dataclass
class Row:  # what a preset's [report.LABEL] table becomes
    mean: float
    std: float | None = None
    rounds: int | None = None
    train_mean: float | None = None
    train_std: float | None = None
    note: str | None = None


REPORT = {
    "simple": Row(80.2, 1.9, 10, train_mean=99.0, train_std=1.4),
    "aux40": Row(97.6, 0.3, 10, train_mean=100.0, train_std=0.0),
    "digit": Row(97.8, 0.2, None, note="rounds from the preset"),
    "mean-only": Row(90.0),
}


def _rounds(*values):
    return dict(enumerate(values))


OURS = {
    "simple": _rounds(79.0, 82.0, 80.5, 81.1, 78.9, 80.0, 81.5, 79.5, 80.8, 80.2),  # consistent
    "aux40": _rounds(95.1, 95.4, 94.9, 95.0, 95.3, 95.2, 95.0, 95.1, 95.5, 94.8),  # worse
    "digit": _rounds(98.4, 98.5, 98.6, 98.3, 98.5),  # better
    "extra": _rounds(50.0, 51.0),  # we ran it, the report has no number
}
TRAIN = {"simple": _rounds(*[99.5] * 9, 97.0), "aux40": _rounds(*[100.0] * 10)}


@pytest.fixture()
def rep():
    return build_reproduction(
        "jomeau", REPORT, OURS, TRAIN, default_rounds=10, source="Table II", meta={"torch": "2.x"}
    )


def test_rows_follow_the_report_then_our_extras(rep):
    assert [r.label for r in rep.rows] == ["simple", "aux40", "digit", "mean-only", "extra"]


def test_verdicts_by_row(rep):
    by = {r.label: r for r in rep.rows}
    assert by["simple"].verdict == "consistent" and by["simple"].test.p > 0.05
    assert by["aux40"].verdict == "worse" and by["aux40"].test.diff == pytest.approx(-2.47)
    assert by["digit"].verdict == "better"
    assert by["digit"].theirs.n == 10  # the report gave no rounds: the preset's stand in
    assert by["mean-only"].verdict == "not run"
    assert by["extra"].verdict == "no report number" and by["extra"].test is None


def test_a_published_mean_without_std_is_shown_but_not_tested():
    rep = build_reproduction("x", {"a": Row(90.0)}, {"a": _rounds(89.0, 91.0, 90.0)})
    (row,) = rep.rows
    assert row.test.verdict == "n/a" and row.test.diff == pytest.approx(0.0)


def test_train_accuracy_is_compared_where_published(rep):
    by = {r.label: r for r in rep.rows}
    assert by["aux40"].train_test.verdict == "consistent"  # 100 +- 0 both sides
    assert by["simple"].ours_train.n == 10
    assert by["digit"].train_test is None


def test_ranks_and_kendall_tau_over_shared_rows(rep):
    by = {r.label: r for r in rep.rows}
    # report: digit > aux40 > simple; ours: digit > aux40 > simple as well
    assert (by["digit"].their_rank, by["digit"].our_rank) == (1, 1)
    assert (by["simple"].their_rank, by["simple"].our_rank) == (3, 3)
    assert by["extra"].our_rank is None
    assert rep.tau == pytest.approx(1.0)


def test_a_swapped_ranking_lowers_tau():
    ours = dict(OURS, simple=_rounds(99.0, 99.1, 99.2))
    rep = build_reproduction("x", REPORT, ours, default_rounds=10)
    assert rep.tau == pytest.approx(-1 / 3)


def test_text_table_shows_numbers_verdicts_and_ranking(rep):
    text = format_text(rep)
    assert "80.20 ± 1.90 (10)" in text  # the report's row
    assert "95.13 ± 0.22 (10)" in text  # ours
    assert "-2.47" in text and "worse" in text and "consistent" in text
    assert "Kendall tau-b = +1.00" in text
    assert "report: digit > aux40 > simple" in text
    assert "train accuracy" in text and "100.00 ± 0.00 (10)" in text
    assert "digit: rounds from the preset" in text


def test_markdown_block_and_doc_replacement(rep):
    md = format_markdown(rep)
    assert md.startswith("| contestant | report (%) | ours (%) |")
    assert "| simple | 80.20 ± 1.90 (10) |" in md
    assert "torch: 2.x" in md
    doc = "intro\n<!-- reproduce:jomeau -->\nold table\n<!-- /reproduce:jomeau -->\nafter\n"
    new = replace_doc_block(doc, "jomeau", md)
    assert "old table" not in new and md in new
    assert new.startswith("intro\n") and new.endswith("after\n")
    with pytest.raises(ValueError):
        replace_doc_block("no markers", "jomeau", md)


def test_json_form_carries_verdicts(rep):
    d = rep.to_dict()
    assert d["kendall_tau"] == pytest.approx(1.0)
    assert d["rows"][1]["verdict"] == "worse"
    assert d["rows"][1]["test"]["test"] == "welch"
