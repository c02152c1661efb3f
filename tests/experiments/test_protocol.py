"""The experiment protocol: every module provides it, and run() computes, caches and shards units."""
import dataclasses
import re

import numpy as np
import pytest

import _fake_experiment as fake
from minelib.experiments.registry import NAMES, load
from minelib.experiments.protocol import (Experiment, Unit, parse_shard,
                                          replicate_seeds, run)

PROTOCOL_NAMES = [n for n in Experiment.__annotations__] + [
    n for n in vars(Experiment) if not n.startswith("_") and callable(getattr(Experiment, n))]


@pytest.fixture(autouse=True)
def _fresh_calls():
    fake.CALLS.clear()


@pytest.mark.parametrize("name", NAMES)
def test_every_experiment_module_follows_the_protocol(name):
    exp = load(name)
    missing = [n for n in PROTOCOL_NAMES if not hasattr(exp, n)]
    assert not missing, f"{name} lacks {missing}"
    assert exp.NAME == name and set(exp.PROFILES) == {"smoke", "quick", "paper"}
    for profile in exp.PROFILES:
        keys = [u.key for u in exp.units(exp.Settings(profile=profile, **exp.PROFILES[profile]))]
        assert keys and len(set(keys)) == len(keys), f"{name} {profile}: unit keys must be unique"
        assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", k) for k in keys), f"{name}: keys name files: {keys}"


def test_run_without_a_folder_computes_every_unit_and_logs_it():
    cfg = fake.Settings()
    result = run(fake, cfg, device="cpu", progress=False)
    assert fake.CALLS == ["u0", "u1", "u2", "u3", "u4"] and result["values"].shape == (15,)
    assert [(u["unit"], u["status"]) for u in result["units"]] == [(f"u{i}", "computed") for i in range(5)]
    assert all(set(u) >= {"created", "seconds", "commit"} for u in result["units"])
    # a unit depends only on (cfg, unit, seed): the same seed gives the same numbers, another seed others
    again = run(fake, cfg, device="cpu", progress=False)
    np.testing.assert_array_equal(again["values"], result["values"])
    assert not np.array_equal(run(fake, cfg, device="cpu", seed=1, progress=False)["values"], result["values"])


def test_shards_split_the_units_and_the_last_one_completes(tmp_path):
    cfg = fake.Settings()
    log = []
    assert run(fake, cfg, device="cpu", out_dir=tmp_path, shard=(1, 2), progress=False, log=log) is None
    assert fake.CALLS == ["u0", "u2", "u4"] and [e["status"] for e in log] == ["computed"] * 3
    fake.CALLS.clear()
    result = run(fake, cfg, device="cpu", out_dir=tmp_path, shard=(2, 2), progress=False)
    assert fake.CALLS == ["u1", "u3"]
    assert [u["status"] for u in result["units"]] == ["reused", "computed", "reused", "computed", "reused"]
    np.testing.assert_array_equal(result["values"], run(fake, cfg, device="cpu", progress=False)["values"])


def test_offset_shifts_the_shard_numbering(tmp_path):
    run(fake, fake.Settings(n_units=4), device="cpu", out_dir=tmp_path, shard=(1, 2), offset=1, progress=False)
    assert fake.CALLS == ["u1", "u3"]


def test_unit_keys_must_be_unique(monkeypatch):
    monkeypatch.setattr(fake, "units", lambda cfg: [Unit("a"), Unit("a")])
    with pytest.raises(ValueError, match="unit keys must be unique"):
        run(fake, fake.Settings(), device="cpu", progress=False)


def test_seeds_and_shards_are_checked():
    from minelib import seeding

    assert replicate_seeds(3, 2) == seeding.replicate_seeds(3, 2) and len(set(replicate_seeds(0, 5))) == 5
    assert parse_shard("2/8") == (2, 8) and parse_shard(None) is None
    for bad in ("0/2", "3/2", "2", "a/b", "1/2/3"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)
    with pytest.raises(TypeError, match="seed"):
        run(fake, fake.Settings(), seed=True)
    with pytest.raises(ValueError, match="seed"):
        run(fake, fake.Settings(), seed=-1)
    with pytest.raises(TypeError):
        run(fake, fake.Settings(), seed=1.5)


def test_settings_are_frozen():
    cfg = fake.Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.n_units = 3
