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

:func:`mi_regularised_grads` is the whole step as MINEGAN and ALI+MINE take it: both gradients from
the two losses, the clipping (or not), the update ``g_u + g_a`` and the three norms they log.
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


class MIGradient(NamedTuple):
    """What :func:`mi_regularised_grads` returns: the update of each parameter and the norms to log."""

    grads: list[torch.Tensor]
    norm_u: torch.Tensor
    norm_m: torch.Tensor
    norm_a: torch.Tensor


def mi_regularised_grads(loss_u: torch.Tensor, mi_term: torch.Tensor, params: Sequence[torch.Tensor],
                         mi_params: Sequence[torch.Tensor], *, clip: bool, stacked: bool) -> MIGradient:
    """The gradient of a generator's (or encoder's) loss that carries a MINE term, ``g_u + g_a`` (eq. 36).

    Args:
        loss_u: the adversarial loss, a scalar (summed over stacked members, whose gradients stay apart).
        mi_term: the MI term ``-beta * I``, a scalar; it may reach only some of ``params`` (ALI+MINE's
            ``I(X; F(X) + eps)`` reaches the encoder, not the decoder).
        params: every parameter updated with ``loss_u``.
        mi_params: those of ``params`` that ``mi_term`` is differentiated for (all of them for MINEGAN).
        clip: rescale the MI gradient ``g_m`` to norm ``min(|g_u|, |g_m|)`` (:func:`adaptive_clip`); without,
            ``g_a = g_m`` is applied unchanged.
        stacked: parameters carry a leading member dimension; norms are then per member, shape (K,).

    Returns:
        :class:`MIGradient`: ``grads``, one per parameter of ``params``, ``g_u + g_a`` (``g_m`` is zero where the
        term does not reach); ``norm_u = |g_u|``, ``norm_m = |g_m|`` (the unclipped MI gradient, parameters it
        does not reach counting zero) and ``norm_a = |g_a|``, the MI gradient applied: ``min(norm_u, norm_m)``
        with clipping, ``norm_m`` without. Norms over all of ``params`` together, on the device.
    """
    params = list(params)
    g_u = torch.autograd.grad(loss_u, params, retain_graph=True)
    reached = dict(zip(map(id, mi_params), torch.autograd.grad(mi_term, list(mi_params), allow_unused=True)))
    g_m = [reached.get(id(p)) for p in params]
    if clip:
        g_a, norm_u, norm_m = adaptive_clip(g_u, g_m, stacked)
        return MIGradient([u + a for u, a in zip(g_u, g_a)], norm_u, norm_m, global_norm(g_a, stacked))
    norm_u = global_norm(g_u, stacked)
    norm_m = global_norm(g_m, stacked) if any(m is not None for m in g_m) else torch.zeros_like(norm_u)
    grads = [u if m is None else u + m for u, m in zip(g_u, g_m)]
    return MIGradient(grads, norm_u, norm_m, norm_m)
