"""Probe: where Fig 5's bidirectional models put their samples on the 25-Gaussian grid, and what the encoder
noise sigma (eq. 23: 1) does to that.

    python benchmarks/probe_ali_grid.py [--variants ali,ali_mine] [--enc-noise 1,0.3,0.1] [--steps 1500]
        [--profile quick] [--seeds 3]

Runs Fig 5's own units (:mod:`minelib.experiments.fig5_ali_reconstructions`, the ``--profile`` settings with
``enc_noise``, ``steps`` and ``seeds`` changed) and prints one JSON line per model and sigma: the modes covered by
its samples and the % within 3 std of a mode (HQ), each seed's and their mean, the reconstruction MSE beside
chance (shuffled pairs) and the spread of the codes F(x) (the prior's is 1). docs/diagnostics.md gives one run.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from minelib.experiments import fig5_ali_reconstructions as fig5
from minelib.experiments.common import settings
from minelib.experiments.protocol import run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", default="ali,ali_mine")
    p.add_argument("--enc-noise", default="1,0.3,0.1", help="comma-separated sigmas")
    p.add_argument("--steps", type=int, default=1_500)
    p.add_argument("--profile", default="quick")
    p.add_argument("--seeds", type=int, default=3)
    a = p.parse_args()
    for sigma in (float(s) for s in a.enc_noise.split(",")):
        cfg = settings(fig5, a.profile, enc_noise=sigma, steps=a.steps, seeds=a.seeds,
                       variants=tuple(a.variants.split(",")))
        result = run(fig5, cfg, device="cpu", progress=False)
        for model, sc in result["scores"].groupby("model", sort=False):
            codes = [float(result["panels"][(model, s)]["emb"].std(0).mean()) for s in sc.seed]
            print(json.dumps({"model": model, "enc_noise": sigma, "steps": a.steps, "profile": a.profile,
                              "hq_percent": [round(v, 1) for v in sc.hq_percent],
                              "hq_mean": round(float(sc.hq_percent.mean()), 1),
                              "modes": sc.modes.tolist(), "recon_mse": round(float(sc.recon_mse.mean()), 2),
                              "chance_mse": round(float(sc.chance_mse.mean()), 1),
                              "code_std": round(float(np.mean(codes)), 2),
                              "seconds": round(float(sc.seconds.sum()), 1)}), flush=True)


if __name__ == "__main__":
    main()
