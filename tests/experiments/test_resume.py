"""Runs that resume: killed mid-run and restarted, a lost unit recomputed, shards merged by a plain run."""
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import _fake_experiment as fake
from minelib.experiments import fig2_convergence as fig2
from minelib.experiments import run, settings

ROOT = Path(__file__).resolve().parents[2]
FAKE = Path(fake.__file__)
# Subprocesses use this process's thread count: CPU results can depend on it.
ENV = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads()), "PYTHONPATH": str(ROOT)}


def _start_fake(out: Path, n: int, sleep: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(FAKE), str(out), str(n), str(sleep)], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _cached(out: Path, name: str) -> list[str]:
    """The keys of the units cached under ``out`` (file names less their hash)."""
    return sorted(p.stem.rsplit("-", 1)[0] for p in (out / "cache" / name).glob("*.pkl"))


def test_a_killed_run_resumes_with_only_the_unfinished_units(tmp_path):
    proc = _start_fake(tmp_path, 5, 1.0)
    deadline = time.monotonic() + 120
    while len(_cached(tmp_path, fake.NAME)) < 2:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "the run never cached two units"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # mid-sleep of the third unit: nothing to clean up, nothing flushed
    proc.wait(timeout=30)
    done = _cached(tmp_path, fake.NAME)
    assert done == ["u0", "u1"] and not (tmp_path / "result.pkl").exists()
    restarted = _start_fake(tmp_path, 5, 1.0)
    _, err = restarted.communicate(timeout=120)
    assert restarted.returncode == 0, err.decode()[-2000:]
    result = pickle.loads((tmp_path / "result.pkl").read_bytes())
    status = {u["unit"]: u["status"] for u in result["units"]}
    assert status == {"u0": "reused", "u1": "reused", "u2": "computed", "u3": "computed", "u4": "computed"}
    uninterrupted = run(fake, fake.Settings(n_units=5, sleep=0.0), device="cpu", progress=False)
    np.testing.assert_array_equal(result["values"], uninterrupted["values"])


@pytest.fixture(scope="module")
def fig2_one_shot(tmp_path_factory):
    """Fig 2 under smoke, run once with a cache: (its folder, its result)."""
    out = tmp_path_factory.mktemp("fig2_one_shot")
    return out, run(fig2, settings(fig2, "smoke"), device="cpu", progress=False, out_dir=out)


def _assert_same_result(a: dict, b: dict) -> None:
    assert fig2.metrics(a) == fig2.metrics(b)
    for key in ("curves", "final", "critics"):
        pd.testing.assert_frame_equal(a[key], b[key], check_exact=True)


def test_a_lost_unit_of_fig2_is_the_only_one_recomputed(fig2_one_shot, tmp_path):
    source, first = fig2_one_shot
    assert [u["status"] for u in first["units"]] == ["computed"] * 6
    shutil.copytree(source / "cache", tmp_path / "cache")
    (lost,) = (tmp_path / "cache" / fig2.NAME).glob("d50-nwj-*.pkl")
    lost.unlink()
    again = run(fig2, settings(fig2, "smoke"), device="cpu", progress=False, out_dir=tmp_path)
    computed = [u["unit"] for u in again["units"] if u["status"] == "computed"]
    assert computed == ["d50-nwj"] and sum(u["status"] == "reused" for u in again["units"]) == 5
    _assert_same_result(again, first)


def _cli(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "minelib.experiments", *args], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_two_shards_then_a_plain_run_reuses_every_unit(fig2_one_shot, tmp_path):
    common = ["--profile", "smoke", "--only", fig2.NAME, "--device", "cpu", "--out", str(tmp_path)]
    assert "3 computed, 0 reused, 3 unit(s) left to other shards" in _cli(*common, "--shard", "1/2")
    assert _cached(tmp_path, fig2.NAME) == ["d2-dv", "d2-ksg", "d50-nwj"]  # units 1, 3 and 5 of 6
    assert "3 computed, 3 reused, complete" in _cli(*common, "--shard", "2/2")
    merged = run(fig2, settings(fig2, "smoke"), device="cpu", progress=False, out_dir=tmp_path)
    assert [u["status"] for u in merged["units"]] == ["reused"] * 6
    _assert_same_result(merged, fig2_one_shot[1])


def test_the_cli_rejects_a_bad_shard_or_name(tmp_path):
    for args in (["--shard", "3/2"], ["--only", "fig9"]):
        proc = subprocess.run([sys.executable, "-m", "minelib.experiments", "--out", str(tmp_path), *args],
                              cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and ("shard I/N" in proc.stderr or "unknown experiment 'fig9'" in proc.stderr)
    assert not (tmp_path / "cache").exists()
