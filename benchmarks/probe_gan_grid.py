"""Probe: what a plain GAN (beta 0) needs to put most samples on the modes of the 25-Gaussian grid.

    python benchmarks/probe_gan_grid.py [--steps 10000] [--seed 0] [--wide]

Trains one GAN per setting with :func:`minelib.gan.train_gan` (the code Fig 4 runs) and prints, after 1k, 2.5k,
5k and 10k iterations, the modes covered, the % of samples within 3 std of a mode (HQ) and the reverse KL, for the
recalled ICML setting (BatchNorm in G, Adam 1e-4) and each change alone and together. docs/diagnostics.md
gives the numbers of one run.
"""
from __future__ import annotations

import argparse
import json

from minelib.gan import train_gan
from minelib.metrics import grid_mode_metrics
from minelib.toy2d import grid_gaussians

SETTINGS = {"ICML (BatchNorm, 1e-4)": dict(g_batch_norm=True, lr=1e-4),
            "BatchNorm, 1e-3": dict(g_batch_norm=True, lr=1e-3),
            "no BatchNorm, 1e-4": dict(g_batch_norm=False, lr=1e-4),
            "no BatchNorm, 1e-3 (Fig 4)": dict(g_batch_norm=False, lr=1e-3)}


def probe(name: str, over: dict, steps: int, seed: int, wide: bool) -> list[dict]:
    """One GAN of setting ``over``; its mode metrics at the recorded iterations."""
    nets = {} if wide else dict(g_hidden=(128, 128), d_hidden=(128, 128, 128))
    at = [s for s in (1_000, 2_500, 5_000, 10_000, 20_000) if s < steps] + [steps]
    run = train_gan(grid_gaussians(100_000, seed=seed)[0], beta=0.0, steps=steps, record_at=at, n_record=2_500,
                    seed=seed, device="cpu", progress=False, **nets, **over)
    rows = []
    for step in at:
        m = grid_mode_metrics(run.samples[step])
        rows.append({"setting": name, "step": step, "modes": m["modes"], "hq_percent": round(m["hq_percent"], 1),
                     "reverse_kl": round(m["reverse_kl"], 2), "seconds": round(run.seconds, 1)})
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--wide", action="store_true", help="the paper's widths (G 2 x 500, D 3 x 400) instead of 128")
    a = p.parse_args(argv)
    for name, over in SETTINGS.items():
        for row in probe(name, over, a.steps, a.seed, a.wide):
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
