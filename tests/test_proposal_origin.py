"""``tuner optimize`` says why its proposal is not the study's best (issue 23): the study's
best sat on a search edge, next to a cliff, or lost the re-score on the whole train pools."""

from __future__ import annotations

from types import SimpleNamespace

from tuner.cli.study_commands import proposal_origin


def result(proposal, candidates, *, bound_from=None, bound=None, margin_from=None):
    return SimpleNamespace(proposal=proposal, candidates=candidates, margin_from=margin_from,
                           evidence=SimpleNamespace(bound_from=bound_from, bound=bound))


def test_the_best_itself_needs_no_explanation():
    assert proposal_origin(0.2, result(0.2, [{"value": 0.2, "train": 0.5}])) is None
    assert proposal_origin(0.2, result(None, [])) is None


def test_the_edge_rule_names_the_edge_and_the_value_inside():
    text = proposal_origin(0.01114, result(0.1346, [
        {"value": 0.01114, "train": 0.61}, {"value": 0.05, "train": 0.60},
        {"value": 0.1346, "train": 0.605, "inside": True}], bound_from=0.01114, bound="lower"))
    assert text == ("proposal 0.1346, not the study's best 0.01114: 0.01114 sat on the lower "
                    "edge of the search range, so the best value inside it, 0.1346, was taken "
                    "(edge rule)")


def test_re_score_and_cliff_margin_are_chained_in_order():
    text = proposal_origin(0.3, result(0.45, [
        {"value": 0.3, "train": 0.60}, {"value": 0.5, "train": 0.62}], margin_from=0.5))
    assert text == ("proposal 0.45, not the study's best 0.3: re-scoring the top 2 trial values "
                    "on the whole train pools picked 0.5 (top-k re-score); then 0.5 sat next to "
                    "a cliff on train: moved away to 0.45 (cliff margin)")
