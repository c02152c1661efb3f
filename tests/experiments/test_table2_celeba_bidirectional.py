"""Table 2's experiment module: the explicit fixture fallback (which settings ran, which were dropped), units,
settings, and runs on the fixture and on a CelebA-shaped folder (training itself: tests/test_bidirectional.py)."""
import json

import matplotlib
import pytest
import torch

from minelib import celeba
from minelib.experiments import run, settings
from minelib.experiments import table2_celeba_bidirectional as t2
from minelib.experiments.common import finish
from minelib.experiments.protocol import Unit

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def celeba_dir(tmp_path_factory):
    """A folder in CelebA's layout (the generated fixture), as a user's data_dir."""
    return str(celeba.write_fixture(tmp_path_factory.mktemp("celeba"), n=30, seed=1))


def test_table2_without_celeba_runs_the_smoke_settings_and_says_what_it_dropped():
    cfg = settings(t2, "quick", beta=2.0, variants=["ali", "ali_mine"])
    ran, dropped = t2.ran_settings(cfg)
    assert ran.profile == "smoke" and ran.variants == ("ali", "ali_mine") and ran.beta == 1.0
    assert ran == settings(t2, "smoke", variants=["ali", "ali_mine"])
    assert dropped == {"steps": 2_000, "batch_size": 100, "beta": 2.0, "z_dim": 128, "ch": 32, "head": 512,
                       "n_train": 20_000, "n_test": 2_000, "classifier_epochs": 2, "classifier_ch": 32,
                       "n_samples": 200}
    assert t2.ran_settings(settings(t2, "smoke")) == (settings(t2, "smoke"), {})
    assert [u.key for u in t2.units(cfg)] == ["classifier", "ali-seed0", "ali_mine-seed0"]  # smoke: 1 seed
    assert {u.params["data"] for u in t2.units(cfg)} == {"fixture"}


def test_table2_with_celeba_runs_what_was_asked(celeba_dir):
    cfg = settings(t2, "smoke", data_dir=celeba_dir, seeds=2, variants=["ali_mine", "ali"])
    assert t2.ran_settings(cfg) == (cfg, {})
    assert t2.units(cfg) == [Unit("classifier", {"data": "celeba"})] + [
        Unit(f"{v}-seed{s}", {"variant": v, "replicate": s, "data": "celeba"}) for s in (0, 1) for v in ("ali_mine", "ali")]


def test_table2_runs_on_the_fixture_and_judges_nothing(capsys, tmp_path):
    cfg = settings(t2, "quick")
    result = run(t2, cfg, device="cpu", progress=False)
    assert "not available" in capsys.readouterr().out
    assert result["fixture"] and "NOT CelebA" in result["data_source"]
    assert "requested profile quick; not run: steps=2000" in result["data_source"]
    assert result["ran_settings"].profile == "smoke" and result["dropped"]["steps"] == 2_000
    assert result["settings"]["ran"]["profile"] == "smoke" and result["settings"]["ran"]["steps"] == 4
    assert all(c["held"] is None and "not run" in c["detail"] for c in t2.claims(result, "quick"))
    assert t2.invariants(result) and t2.metrics(result)["ran_on_fixture"] is True
    assert list(t2.summary(result)["data"].unique()) == ["fixture (not CelebA)"]
    assert list(result["scores"].model) == list(t2.MODELS)
    t2.plot(result)
    finish(t2, cfg, result, out_dir=tmp_path, device="cpu", figures=[])
    record = json.loads((tmp_path / "results" / f"{t2.NAME}.json").read_text())
    assert record["data_source"].startswith("GENERATED FIXTURE") and record["profile"] == "quick"
    assert record["settings"]["training"]["ran"]["dropped"]["n_train"] == 20_000


def test_table2_on_a_celeba_folder_scores_every_seed_and_resumes(celeba_dir, tmp_path):
    cfg = settings(t2, "smoke", data_dir=celeba_dir, seeds=2, variants=["ali_mine", "ali"], steps=2)
    before = torch.random.get_rng_state()
    result = run(t2, cfg, device="cpu", progress=False, out_dir=tmp_path)
    assert torch.equal(torch.random.get_rng_state(), before)  # rebuilding classifier and decoders draws nothing
    sc = result["scores"]
    assert list(zip(sc.model, sc.seed)) == [("ALI+MINE", 0), ("ALI", 0), ("ALI+MINE", 1), ("ALI", 1)]
    assert sc["attr_acc"].between(0, 100).all() and not result["fixture"] and result["dropped"] == {}
    assert result["data_source"].startswith("aligned CelebA from") and t2.claims(result, "quick")[0]["held"] is None
    assert list(result["grids"]) == ["x", "ALI+MINE", "ALI"]
    again = run(t2, cfg, device="cpu", progress=False, out_dir=tmp_path)
    assert {u["status"] for u in again["units"]} == {"reused"} and again["scores"].equals(sc)


@pytest.mark.parametrize("override,match", [
    (dict(steps="many"), "'steps' must be an integer"),
    (dict(lr=-1), "'lr' must be in"),
    (dict(stepz=3), "unknown setting 'stepz'"),
    (dict(ch=0), "'ch' must be in"),
    (dict(data_dir=3), "'data_dir' must be a string"),
    (dict(variants=[]), "'variants' needs at least 1"),
])
def test_table2_bad_overrides_fail_at_once_naming_the_key(override, match):
    with pytest.raises((TypeError, ValueError), match=match):
        settings(t2, "quick", **override)


def test_table2_explore_trains_one_model_for_the_widget(celeba_dir):
    fig = t2.explore(variant="alice_adv", steps=2, data_dir=celeba_dir, device="cpu")
    assert [ax.get_title() for ax in fig.axes[:2]] == ["test images x", "ALICE (A): G(F(x)+eps)"]
