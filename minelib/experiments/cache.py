"""Where units of work keep their results, so that a killed or sharded run resumes.

A unit's result lives in ``<out_dir>/cache/<experiment>/<unit>-<hash>.pkl``, written atomically
(a kill leaves either the whole file or none). The hash covers everything that decides the result:
the experiment, its settings, the unit, the base seed, the device kind (``cpu``/``cuda``), minelib's
version and a hash of its source files, and the torch version. A change to any of them gives a new
file name, so stale results are never reused, only left behind.

Why a hash of the sources rather than the git commit: a commit that touches only the notebooks or
the README must not throw away hours of training, and an uncommitted edit to the library must. The
commit is still recorded beside each result, for provenance.
"""
from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import pickle
import subprocess
import warnings
from pathlib import Path

import torch

from ..results import atomic_write
from ..runtime import resolve_device

PACKAGE = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=1)
def source_hash() -> str:
    """SHA-256 of every ``.py`` file of the installed minelib package (paths and contents)."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        h.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the checkout minelib runs from (with ``+dirty`` for uncommitted changes), if any."""
    try:
        root = PACKAGE.parent
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "minelib"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def unit_id(exp, cfg, unit, seed: int, device: str) -> dict:
    """Everything a unit's result depends on, as JSON values (hashed by :func:`unit_path`)."""
    from .. import __version__

    return {"experiment": exp.NAME, "settings": cfg.asdict(), "unit": unit.key, "params": dict(unit.params),
            "seed": seed, "device": resolve_device(device).type, "minelib": __version__,
            "sources": source_hash(), "torch": torch.__version__}


def unit_path(out_dir, exp, cfg, unit, seed: int, device: str) -> Path:
    """The cache file of ``unit``: its key and a 16-hex-digit hash of :func:`unit_id`."""
    text = json.dumps(unit_id(exp, cfg, unit, seed, device), sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return Path(out_dir) / "cache" / exp.NAME / f"{unit.key}-{digest}.pkl"


def meta(seconds: float) -> dict:
    """What is recorded beside a computed unit: when, how long, and from which commit."""
    return {"created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(float(seconds), 3), "commit": git_commit()}


def store(path: Path, part, info: dict) -> Path:
    """Write ``part`` and its ``info`` atomically to ``path``."""
    blob = pickle.dumps({"meta": info, "part": part}, protocol=pickle.HIGHEST_PROTOCOL)
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(blob))


def load(path: Path) -> tuple[object, dict]:
    """A cached unit's ``(part, meta)``. The files are this project's own output, which is why pickle
    (arrays, DataFrames and dicts round-trip exactly) is acceptable here."""
    with open(path, "rb") as fh:
        blob = pickle.load(fh)
    return blob["part"], blob["meta"]


def load_if_present(path: Path) -> tuple[object, dict] | None:
    """:func:`load`, or None when ``path`` is missing or cannot be read back (a file truncated by a full
    disk, say, or pickled by an incompatible version): the unit is then computed again and the file
    replaced, with a warning, rather than the whole run failing."""
    if not path.exists():
        return None
    try:
        return load(path)
    except Exception as err:  # noqa: BLE001 - any unreadable file means: compute the unit again
        warnings.warn(f"cached unit {path} is unreadable ({type(err).__name__}: {err}); computing it again",
                      RuntimeWarning, stacklevel=2)
        return None
