"""The reproduce pipeline: results writer, report, experiment settings, packaging, and reproduce.sh."""
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import numpy as np
import pytest
import yaml

from minelib.report import build_report
from minelib.results import claim, load_results, write_json, write_results

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _record(out, name="demo", held=True):
    return write_results(out, name, profile="quick", seeds=[0], device="cpu", data_source="synthetic",
                         settings={"steps": 3}, metrics={"err": np.float32(0.01), "bad": float("nan")},
                         paper={"err": 0.0}, claims=[claim("DV matches |truth|", held, "0.01 nats")],
                         figures=["figures/demo.png"], title="Demo", paper_claim="A claim.")


def test_results_json_has_the_record(tmp_path):
    path = _record(tmp_path)
    rec = json.loads(path.read_text())
    for key in ("name", "profile", "seeds", "device", "versions", "data_source", "metrics", "paper", "claims"):
        assert key in rec
    assert rec["versions"]["torch"] and rec["versions"]["python"]
    assert rec["numerics"]["float32_matmul_precision"] in ("highest", "high", "medium")
    assert set(rec["numerics"]) >= {"cuda_matmul_allow_tf32", "cudnn_allow_tf32", "cuda", "cudnn", "gpu"}
    assert rec["metrics"]["bad"] is None  # NaN is written as null, never as invalid JSON
    assert rec["claims"][0] == {"claim": "DV matches |truth|", "held": True, "verdict": "held", "detail": "0.01 nats"}
    assert rec["provenance"]["source_files"]["results.py"] and rec["provenance"]["machine"]


def test_a_claim_carries_one_of_the_three_verdicts():
    assert claim("x", "within noise", "d")["held"] is False and claim("x", "within noise", "d")["verdict"] == "within noise"
    assert claim("x", None, "d")["verdict"] == "not judged" and claim("x", None, "d")["held"] is None
    with pytest.raises(ValueError, match="verdict must be one of"):
        claim("x", "maybe", "d")


def test_report_shows_evidence_beside_fresh_numbers_and_marks_it_stale(tmp_path):
    fresh, ev = tmp_path / "quick", tmp_path / "evidence"
    _record(fresh, "fig_x")
    path = _record(ev, "fig_x", held="within noise")
    text = build_report(fresh, evidence=[ev])
    assert f"**Evidence from `{ev}`:**" in text and "**fresh**" in text and "| within noise |" in text
    rec = json.loads(path.read_text())
    rec["provenance"]["source_files"]["results.py"] = "0" * 16  # as if results.py changed since
    path.write_text(json.dumps(rec))
    assert "**STALE**: 1 source file(s) it imported changed since (results.py)" in build_report(fresh, evidence=[ev])


def test_write_is_atomic(tmp_path):
    path = tmp_path / "r.json"
    write_json(path, {"a": 1})
    with pytest.raises(TypeError):
        write_json(path, {"a": object()})  # fails while serialising
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary left behind


def test_report_lists_not_run_and_failed(tmp_path):
    _record(tmp_path, "fig_ok", held=True)
    _record(tmp_path, "fig_bad", held=False)
    text = build_report(tmp_path, expected=["fig_ok", "fig_bad", "table9"], failed=["fig_bad"])
    assert "1 of 2 judged claims held" in text
    assert "| table9 | — | — | — | not run |" in text
    assert "failed (stale results below)" in text
    assert "DV matches \\|truth\\|" in text  # pipes escaped inside table cells
    assert set(load_results(tmp_path)) == {"fig_ok", "fig_bad"}


def test_report_marks_fixture_runs_as_not_run(tmp_path):
    write_results(tmp_path, "table2", profile="smoke", seeds=[0], device="cpu",
                  data_source="GENERATED FIXTURE (synthetic), NOT CelebA", settings={}, metrics={}, paper={},
                  claims=[claim("MINE best", None, "not judged")])
    assert "NOT RUN on the paper's data" in build_report(tmp_path)


def test_environment_yml_installs_what_pyproject_declares():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip == ["-e .[dev]"]
    assert any(str(d).startswith("python=3.11") for d in env["dependencies"])
    assert project["requires-python"] == ">=3.11"
    assert "torch==2.13.0" in project["dependencies"]  # the CPU wheel on the CI machines


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_conventions(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "profile" in tagged[0].source and "MINELIB_PROFILE" in tagged[0].source
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "nn.Module" not in code and ".backward()" not in code  # logic lives in minelib
    assert any("NBVAL_CHECK_OUTPUT" in c.source for c in nb.cells), "a checks cell nbval compares"
    assert nb.cells[0].cell_type == "markdown" and "Paper" in nb.cells[0].source


def test_reproduce_smoke_writes_figures_json_and_report(tmp_path):
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k not in ("MINELIB_OUT",)}
    proc = subprocess.run([str(ROOT / "reproduce.sh"), "--profile", "smoke", "--only", "fig1_gaussian_mi",
                           "--device", "cpu", "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (out / "figures" / "fig1_gaussian_mi.png").stat().st_size > 0
    assert (out / "figures" / "fig1_gaussian_mi.pdf").stat().st_size > 0
    assert (out / "notebooks" / "fig1_gaussian_mi.ipynb").exists()
    rec = json.loads((out / "results" / "fig1_gaussian_mi.json").read_text())
    assert rec["profile"] == "smoke" and rec["claims"] and all(c["held"] is None for c in rec["claims"])
    assert "<table>" in (out / "REPORT.html").read_text()
    report = (out / "REPORT.md").read_text()
    assert "fig1_gaussian_mi" in report and "figures/fig1_gaussian_mi.png" in report
    assert "| fig2_convergence | — | — | — | not run |" in report


def test_reproduce_names_a_failure(tmp_path):
    proc = subprocess.run([str(ROOT / "reproduce.sh"), "--profile", "smoke", "--only", "no_such_notebook",
                           "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1 and "failed: no_such_notebook" in proc.stderr


def test_reproduce_rejects_bad_options():
    proc = subprocess.run([str(ROOT / "reproduce.sh"), "--profile", "huge"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "--profile must be" in proc.stderr


def test_the_public_names_load_on_first_use():
    """``import minelib`` loads no submodule, so a record's source hashes name only what its numbers used."""
    import minelib

    code = ("import sys, minelib, minelib.bottleneck; assert 'minelib.ksg' not in sys.modules; "
            "from minelib import *; import minelib as m; assert m.ksg_mi and 'minelib.ksg' in sys.modules; "
            "assert set(m.__all__) <= set(dir(m))")
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        minelib.nope


def test_a_column_says_where_a_run_departs_from_its_profile():
    from minelib.experiments import settings
    from minelib.experiments import table3_mnist_bottleneck as t3
    from minelib.report import overrides

    cfg = settings(t3, "paper", seeds=3, epochs=10)
    rec = {"name": t3.NAME, "profile": "paper", "settings": {**cfg.asdict(), "base_seed": 0}}
    assert overrides(rec) == "seeds 3, epochs 10"
    assert overrides({**rec, "settings": settings(t3, "paper").asdict()}) == ""
    assert overrides({"name": "not_an_experiment", "profile": "paper", "settings": {}}) == ""
