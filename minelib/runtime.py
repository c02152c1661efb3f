"""Where and how a run executes: device choice, seeding, and the environment record."""
from __future__ import annotations

import platform
import random
from importlib import metadata

import numpy as np
import torch

from . import seeding

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when available, else the CPU; ``"cuda"`` without a GPU is an error."""
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        raise TypeError(f"device must be a string ('auto', 'cpu', 'cuda', 'cuda:N'); got {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but torch sees no CUDA GPU; use 'auto' or 'cpu'")
    try:
        return torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"unknown device {device!r}; accepted: 'auto', 'cpu', 'cuda', 'cuda:N'") from err


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's (CPU and CUDA) global generators from stream ``global`` of ``seed``
    (any int >= 0; :mod:`minelib.seeding`). minelib itself never needs it: its functions take their own seeds."""
    random.seed(seeding.torch_seed(seed, "global"))
    np.random.seed(seeding.sequence(seed, "global").generate_state(4))
    torch.manual_seed(seeding.torch_seed(seed, "global"))


def device_name(device: torch.device) -> str:
    """A human-readable name: the GPU model, or the CPU with its thread count."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def numerics() -> dict:
    """How float32 arithmetic runs, for the record: matmul precision (``"highest"``, torch's default, keeps full
    float32: minelib leaves TF32 matmuls off, so a GPU's critic steps round like the CPU's), cuDNN's TF32 switch for
    convolutions (torch's default, on; only Table 2's networks convolve), the CUDA and cuDNN versions torch was
    built with and the GPU (None on a CPU)."""
    cudnn = torch.backends.cudnn
    return {"float32_matmul_precision": torch.get_float32_matmul_precision(),
            "cuda_matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
            "cudnn_allow_tf32": bool(cudnn.allow_tf32), "cuda": torch.version.cuda,
            "cudnn": cudnn.version() if cudnn.is_available() else None,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def package_versions(names=("minelib", "torch", "numpy", "scipy", "pandas", "matplotlib", "seaborn")) -> dict:
    """Installed versions of the packages a result depends on, plus Python's."""
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions
