"""The per-unit cache: its key covers everything a unit's result depends on; --force recomputes."""
import pickle

import numpy as np
import pandas as pd
import pytest
import torch

import _fake_experiment as fake
from minelib.experiments import cache
from minelib.experiments.protocol import Unit, run


@pytest.fixture(autouse=True)
def _fresh_calls():
    fake.CALLS.clear()


def _path(tmp_path, cfg=None, unit=Unit("u0", {"i": 0}), seed=0, device="cpu"):
    return cache.unit_path(tmp_path, fake, cfg or fake.Settings(), unit, seed, device)


def test_the_key_changes_with_settings_seed_unit_device_and_sources(tmp_path, monkeypatch):
    base = _path(tmp_path)
    assert base == _path(tmp_path) and base.parent == tmp_path / "cache" / "fake_experiment"
    assert base.name.startswith("u0-") and base.suffix == ".pkl"
    others = {"settings": _path(tmp_path, cfg=fake.Settings(size=4)),
              "profile": _path(tmp_path, cfg=fake.Settings(profile="smoke", n_units=5)),
              "seed": _path(tmp_path, seed=1),
              "unit": _path(tmp_path, unit=Unit("u0", {"i": 1})),
              "unit key": _path(tmp_path, unit=Unit("u9", {"i": 0}))}
    monkeypatch.setattr(cache, "resolve_device", lambda d: torch.device("cuda" if d == "cuda" else "cpu"))
    others["device kind"] = _path(tmp_path, device="cuda")
    assert _path(tmp_path, device="auto") == base  # resolved to the CPU here: same kind, same file
    monkeypatch.setattr(cache, "source_hash", lambda: "an edited library")
    others["sources"] = _path(tmp_path)
    same = [k for k, p in others.items() if p == base]
    assert not same, f"the cache key ignores: {same}"
    assert len(set(others.values())) == len(others)


def test_the_source_hash_covers_the_library_files():
    digest = cache.source_hash()
    assert len(digest) == 64 and digest == cache.source_hash()
    assert cache.unit_id(fake, fake.Settings(), Unit("u0"), 0, "cpu")["sources"] == digest


def test_a_rerun_reuses_and_force_recomputes(tmp_path):
    cfg = fake.Settings(n_units=3)
    first = run(fake, cfg, device="cpu", out_dir=tmp_path, progress=False)
    files = sorted((tmp_path / "cache" / "fake_experiment").glob("*.pkl"))
    assert [f.name.split("-")[0] for f in files] == ["u0", "u1", "u2"] and fake.CALLS == ["u0", "u1", "u2"]
    fake.CALLS.clear()
    second = run(fake, cfg, device="cpu", out_dir=tmp_path, progress=False)
    assert fake.CALLS == [] and [u["status"] for u in second["units"]] == ["reused"] * 3
    assert [u["created"] for u in second["units"]] == [u["created"] for u in first["units"]]
    np.testing.assert_array_equal(second["values"], first["values"])
    forced = run(fake, cfg, device="cpu", out_dir=tmp_path, force=True, progress=False)
    assert fake.CALLS == ["u0", "u1", "u2"] and [u["status"] for u in forced["units"]] == ["computed"] * 3
    np.testing.assert_array_equal(forced["values"], first["values"])
    fake.CALLS.clear()
    run(fake, fake.Settings(n_units=3, size=4), device="cpu", out_dir=tmp_path, progress=False)
    assert fake.CALLS == ["u0", "u1", "u2"], "other settings never reuse a stale result"


def test_an_unreadable_cache_file_is_computed_again(tmp_path):
    cfg = fake.Settings(n_units=2)
    first = run(fake, cfg, device="cpu", out_dir=tmp_path, progress=False)
    path = _path(tmp_path, cfg=cfg)
    path.write_bytes(path.read_bytes()[:10])  # as a full disk would leave it
    fake.CALLS.clear()
    with pytest.warns(RuntimeWarning, match="unreadable"):
        again = run(fake, cfg, device="cpu", out_dir=tmp_path, progress=False)
    assert fake.CALLS == ["u0"] and [u["status"] for u in again["units"]] == ["computed", "reused"]
    np.testing.assert_array_equal(again["values"], first["values"])
    assert cache.load_if_present(path) is not None and cache.load_if_present(tmp_path / "none.pkl") is None


def test_store_and_load_round_trip_exactly(tmp_path):
    part = {"frame": pd.DataFrame({"a": [0.1, np.nan], "b": ["x", "y"]}), "arr": np.arange(3.0) / 7, "n": [1, 2]}
    meta = cache.meta(1.23456)
    assert set(meta) == {"created", "seconds", "commit"} and meta["seconds"] == 1.235
    path = cache.store(tmp_path / "c" / "u-0.pkl", part, meta)
    back, info = cache.load(path)
    pd.testing.assert_frame_equal(back["frame"], part["frame"])
    np.testing.assert_array_equal(back["arr"], part["arr"])
    assert back["n"] == [1, 2] and info == meta
    assert [p.name for p in path.parent.iterdir()] == ["u-0.pkl"]  # no temporary left behind
    with open(path, "rb") as fh:
        assert set(pickle.load(fh)) == {"meta", "part"}
