"""The one plotting helper: a common seaborn style and figure saving (PNG and PDF, atomic)."""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib

from .results import atomic_write

PAPER_STYLE = dict(style="whitegrid", context="notebook", palette="colorblind")


def setup(notebook: bool = True) -> None:
    """Apply the style; in a notebook, keep inline figures PNG (nbval would compare SVG text)."""
    import seaborn as sns

    sns.set_theme(**PAPER_STYLE)
    if notebook:
        try:
            from IPython import get_ipython

            ip = get_ipython()
            if ip is not None:
                ip.run_line_magic("config", "InlineBackend.figure_formats = ['png']")
        except ImportError:
            pass


def save_figure(fig: "matplotlib.figure.Figure", out_dir: str | os.PathLike, name: str,
                stamp: str | None = None) -> list[str]:
    """Save ``fig`` as ``figures/<name>.png`` and ``.pdf`` under ``out_dir``; return relative paths. ``stamp``
    (e.g. :func:`minelib.experiments.common.stamp`: profile, seeds, iterations against the paper's) is written
    small under the figure, so that a saved figure says what run it shows."""
    if stamp:
        fig.text(0.5, -0.01, stamp, ha="center", va="top", fontsize=8, color="0.35")
    paths = []
    for ext in ("png", "pdf"):
        rel = Path("figures") / f"{name}.{ext}"
        atomic_write(Path(out_dir) / rel, lambda tmp, e=ext: fig.savefig(tmp, format=e, dpi=150, bbox_inches="tight"))
        paths.append(rel.as_posix())
    return paths
