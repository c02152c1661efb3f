"""Table 3's experiment module: settings, units, claims, summary and metrics (training itself: test_bottleneck.py)."""

import pandas as pd
import pytest

from minelib.bottleneck import MODELS
from minelib.experiments import settings
from minelib.experiments import table3_mnist_bottleneck as t3
from minelib.experiments.protocol import Unit


def _fake_result(errors: dict, seeds=1):
    rows = [(m, s, e + 0.01 * s, 0.5, 1.0) for m, e in errors.items() for s in range(seeds)]
    models = {m: {"epochs": 1, "critic": m != "VIB"} for m in errors}
    return {"errors": pd.DataFrame(rows, columns=["model", "seed", "test_error", "mi_test", "seconds"]),
            "settings": {"models": models, "seconds": {}}}


def test_table3_claims_follow_the_numbers_and_smoke_is_not_judged():
    paper_like = _fake_result({"VIB": 3.0, "MINE (Gaussian)": 2.8, "MINE (Propagated)": 2.7, "MINE (Additive)": 2.5})
    beats, order = t3.claims(paper_like, "quick")
    assert beats["held"] is True and order["held"] is True
    assert "VIB 3.00% (paper 1.37%)" in beats["detail"] and "1 epoch(s) of the paper's 200" in beats["detail"]
    assert all(c["held"] is None for c in t3.claims(paper_like, "smoke"))
    swapped = _fake_result({"VIB": 3.0, "MINE (Gaussian)": 2.6, "MINE (Propagated)": 2.7, "MINE (Additive)": 3.1})
    beats, order = t3.claims(swapped, "paper")
    assert beats["held"] is False and "At or below VIB: MINE (Gaussian), MINE (Propagated)." in beats["detail"]
    assert order["held"] is False and "best first: MINE (Gaussian) 2.60% < MINE (Propagated)" in order["detail"]
    partial = _fake_result({"VIB": 3.0, "MINE (Additive)": 2.5})
    assert [c["held"] for c in t3.claims(partial, "quick")] == [None]


def test_table3_summary_metrics_and_settings():
    res = _fake_result({"MINE (Additive)": 2.5, "VIB": 3.0, "MINE (Gaussian)": 2.8, "MINE (Propagated)": 2.7},
                       seeds=3)
    s = t3.summary(res)
    assert list(s["model (error %)"]) == list(MODELS) and list(s["paper"]) == [1.37, 1.26, 1.24, 1.19]
    assert s.loc[0, "seeds"] == 3 and s.loc[0, "ours_std"] == pytest.approx(0.01)
    m = t3.metrics(res)
    assert set(t3.PAPER) <= set(m) and m["error_pct_vib"] == pytest.approx(3.01)
    cfg = settings(t3, "paper")
    assert (cfg.epochs, cfg.seeds, cfg.batch_size, cfg.lr, cfg.beta, cfg.test_samples) == (200, 5, 100, 1e-4, 1e-3, 12)
    assert cfg.polyak is None and cfg.adam_betas == (0.5, 0.999) and cfg.lr_decay == 0.97 and cfg.monitor_mi
    assert settings(t3, "quick").n_train is None  # the full 60k set
    smoke = settings(t3, "smoke", models=["VIB", "MINE (Additive)"])
    assert smoke.models == ("VIB", "MINE (Additive)") and (smoke.n_train, smoke.epochs) == (500, 2)


def test_one_unit_per_model_in_the_order_asked():
    cfg = settings(t3, "smoke", models=["MINE (Additive)", "VIB"])
    assert t3.units(cfg) == [Unit("mine_additive", {"model": "MINE (Additive)"}), Unit("vib", {"model": "VIB"})]
    assert [u.key for u in t3.units(settings(t3, "paper"))] == ["vib", "mine_gaussian", "mine_propagated",
                                                               "mine_additive"]


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
