"""Verdicts: a difference holds only beyond the seeds' spread, and only if it also beats the no-skill reference."""
import math

import numpy as np
import pytest
from scipy import stats

from minelib.verdicts import beats, uniform_square, verdict


def test_the_margin_is_the_welch_t_interval_of_the_difference():
    a, b = np.array([3.0, 4.0, 5.0]), np.array([1.0, 1.5, 2.0, 2.5])
    c = beats(a, b)
    se = math.sqrt(a.var(ddof=1) / 3 + b.var(ddof=1) / 4)
    assert c.diff == pytest.approx(4.0 - 1.75, abs=1e-12)
    assert c.margin == pytest.approx(stats.t.ppf(0.975, 2) * se, rel=1e-12)
    assert c.outcome == ("better" if c.diff > c.margin else "within noise")


def test_direction_threshold_and_outcomes():
    assert beats([10.0, 11.0, 12.0], 5.0).outcome == "better"
    assert beats([10.0, 11.0, 12.0], 5.0, higher_is_better=False).outcome == "worse"
    assert beats([1.0, 9.0, 5.0], [4.0, 6.0, 5.0]).outcome == "within noise"
    # one value on each side: no spread, so nothing can be better
    assert beats(3.0, 2.0).outcome == "within noise" and beats(2.0, 3.0).outcome == "worse"


def test_verdict_needs_every_comparison():
    good, flat, bad = beats([5.0, 6, 7], 1.0), beats([1.0, 9, 5], 5.0), beats([1.0, 1.1, 0.9], 5.0)
    assert verdict(good, good) == "held"
    assert verdict(good, flat) == "within noise"
    assert verdict(good, flat, bad) == "not held"
    with pytest.raises(ValueError):
        verdict()


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="a must be"):
        beats([], 1.0)
    with pytest.raises(ValueError, match="b must be"):
        beats([1.0, 2.0], float("nan"))


def test_uniform_square_covers_its_square():
    x = uniform_square(10_000, 6.0, np.random.default_rng(0))
    assert x.shape == (10_000, 2) and x.min() >= -6.0 and x.max() <= 6.0 and abs(x.mean()) < 0.2


def test_the_uniform_reference_is_seeded_scored_per_draw_and_inside_the_square():
    from minelib.verdicts import uniform_reference

    score = lambda x: {"mean_x": float(x[:, 0].mean()), "max_abs": float(np.abs(x).max())}
    scores, first = uniform_reference(500, 2.0, 4, seed=3, score=score)
    again, _ = uniform_reference(500, 2.0, 4, seed=3, score=score)
    assert list(scores.columns) == ["draw", "mean_x", "max_abs"] and list(scores["draw"]) == [0, 1, 2, 3]
    assert scores.equals(again) and first.shape == (500, 2)
    assert (scores["max_abs"] <= 2.0).all() and scores["mean_x"].nunique() == 4
    assert scores.loc[0, "mean_x"] == score(first)["mean_x"]
