"""reproduce.sh's options: errors exit 2 at once; --shard, a plain rerun, --force and --report end to end."""
import json
import os
import subprocess
from pathlib import Path

import pytest

from minelib.report import build_report, units_line
from minelib.results import claim, write_results

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = str(ROOT / "reproduce.sh")


def _sh(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MINELIB_OUT"}
    return subprocess.run([SCRIPT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args,message", [
    (["--profile"], "--profile needs a value"),
    (["--only", "fig2_convergence", "--out"], "--out needs a value"),
    (["--device", "--test"], "--device needs a value"),
    (["--shard", "3/2"], "--shard must be I/N with 1 <= I <= N"),
    (["--shard", "two"], "--shard must be I/N"),
    (["--report", "--test"], "--report and --test exclude each other"),
    (["--force", "--report"], "--force goes with a run or a shard"),
    (["--out", "/proc/no/such/folder"], "--out: cannot create or write the output folder '/proc/no/such/folder'"),
    (["--frobnicate"], "unknown option: --frobnicate"),
])
def test_bad_options_exit_2_at_once_with_a_message(args, message):
    proc = _sh(*args, timeout=30)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not proc.stdout  # nothing ran: the environment step would have printed "==> installing ..."


def test_an_out_below_a_file_and_a_report_of_nothing_are_errors(tmp_path):
    (tmp_path / "file").write_text("")
    proc = _sh("--out", str(tmp_path / "file" / "sub"), timeout=30)
    assert proc.returncode == 2 and "cannot create or write the output folder" in proc.stderr
    proc = _sh("--report", "--out", str(tmp_path / "empty"), timeout=30)
    assert proc.returncode == 2 and "no results under" in proc.stderr
    assert not (ROOT / "REPORT.md").exists()


def _units(out: Path, name: str) -> list[str]:
    return [u["status"] for u in json.loads((out / "results" / f"{name}.json").read_text())["units"]]


def test_shard_then_a_plain_rerun_reuses_force_recomputes_and_report_rebuilds(tmp_path):
    out, common = tmp_path / "out", ["--profile", "smoke", "--only", "fig2_convergence", "--device", "cpu"]
    proc = _sh(*common, "--shard", "1/1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "6 computed, 0 reused, complete" in proc.stdout
    assert len(list((out / "cache" / "fig2_convergence").glob("*.pkl"))) == 6
    assert not (out / "REPORT.md").exists() and not (out / "notebooks").exists()  # units only
    proc = _sh(*common, "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _units(out, "fig2_convergence") == ["reused"] * 6
    assert "Units of work: 6 of 6 units reused from " in (out / "REPORT.md").read_text()
    proc = _sh(*common, "--force", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _units(out, "fig2_convergence") == ["computed"] * 6
    (out / "REPORT.md").unlink()
    proc = _sh("--report", "--out", str(out), timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Units of work: all 6 units computed in this run" in (out / "REPORT.md").read_text()


def _entry(unit, status, created="2026-12-01T20:00:05+00:00", commit="abc1234def567"):
    return {"unit": unit, "status": status, "created": created, "seconds": 2.0, "commit": commit}


def test_the_report_says_what_was_reused_and_from_when(tmp_path):
    units = [_entry(f"u{i}", "reused") for i in range(4)] + [_entry("u4", "computed"), _entry("u5", "computed")]
    assert units_line(units) == ("4 of 6 units reused from 2026-12-01T20:00 UTC (commit abc1234); "
                                 "2 computed in this run (4 s)")
    span = [_entry("a", "reused"), _entry("b", "reused", "2026-12-02T08:30:00+00:00", "def7654aaa+dirty")]
    assert units_line(span) == ("2 of 2 units reused from 2026-12-01T20:00 to 2026-12-02T08:30 UTC "
                                "(commits abc1234, def7654+dirty)")
    assert units_line([_entry("a", "computed")]) == "its one unit computed in this run (2 s)"
    assert units_line([]) == ""
    write_results(tmp_path, "demo", profile="quick", seeds=["0/0"], device="cpu", data_source="synthetic",
                  settings={}, metrics={}, paper={}, claims=[claim("A", None, "x")], units=units)
    text = build_report(tmp_path)
    assert "Units of work: 2 computed by the runs that wrote these results, 4 reused from the cache" in text
    assert "Units of work: 4 of 6 units reused from 2026-12-01T20:00 UTC (commit abc1234); 2 computed in this " \
           "run (4 s) (`u4`, `u5`)." in text


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_every_notebook_takes_force_and_caches_under_its_output_folder(path):
    """What --force (``-p force True``) and the plain rerun's reuse rely on, in each notebook."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    (params,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert "\nforce = False" in "\n" + params.source and "\nout_dir = None" in "\n" + params.source
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "notebook_setup(exp, profile, device, seed, out_dir" in code
    assert "run(exp, cfg, device=device, seed=seed, out_dir=out, force=force)" in code
