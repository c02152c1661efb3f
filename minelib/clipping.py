"""Adaptive gradient clipping (paper eq. 36, appendix 6.3).

When MINE is a term in a generator's (or encoder's) objective, two gradients reach the generator's
parameters: ``g_u``, from its own adversarial loss, and ``g_m``, from the MI term ``-beta * I``.
MI is unbounded, so ``g_m`` can drown ``g_u`` and the generator stops playing the adversarial game.
The fix rescales the MI gradient so that its norm is at most the adversarial one::

    g_a = min(|g_u|, |g_m|) * g_m / |g_m|        update direction: g_u + g_a

Norms are Frobenius norms over *all* the generator's parameters together (one number, not one per
tensor). Only the MI gradient flowing into the generator is clipped, never the statistics network's
own gradient. Both norms are returned so a training loop can log them. For K generators stacked
along a leading member dimension (:mod:`minelib.ensemble`), ``stacked=True`` clips each member by
its own norms.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch


class ClippedGradient(NamedTuple):
    """What :func:`adaptive_clip` returns: the adapted MI gradient and the norms of both inputs."""

    adapted: list[torch.Tensor]
    norm_u: torch.Tensor
    norm_m: torch.Tensor


def global_norm(grads: Sequence[torch.Tensor | None], stacked: bool = False) -> torch.Tensor:
    """Frobenius norm of a list of tensors taken together (``None`` entries count as zero).

    ``stacked``: tensors carry a leading member dimension K; returns the K members' norms.
    """
    present = [g for g in grads if g is not None]
    if not present:
        raise ValueError("global_norm needs at least one gradient tensor; got none")
    if stacked:
        return torch.stack([g.detach().reshape(g.shape[0], -1).pow(2).sum(1) for g in present]).sum(0).sqrt()
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.detach()) for g in present]))


def adaptive_clip(g_u: Sequence[torch.Tensor | None], g_m: Sequence[torch.Tensor | None],
                  stacked: bool = False) -> ClippedGradient:
    """Rescale the MI gradient ``g_m`` to norm ``min(|g_u|, |g_m|)``, keeping its direction (eq. 36).

    Args:
        g_u: gradients of the adversarial (unsupervised) loss, one tensor per parameter.
        g_m: gradients of the MI term ``-beta * I`` w.r.t. the same parameters, in the same order.
            ``None`` (a parameter the term does not reach) is read as zero, in either list.
        stacked: every tensor has a leading member dimension K; each member is clipped by its own
            norms, which are then of shape (K,).

    Returns:
        :class:`ClippedGradient` ``(adapted, norm_u, norm_m)``: ``adapted`` has one tensor per
        parameter (zeros where ``g_m`` was None, None where both were); the update is ``g_u + adapted``. When
        ``|g_m| <= |g_u|`` the adapted gradient equals ``g_m``; when ``|g_m| = 0`` it is zero.
        Norms are 0-dim tensors on the gradients' device (no host synchronisation).
    """
    g_u, g_m = list(g_u), list(g_m)
    if len(g_u) != len(g_m):
        raise ValueError(f"g_u and g_m must list the same parameters; got {len(g_u)} and {len(g_m)} tensors")
    if not g_u:
        raise ValueError("adaptive_clip needs at least one parameter's gradient; got empty lists")
    for i, (a, b) in enumerate(zip(g_u, g_m)):
        if a is not None and b is not None and a.shape != b.shape:
            raise ValueError(f"gradient {i} has shape {tuple(a.shape)} in g_u but {tuple(b.shape)} in g_m")
    ref = next((g for g in g_u + g_m if g is not None), None)
    if ref is None:
        raise ValueError("every gradient is None; nothing to clip")
    zero = torch.zeros(ref.shape[:1] if stacked else (), dtype=ref.dtype, device=ref.device)
    norm_u = global_norm(g_u, stacked) if any(g is not None for g in g_u) else zero
    norm_m = global_norm(g_m, stacked) if any(g is not None for g in g_m) else zero
    # scale = min(|g_u|, |g_m|) / |g_m|, i.e. min(1, |g_u| / |g_m|); 0 when |g_m| = 0 (g_m is zero then).
    scale = torch.where(norm_m > 0, torch.minimum(norm_u, norm_m) / torch.clamp(norm_m, min=torch.finfo(ref.dtype).tiny),
                        zero)
    per = (lambda g: scale.view(-1, *[1] * (g.dim() - 1))) if stacked else (lambda g: scale)
    adapted = [b.detach() * per(b) if b is not None else (None if a is None else torch.zeros_like(a))
               for a, b in zip(g_u, g_m)]
    return ClippedGradient(adapted, norm_u, norm_m)
