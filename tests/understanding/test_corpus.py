"""The phrasing corpus: accuracy per category, and no emergency ever missed."""

from __future__ import annotations

import pytest

from ivr_flows.understanding.report import DEFAULT_CORPORA, evaluate, format_table, load_corpus

MIN_ACCURACY = 0.95
REQUIRED_CATEGORIES = {
    "numbers", "digits", "birth_dates", "when", "times", "yes_no", "spelling", "intents",
    "emergencies", "non_emergencies",
}


@pytest.fixture(scope="module")
def scores():
    results = evaluate()
    print("\n" + format_table(results))
    return results


def test_corpus_size_and_languages():
    counts = {}
    emergencies = 0
    for path in DEFAULT_CORPORA:
        corpus = load_corpus(path)
        assert set(corpus["cases"]) == REQUIRED_CATEGORIES
        counts[corpus["language"]] = sum(len(c) for c in corpus["cases"].values())
        emergencies += len(corpus["cases"]["emergencies"])
    total = sum(counts.values())
    assert total >= 400
    assert counts["fr"] / total >= 0.60
    assert emergencies >= 60


def test_every_intent_is_in_the_corpus():
    expected = set()
    for path in DEFAULT_CORPORA:
        expected |= {case[1] for case in load_corpus(path)["cases"]["intents"]}
    assert expected >= {"book", "cancel", "reschedule", "confirm_appointment", "message",
                        "secretary", "prescription", "results"}


def test_accuracy_per_category(scores):
    low = [(s.lang, s.category, f"{s.accuracy:.1%}") for s in scores
           if s.accuracy < MIN_ACCURACY]
    assert not low, low


def test_no_emergency_is_missed(scores):
    missed = [(s.lang, s.failures) for s in scores if s.category == "emergencies"]
    assert all(not failures for _, failures in missed), missed


def test_report_module_prints_the_table(capsys):
    from ivr_flows.understanding.report import main

    assert main([]) == 0
    out = capsys.readouterr().out
    assert "emergencies" in out and "all  TOTAL" in out
