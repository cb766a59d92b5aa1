"""Notebook 05's training study: the shipped JSON, accuracies off confusion matrices, Wilson intervals."""

from __future__ import annotations

import json

import pytest

from stviz.data.synthetic import ACTION_CLASSES, TIME_REVERSED_PAIRS
from stviz.tsm_study import accuracy, load_tsm_study, wilson_interval
from stviz.viz.tsm import plot_class_accuracy


def test_accuracy_reads_the_diagonal_of_chosen_rows():
    confusion = [[8, 2, 0], [5, 5, 0], [0, 0, 4]]
    assert accuracy(confusion) == (17, 24)
    assert accuracy(confusion, [0, 1]) == (13, 20)


def test_wilson_interval_brackets_the_proportion_and_narrows_with_more_clips():
    low, high = wilson_interval(50, 100)
    assert low < 0.5 < high and high - low == pytest.approx(0.192, abs=0.002)
    small, large = wilson_interval(5, 10), wilson_interval(500, 1000)
    assert large[1] - large[0] < small[1] - small[0]
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    with pytest.raises(ValueError, match="0 <= correct <= total"):
        wilson_interval(11, 10)


def test_load_names_missing_keys_and_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="benchmarks/tsm_training.py"):
        load_tsm_study(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"classes": []}))
    with pytest.raises(ValueError, match="missing .*confusion"):
        load_tsm_study(bad)


def test_shipped_study_is_consistent():
    study = load_tsm_study()
    assert study["classes"] == list(ACTION_CLASSES)
    assert study["time_reversed_pairs"] == [list(p) for p in TIME_REVERSED_PAIRS]
    assert set(study["confusion"]) == {"shift", "bag of poses"}
    for confusion in study["confusion"].values():
        assert len(confusion) == len(ACTION_CLASSES) and accuracy(confusion)[1] == study["test_samples"]
    ax = plot_class_accuracy(study)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(ACTION_CLASSES)


def test_class_accuracy_legend_is_readable_and_names_the_chance_line():
    ax = plot_class_accuracy(load_tsm_study())
    texts = ax.get_legend().get_texts()
    assert [t.get_text() for t in texts] == ["time-reversed pairs", "chance within a pair", "shift", "bag of poses"]
    assert min(t.get_fontsize() for t in texts) >= 9
