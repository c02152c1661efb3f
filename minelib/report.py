"""The report: for every notebook, the paper's claim and numbers beside ours, and what held, and
which units of work were computed in the run and which were reused from the cache (and from when).

    python -m minelib.report results/quick [--expected fig1_gaussian_mi,fig2_convergence] [--failed NAME,...]
                             [--evidence results/paper]

``--evidence`` folders hold committed results of longer runs (the paper profile on some machine): each shows up
beside the fresh numbers in its own column, labelled with its profile, device, machine, date, commit and wall
time, and marked stale when a minelib source file it imported has changed since.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from .results import atomic_write, load_results


def _mark(c: dict) -> str:
    """A claim's verdict as the report prints it (records from before verdicts carry only ``held``)."""
    verdict = c.get("verdict") or {True: "held", False: "not held", None: "not judged"}[c["held"]]
    return "NOT held" if verdict == "not held" else verdict


def _cell(text) -> str:
    """Text safe inside a markdown table cell (|rho| would split the cell)."""
    return str(text).replace("|", "\\|")


def _status(rec: dict) -> str:
    """"ran", unless the run only exercised the code on generated stand-in data (CelebA absent)."""
    if str(rec.get("data_source", "")).upper().startswith("GENERATED FIXTURE"):
        return "NOT RUN on the paper's data (generated fixture only; numbers are not results)"
    return "ran"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return ", ".join(_fmt(x) for x in v)
    return "—" if v is None else str(v)


def _seeds(seeds) -> str:
    """"base seed 0, 5 replicates" from the records' "base/replicate" labels."""
    bases = sorted({str(s).split("/")[0] for s in seeds})
    return f"base seed {', '.join(bases)}, {len(seeds)} replicate{'s' * (len(seeds) != 1)}"


def _when(entries: list[dict]) -> str:
    """"from 2026-12-01T20:00 UTC (commit abc1234)", or a span of times and the list of commits."""
    times = sorted(str(e.get("created") or "?")[:16] for e in entries)
    commits = sorted({(e.get("commit") or "unknown")[:7] + ("+dirty" if str(e.get("commit")).endswith("+dirty")
                                                           else "") for e in entries})
    when = f"from {times[0]} UTC" if times[0] == times[-1] else f"from {times[0]} to {times[-1]} UTC"
    return f"{when} ({'commit' if len(commits) == 1 else 'commits'} {', '.join(commits)})"


def units_line(units: list[dict]) -> str:
    """What a record's ``units`` log says, in words: e.g. "4 of 6 units reused from 2026-12-01T20:00 UTC
    (commit abc1234); 2 computed in this run (41 s)". Empty for records without a log."""
    if not units:
        return ""
    reused = [u for u in units if u.get("status") == "reused"]
    computed = [u for u in units if u.get("status") != "reused"]
    seconds = sum(float(u.get("seconds") or 0) for u in computed)
    if not reused:
        which = f"all {len(units)} units" if len(units) > 1 else "its one unit"
        return f"{which} computed in this run ({seconds:.0f} s)"
    line = f"{len(reused)} of {len(units)} unit{'s' * (len(units) != 1)} reused {_when(reused)}"
    return line + (f"; {len(computed)} computed in this run ({seconds:.0f} s)" if computed else "")


def _section(rec: dict) -> list[str]:
    lines = [f"## {rec['name']}: {rec.get('title', '')}", ""]
    if rec.get("paper_claim"):
        lines += [f"**Paper:** {rec['paper_claim']}", ""]
    v = rec.get("versions", {})
    lines += [f"Profile `{rec['profile']}`, {_seeds(rec['seeds'])}, device {rec['device']}, "
              f"data: {rec['data_source']}; torch {v.get('torch')}, minelib {v.get('minelib')}, "
              f"python {v.get('python')}; written {rec.get('created')}.", ""]
    if rec.get("units"):
        fresh = [f"`{u['unit']}`" for u in rec["units"] if u.get("status") != "reused"]
        mixed = 0 < len(fresh) < len(rec["units"])
        lines += [f"Units of work: {units_line(rec['units'])}" + (f" ({', '.join(fresh)})" if mixed else "") + ".", ""]
    lines += ["| claim | verdict | detail |", "| --- | --- | --- |"]
    lines += [f"| {_cell(c['claim'])} | {_mark(c)} | {_cell(c['detail'])} |" for c in rec["claims"]]
    lines += [""]
    keys = sorted(set(rec.get("paper", {})) | set(rec.get("metrics", {})))
    if keys:
        lines += ["| quantity | paper | ours |", "| --- | --- | --- |"]
        lines += [f"| {k} | {_cell(_fmt(rec.get('paper', {}).get(k)))} | {_cell(_fmt(rec.get('metrics', {}).get(k)))} |"
                  for k in keys]
        lines += [""]
    for fig in rec.get("figures", []):
        if fig.endswith(".png"):
            lines += [f"[![{fig}]({fig})]({fig})", ""]
    return lines


def provenance_line(rec: dict) -> str:
    """Where, when and from what a record was made, and whether it is stale (a source file it imported changed)."""
    from .results import stale_files

    p = rec.get("provenance", {})
    wall = p.get("wall_seconds")
    compute = sum(float(u.get("seconds") or 0) for u in rec.get("units", []))
    extra = overrides(rec)
    line = (f"profile `{rec['profile']}`" + (f" with {extra}" if extra else "") + f" on {rec['device']} ({p.get('machine', 'machine not recorded')}), written "
            f"{str(rec.get('created'))[:16]} UTC, commit {str(p.get('commit') or 'not recorded')[:12]}"
            + (f", units of work {compute / 60:.1f} min" if compute else "")
            + (f", notebook {wall / 60:.1f} min wall time" if wall else ""))
    stale = stale_files(rec)
    if stale is None:
        return line + "; freshness unknown (no source hashes recorded)"
    return line + ("; **fresh**: no source file it imported has changed" if not stale else
                   f"; **STALE**: {len(stale)} source file(s) it imported changed since ({', '.join(stale)})")


def overrides(rec: dict) -> str:
    """The settings in which a record departs from its named profile (``"seeds 3, epochs 10"``), so that a column
    labelled ``paper`` says when it is not the whole paper profile; "" when it is, or when it cannot be told."""
    import json

    from .experiments.registry import load
    from .experiments.settings import make
    from .results import _jsonable

    try:
        exp = load(rec["name"])
        base = make(exp.Settings, exp.PROFILES, rec["profile"]).asdict()
    except (KeyError, ValueError, TypeError):
        return ""
    same = lambda a, b: json.dumps(_jsonable(a), sort_keys=True) == json.dumps(_jsonable(b), sort_keys=True)
    ours = rec.get("settings", {})
    return ", ".join(f"{k} {_fmt(ours[k])}" for k in base if k in ours and not same(ours[k], base[k]))


def _label(rec: dict) -> str:
    """A column's label: profile, its overrides, date."""
    extra = overrides(rec)
    return f"`{rec['profile']}`" + (f" ({extra})" if extra else "") + f", {str(rec.get('created'))[:10]}"


def _evidence_section(rec: dict, ev: dict, folder: str) -> list[str]:
    """A committed longer run of the same item beside the fresh one: its provenance, verdicts and numbers."""
    lines = [f"**Evidence from `{folder}`:** {provenance_line(ev)}.", "",
             "| claim | verdict (evidence) | detail |", "| --- | --- | --- |"]
    lines += [f"| {_cell(c['claim'])} | {_mark(c)} | {_cell(c['detail'])} |" for c in ev["claims"]]
    keys = sorted(set(rec.get("paper", {})) | set(rec.get("metrics", {})) | set(ev.get("metrics", {})))
    lines += ["", f"| quantity | paper | ours: {_label(rec)} | ours: evidence {_label(ev)} |",
              "| --- | --- | --- | --- |"]
    lines += [f"| {k} | {_cell(_fmt(rec.get('paper', {}).get(k)))} | {_cell(_fmt(rec.get('metrics', {}).get(k)))} | "
              f"{_cell(_fmt(ev.get('metrics', {}).get(k)))} |" for k in keys]
    return lines + [""]


def _units_total(records: dict) -> list[str]:
    """One line over every record's units log: how many were computed in the run and how many reused."""
    units = [u for r in records.values() for u in r.get("units", [])]
    if not units:
        return []
    reused = sum(u.get("status") == "reused" for u in units)
    return [f"Units of work: {len(units) - reused} computed by the runs that wrote these results, {reused} "
            f"reused from the cache (per notebook below).", ""]


def build_report(out_dir: str | Path, expected: list[str] = (), failed: list[str] = (),
                 evidence: list[str | Path] = ()) -> str:
    """Markdown for every results record under ``out_dir``; names expected but missing are listed
    as not run, and ``failed`` ones as failed, never filled in. Records of the ``evidence`` folders are shown
    beside the fresh ones of the same name (:func:`provenance_line`)."""
    records = load_results(out_dir)
    found = {name: (str(folder), rec) for folder in evidence if Path(folder).resolve() != Path(out_dir).resolve()
             for name, rec in load_results(folder).items()}
    claims = [c for r in records.values() for c in r["claims"]]
    judged = [c for c in claims if c["held"] is not None]
    lines = ["# MINE reproduction report", "",
             f"{len(records)} notebook(s) ran; {sum(c['held'] for c in judged)} of {len(judged)} judged "
             f"claims held ({len(claims) - len(judged)} not judged under their profile).", "",
             *_units_total(records),
             "| notebook | profile | device | claims held | status |", "| --- | --- | --- | --- | --- |"]
    for name, r in records.items():
        j = [c for c in r["claims"] if c["held"] is not None]
        status = "failed (stale results below)" if name in failed else _status(r)
        lines.append(f"| {name} | {r['profile']} | {r['device']} | {sum(c['held'] for c in j)}/{len(j)} | {status} |")
    for name in expected:
        if name not in records:
            lines.append(f"| {name} | — | — | — | {'failed' if name in failed else 'not run'} |")
    lines.append("")
    for name, r in records.items():
        lines += _section(r)
        if name in found:
            lines += _evidence_section(r, found[name][1], found[name][0])
    return "\n".join(lines)


HTML_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>MINE reproduction report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}
img{{width:420px;max-width:100%;border:1px solid #eee}}</style></head><body>
{body}
</body></html>
"""


def to_html(markdown_text: str) -> str:
    """The report as one HTML page: figures as thumbnails that link to the full PNG, by relative
    paths, so the page works wherever the output folder goes.

    Uses mistune, the Markdown renderer that ships with Jupyter's nbconvert.
    """
    import mistune

    render = mistune.create_markdown(plugins=["table"])
    return HTML_PAGE.format(body=render(markdown_text))


def write_report(out_dir: str | Path, expected: list[str] = (), failed: list[str] = (),
                 evidence: list[str | Path] = ()) -> Path:
    """Write ``<out_dir>/REPORT.md`` and ``REPORT.html`` atomically; return the Markdown's path.

    Without mistune (a bare GPU machine has no Jupyter) only REPORT.md is written, with a warning.
    """
    text = build_report(out_dir, expected, failed, evidence)
    try:
        html = to_html(text)
    except ModuleNotFoundError as err:
        warnings.warn(f"REPORT.html not written ({err}); REPORT.md is complete", RuntimeWarning, stacklevel=2)
    else:
        atomic_write(Path(out_dir) / "REPORT.html", lambda tmp: Path(tmp).write_text(html))
    return atomic_write(Path(out_dir) / "REPORT.md", lambda tmp: Path(tmp).write_text(text))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Write REPORT.md from the results under an output folder.")
    p.add_argument("out_dir")
    p.add_argument("--expected", default="", help="comma-separated notebook names that should have run")
    p.add_argument("--failed", default="", help="comma-separated notebook names that failed")
    p.add_argument("--evidence", action="append", default=[],
                   help="a folder of committed results of a longer run, shown beside (repeatable)")
    a = p.parse_args(argv)
    split = lambda s: [x for x in s.split(",") if x]
    evidence = [e for e in a.evidence if (Path(e) / "results").is_dir()]
    path = write_report(a.out_dir, split(a.expected), split(a.failed), evidence)
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
