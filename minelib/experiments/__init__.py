"""One module per figure or table of the paper, each following :mod:`minelib.experiments.protocol`.

    from minelib.experiments import fig2_convergence as exp, settings, run
    cfg = settings(exp, "quick", steps=2000)       # checked at once, naming a bad key
    result = run(exp, cfg, device="cpu", out_dir="results/quick")   # cached per unit: resumes
    exp.plot(result); exp.claims(result, cfg.profile)

``python -m minelib.experiments`` computes units without notebooks (for shards of a job array);
every setting of every profile, with its source, is listed in ``docs/settings.md``.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from .common import default_profile, notebook_setup, settings
from .protocol import Unit, run
from .settings import PROFILE_NAMES

NAMES = ("fig1_gaussian_mi", "fig2_convergence", "fig3_swiss_roll_gan", "fig4_25gaussians_gan",
         "fig5_ali_reconstructions", "table1_mnist_bidirectional", "table2_celeba_bidirectional",
         "table3_mnist_bottleneck")


def load(name: str) -> ModuleType:
    """The experiment module called ``name`` (one of :data:`NAMES`)."""
    if name not in NAMES:
        raise ValueError(f"unknown experiment {name!r}; accepted: {', '.join(NAMES)}")
    return importlib.import_module(f"{__name__}.{name}")


__all__ = ["NAMES", "PROFILE_NAMES", "Unit", "default_profile", "load", "notebook_setup", "run",
           "settings"]
