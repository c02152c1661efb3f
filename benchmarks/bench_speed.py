"""Training speed of ``estimate_mi`` against a bare PyTorch MINE loop, measured in one run.

The bare loop is the floor any library pays: forward on joint and shuffled pairs, DV loss,
backward, fused Adam. Prints steps/s of both and their ratio; asserts nothing about time.

    python benchmarks/bench_speed.py [--steps 2000] [--threads 2] [--device cpu]
"""
from __future__ import annotations

import argparse
import math
import time

import torch
from torch import nn

import minelib
from minelib.runtime import device_name, resolve_device


def bare_loop(x: torch.Tensor, z: torch.Tensor, steps: int, batch: int, hidden: int) -> float:
    """Steps per second of the plainest MINE loop on the same data and network."""
    n, d = x.shape[0], x.shape[1] + z.shape[1]
    net = nn.Sequential(nn.Linear(d, hidden), nn.ELU(), nn.Linear(hidden, hidden), nn.ELU(),
                        nn.Linear(hidden, 1)).to(x.device)
    opt = torch.optim.Adam(net.parameters(), 1e-3, fused=True)

    def run(k):
        for _ in range(k):
            i = torch.randint(n, (batch,), device=x.device)
            xb, zb = x[i], z[i]
            t = net(torch.cat([torch.cat([xb, zb], 1), torch.cat([xb, zb[torch.randperm(batch, device=x.device)]], 1)]))
            loss = -(t[:batch].mean() - torch.logsumexp(t[batch:], 0) + math.log(batch))
            opt.zero_grad()
            loss.backward()
            opt.step()
    run(50)
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    run(steps)
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    dev = resolve_device(a.device)
    xa, xb = minelib.correlated_gaussian(20_000, 0.5, 2, seed=0)
    x = torch.tensor(xa, dtype=torch.float32, device=dev)
    z = torch.tensor(xb, dtype=torch.float32, device=dev)
    bare = bare_loop(x, z, a.steps, a.batch, a.hidden)
    est = minelib.estimate_mi(xa, xb, steps=a.steps, batch_size=a.batch, hidden=(a.hidden, a.hidden),
                              device=a.device, progress=False, eval_every=a.steps)
    print(f"device: {device_name(dev)}; 2 x {a.hidden} MLP, batch {a.batch}, {a.steps} steps")
    print(f"{'loop':<28}{'steps/s':>10}")
    print(f"{'bare PyTorch loop':<28}{bare:>10.0f}")
    print(f"{'minelib.estimate_mi':<28}{est.steps_per_second:>10.0f}")
    print(f"ratio estimate_mi / bare: {est.steps_per_second / bare:.2f}")
    print(f"estimate: {est.mi:.4f} nats (truth {minelib.gaussian_mi(0.5, 2):.4f})")


if __name__ == "__main__":
    main()
