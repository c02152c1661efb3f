"""Table 3's experiment module: settings, units, claims, summary and metrics (training itself: test_bottleneck.py)."""

import pandas as pd
import pytest

from minelib.bottleneck import MODELS
from minelib.experiments import settings
from minelib.experiments import table3_mnist_bottleneck as t3
from minelib.experiments.protocol import Unit


REF = t3.REFERENCE
PAPER_LIKE = {"VIB": 3.0, "MINE (Gaussian)": 2.8, "MINE (Propagated)": 2.7, "MINE (Additive)": 2.5, REF: 3.3}


def _fake_result(errors: dict, seeds=1, spread=0.01):
    """Seed s of a row scores its error + spread * (s - mean seed): a spread the test controls."""
    rows = [(m, s, e + spread * (s - (seeds - 1) / 2), 0.5, 1.0) for m, e in errors.items() for s in range(seeds)]
    models = {m: {"epochs": 1, "critic": m not in ("VIB", REF)} for m in errors}
    return {"errors": pd.DataFrame(rows, columns=["model", "seed", "test_error", "mi_test", "seconds"]),
            "settings": {"models": models, "seconds": {}}}


def _verdicts(result, profile="quick"):
    return [c["verdict"] for c in t3.claims(result, profile)]


def test_table3_claims_hold_only_beyond_the_seed_spread():
    # The paper's ordering, 0.2-0.3 points apart, with a spread of 0.01 over 3 seeds: every claim held.
    assert _verdicts(_fake_result(PAPER_LIKE, seeds=3)) == ["held"] * 3
    # The same means with a spread of 1 point: nothing is distinguishable.
    assert _verdicts(_fake_result(PAPER_LIKE, seeds=3, spread=1.0)) == ["within noise"] * 3
    # One seed: no spread, so nothing can be held.
    assert "held" not in _verdicts(_fake_result(PAPER_LIKE, seeds=1))
    # MINE (Additive) clearly worse than VIB: claims 1 and 2 not held.
    swapped = {**PAPER_LIKE, "MINE (Additive)": 3.5}
    first, order, ref = t3.claims(_fake_result(swapped, seeds=3), "paper")
    assert first["verdict"] == order["verdict"] == "not held"
    assert "MINE (Additive) vs VIB: worse" in first["detail"] and "MINE (Additive) 3.50 ± 0.01 (paper 1.19)" in first["detail"]
    # A regulariser that does nothing (every row at the beta = 0 error) fails the reference check.
    inert = {m: 3.0 for m in PAPER_LIKE}
    assert t3.claims(_fake_result(inert, seeds=3), "quick")[2]["verdict"] == "within noise"


def test_table3_claims_need_every_row_and_chance_skill_and_are_not_judged_at_smoke():
    assert _verdicts(_fake_result(PAPER_LIKE, seeds=3), "smoke") == ["not judged"] * 3
    partial = _fake_result({"VIB": 3.0, "MINE (Additive)": 2.5}, seeds=3)
    assert _verdicts(partial) == ["not judged"] * 3 and "missing: MINE (Gaussian)" in t3.claims(partial, "quick")[0]["detail"]
    # Models at chance level (90 % error) have no skill: never held, whatever their order.
    noise = {m: 90.0 + 0.3 * i for i, m in enumerate(reversed(list(PAPER_LIKE)))}
    assert "held" not in _verdicts(_fake_result(noise, seeds=3))


def test_table3_summary_metrics_and_settings():
    res = _fake_result({"MINE (Additive)": 2.5, REF: 3.3, "VIB": 3.0, "MINE (Gaussian)": 2.8,
                        "MINE (Propagated)": 2.7}, seeds=3)
    s = t3.summary(res).set_index("model (error %)")
    assert list(s.index) == [*MODELS, REF] and list(s["paper"].iloc[:4]) == [1.37, 1.26, 1.24, 1.19]
    assert pd.isna(s.loc[REF, "paper"]) and pd.isna(s.loc["VIB", "minus_vib_mean"])
    assert s.loc["VIB", "seeds"] == 3 and s.loc["VIB", "ours_std"] == pytest.approx(0.01)
    assert s.loc["MINE (Additive)", "minus_vib_mean"] == pytest.approx(-0.5)
    assert s.loc["MINE (Additive)", "minus_vib_std"] == pytest.approx(0.0, abs=1e-12)  # paired: same offsets
    m = t3.metrics(res)
    assert set(t3.PAPER) <= set(m) and m["error_pct_vib"] == pytest.approx(3.0)
    assert m["error_pct_no_regularizer"] == pytest.approx(3.3)
    cfg = settings(t3, "paper")
    assert (cfg.epochs, cfg.seeds, cfg.batch_size, cfg.lr, cfg.beta, cfg.test_samples) == (200, 5, 100, 1e-4, 1e-3, 12)
    assert cfg.polyak is None and cfg.adam_betas == (0.5, 0.999) and cfg.lr_decay == 0.97 and cfg.monitor_mi
    assert cfg.models == (*MODELS, REF)
    quick = settings(t3, "quick")
    assert quick.n_train is None and quick.seeds >= 3  # the full 60k set, seeds enough for a spread
    smoke = settings(t3, "smoke", models=["VIB", "MINE (Additive)"])
    assert smoke.models == ("VIB", "MINE (Additive)") and (smoke.n_train, smoke.epochs) == (500, 2)


def test_one_unit_per_model_in_the_order_asked():
    cfg = settings(t3, "smoke", models=["MINE (Additive)", "VIB"])
    assert t3.units(cfg) == [Unit("mine_additive", {"model": "MINE (Additive)"}), Unit("vib", {"model": "VIB"})]
    assert [u.key for u in t3.units(settings(t3, "paper"))] == ["vib", "mine_gaussian", "mine_propagated",
                                                               "mine_additive", "no_regularizer"]


@pytest.mark.parametrize("override,match", [
    (dict(epochs="many"), "'epochs' must be an integer"),
    (dict(lr=-1), "'lr' must be in"),
    (dict(models=["VIB", "MINE (Dropout)"]), r"'models\[1\]' must be one of"),
    (dict(adam_betas=[0.5]), "'adam_betas' needs at least 2"),
    (dict(data_source="s3"), "'data_source' must be one of"),
    (dict(n_train=50), r"'n_train' \(50\) must be at least 'batch_size'"),
    (dict(epoch=3), "unknown setting 'epoch'"),
])
def test_a_bad_override_fails_at_once_naming_the_key(override, match):
    with pytest.raises((ValueError, TypeError), match=match):
        settings(t3, "smoke", **override)
