"""The ground-truth benchmark (minelib.benchmark): its summary on hand-made rows, and one tiny real run."""
import json
import math

import numpy as np
import pytest

from minelib import benchmark
from minelib.experiments import benchmark_groundtruth as exp


def _row(task="a", truth=1.0, estimate=1.0, low=math.nan, high=math.nan, warnings=(), method="dv",
         transform="rank_gauss", seed=0, family="gaussian"):
    return dict(task=task, family=family, truth=truth, method=method, transform=transform, seed=seed,
                estimate=estimate, low=low, high=high, warned=bool(warnings), seconds=0.1, warnings=tuple(warnings))


def test_mae_is_the_mean_absolute_error_and_leaves_diverged_runs_out():
    rows = benchmark.rows_frame([_row(estimate=0.9), _row(task="b", truth=3.0, estimate=3.3, family="staircase"),
                                 _row(task="c", estimate=math.nan, warnings=["diverged: boom"])])
    s = benchmark.summarise_method(rows)
    assert s["mae"] == pytest.approx(0.2)
    assert s["mae_by_family"] == pytest.approx({"gaussian": 0.1, "staircase": 0.3})
    assert s["diverged"] == 1 and s["warned"] == 1 and s["rows"] == 3 and not s["all_finite"]


def test_coverage_counts_intervals_that_hold_the_truth_on_each_side_of_2_nats():
    rows = benchmark.rows_frame([
        _row(task="a", truth=1.0, estimate=1.0, low=0.9, high=1.1),                            # covers
        _row(task="a", truth=1.0, estimate=1.5, low=1.4, high=1.6, seed=1, warnings=["w"]),    # misses, warned
        _row(task="b", truth=2.0, estimate=1.9, low=1.8, high=2.0),                            # covers (at the edge)
        _row(task="c", truth=5.0, estimate=4.0, low=3.5, high=4.5),                            # misses, above 2 nats
        _row(task="c", truth=5.0, estimate=5.0, low=4.5, high=5.5, seed=1),                    # covers
        _row(task="d", truth=1.0, estimate=1.0, method="ksg", transform="standardize"),        # no interval
    ])
    s = benchmark.summarise_method(rows[rows["method"] == "dv"])
    assert s["coverage_le_2_nats"] == pytest.approx(2 / 3) and s["pairs_le_2_nats"] == 3
    assert s["coverage_le_2_nats_unwarned"] == 1.0
    assert s["coverage_above_2_nats"] == 0.5 and s["pairs_above_2_nats"] == 2
    ksg = benchmark.summarise_method(rows[rows["method"] == "ksg"])
    assert math.isnan(ksg["coverage_le_2_nats"]) and ksg["pairs_le_2_nats"] == 0


def test_a_task_is_biased_when_the_mean_misses_the_truth_beyond_two_standard_errors():
    rows = benchmark.rows_frame([
        _row(task="fair", estimate=1.05, low=0.85, high=1.25), _row(task="fair", estimate=0.95, low=0.75, high=1.15, seed=1),
        _row(task="off", estimate=0.5, low=0.45, high=0.55), _row(task="off", estimate=0.52, low=0.47, high=0.57, seed=1),
    ])
    assert benchmark.biased_tasks(rows) == ["off"]
    s = benchmark.summarise_method(rows)
    assert s["coverage_unbiased_tasks"] == 1.0 and s["coverage_biased_tasks"] == 0.0 and s["biased_tasks"] == ["off"]


def test_a_failure_without_a_warning_is_unflagged_and_with_one_it_is_not():
    rows = benchmark.rows_frame([
        _row(task="neg", estimate=-0.1),                                  # negative, no warning: unflagged
        _row(task="neg", estimate=-0.1, seed=1, warnings=["negative"]),   # negative, warned: flagged
        _row(task="far", truth=1.0, estimate=2.5),                        # off by more than the truth: unflagged
        _row(task="nan", estimate=math.nan),                              # no estimate, no warning: unflagged
        _row(task="ok", truth=1.0, estimate=1.9),                         # off by less than the truth: fine
    ])
    assert list(benchmark.failed(rows)) == [True, True, True, True, False]
    bad = benchmark.unflagged_failures(rows)
    assert list(zip(bad["task"], bad["seed"])) == [("neg", 0), ("far", 0), ("nan", 0)]
    s = benchmark.summarise_method(rows)
    assert s["unflagged_failures"] == ["neg seed 0: -0.1", "far seed 0: 2.5", "nan seed 0: nan"]
    table = exp.failures_table({"rows": rows})
    assert table.loc["dv rank_gauss", ["failed", "flagged", "unflagged", "rows"]].tolist() == [4, 1, 3, 5]


def test_the_summary_has_a_line_per_method_and_the_record_is_json():
    rows = benchmark.rows_frame([_row(estimate=-0.2), _row(method="nwj", estimate=0.8, low=0.7, high=0.9),
                                 _row(method="torch-mist mine", transform=benchmark.NO_TRANSFORM, estimate=-1.0)])
    table = benchmark.summarise(rows)
    assert table["label"].tolist() == ["dv rank_gauss", "nwj rank_gauss", "torch-mist mine"]
    assert table["unflagged_failures"].tolist() == [1, 0, 1]
    rec = json.loads(json.dumps(benchmark.record(rows, {"bmi mine": "not installed"})))
    assert set(rec) == {"peers_missing", "summary", "rows"} and len(rec["rows"]) == 3
    assert rec["summary"]["dv rank_gauss"]["unflagged_failures"] == ["a seed 0: -0.2"]
    claims = exp.claims({"rows": rows}, "quick")
    assert claims[0]["verdict"] == "not held" and "1 of 2 rows of minelib's estimators" in claims[0]["detail"]
    assert "torch-mist mine 1" in claims[0]["detail"]


def test_bad_settings_fail_at_once():
    with pytest.raises(ValueError, match="unknown method 'mine'"):
        benchmark.BenchmarkSettings(methods=("dv", "mine"))
    with pytest.raises(ValueError, match="task index 99"):
        benchmark.BenchmarkSettings(tasks=(0, 99))
    with pytest.raises(ValueError, match="steps must be an integer"):
        benchmark.BenchmarkSettings(steps=0)


def test_a_tiny_real_run_gives_a_finite_tidy_table():
    settings = benchmark.BenchmarkSettings(n=500, steps=50, batch=64, infonce_batch=32, hidden=(16, 16), seeds=2,
                                           tasks=(0, 9), peers=False)
    rows = benchmark.run(settings)
    assert list(rows.columns) == list(benchmark.COLUMNS)
    assert len(rows) == 2 * len(benchmark.METHODS) * len(benchmark.TRANSFORMS) * 2
    assert set(rows["method"]) == set(benchmark.METHODS) and set(rows["transform"]) == set(benchmark.TRANSFORMS)
    assert np.isfinite(rows[["truth", "estimate", "seconds"]].to_numpy()).all()
    neural = rows[rows["method"] != "ksg"]
    assert np.isfinite(neural[["low", "high"]].to_numpy()).all() and (neural["low"] <= neural["high"]).all()
    assert rows["warned"].tolist() == [bool(w) for w in rows["warnings"]]
    table = benchmark.summarise(rows)
    assert len(table) == len(benchmark.METHODS) * len(benchmark.TRANSFORMS) and np.isfinite(table["mae"]).all()
    exp.invariants({"rows": rows})
