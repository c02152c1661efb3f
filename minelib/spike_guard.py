"""A critic step that clips each member's gradient against its own running scale: NWJ's guard against spikes.

NWJ's minibatch gradient weighs each marginal pair by ``e^(T-1) / B``. At high MI one pair scored far above the
rest makes that gradient hundreds of times its usual size (a minibatch value of -2,125 nats at 6 nats of MI);
Adam's second moment, inflated by it, then keeps every step small for hundreds of steps, and the critic falls
back and stays low (``docs/diagnostics.md``). Clipping the norm of each member's gradient to ``factor`` times a
moving average of its past (clipped) norms removes such spikes and leaves ordinary steps alone. DV's gradient
divides the same term by a moving average and needs no guard. ``estimate_mi(..., spike_guard=True)`` uses it.

It is off by default because clipping also removes NWJ's own correction: at 39 nats (Fig 1's d = 20, rho = 0.99)
the clipped critic's marginal scores ran away (a training bound of -3.6e6 nats at step 849, with a factor of 10
and also with a scale that follows the unclipped norm in log space), where the unclipped gradient, large as it
is, pulls them back. This lives beside :mod:`minelib.critic_step` rather than in it: the GAN and ALI trainers
share that step, and their recorded results would change with it.
"""
from __future__ import annotations

import torch

from .critic_step import CriticStep, make_step


class GuardedCriticStep(CriticStep):
    """:class:`~minelib.critic_step.CriticStep` with each member's gradient norm clipped to ``factor`` times
    its moving average (rate ``rate``; the first step sets it). ``clipped`` counts the clipped steps per member."""

    def __init__(self, mine, factor: float = 10.0, rate: float = 0.01):
        super().__init__(mine)
        self.factor, self.rate = float(factor), float(rate)
        self.scale = None
        self.clipped = torch.zeros(mine.members, dtype=torch.long, device=self.params[0].device)

    def _backward(self, grad: torch.Tensor, inputs, pre, outs) -> None:
        super()._backward(grad, inputs, pre, outs)
        # Every parameter is (K, ...) with the member first, also for K = 1 (see StatisticsNetwork).
        norm = torch.stack([g.pow(2).flatten(1).sum(dim=1) for g in self.grads]).sum(dim=0).sqrt()
        if self.scale is None:
            self.scale = norm.clone()
        cap = self.factor * self.scale
        shrink = torch.clamp(cap / norm.clamp_min(1e-30), max=1.0)
        self.clipped += (shrink < 1).long()
        for g in self.grads:
            g.mul_(shrink.view(-1, *([1] * (g.dim() - 1))))
        self.scale.lerp_(torch.minimum(norm, cap), self.rate)


def estimator_step(mine):
    """The step ``estimate_mi(..., spike_guard=True)`` trains with: guarded for NWJ on a critic :class:`CriticStep`
    supports, else :func:`~minelib.critic_step.make_step`'s."""
    if mine.bound == "nwj" and CriticStep.supports(mine):
        return GuardedCriticStep(mine)
    return make_step(mine)
