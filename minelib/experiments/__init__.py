"""One module per figure or table of the paper: settings per profile, ``run()``, plots and checks.

Each module defines ``NAME``, ``TITLE``, ``PAPER_CLAIM``, ``PROFILES`` (smoke / quick / paper) and
``run(cfg, device, progress)``; notebooks call them and nothing else computes.
"""
from .common import PROFILE_NAMES, default_profile, settings

__all__ = ["PROFILE_NAMES", "default_profile", "settings"]
