"""One Adam step of MINE's MLP critic with hand-derived gradients: the training loop's inner step.

A small critic is bound by per-operation overhead, not arithmetic (a 2 x 100 MLP at batch 256 does
about 30 MFLOP a step). Autograd records a graph, runs its engine and calls ``optimizer.step``'s
Python every step; here the backward pass of the MLP and of the bound is written out (a dozen
matrix products and elementwise ops, into activation and gradient buffers allocated once) and Adam is
one fused kernel call. It is 1.3-2x as fast as autograd on 2 CPU threads and gives the same parameters
to float rounding: ``tests/test_estimator.py`` checks it against ``MINE.loss`` with autograd and
``torch.optim.Adam``. No library offers this: ``torch.compile`` would, but compiling costs longer
than most estimates take to train. Other critics (noisy ones, any module) and bounds other than the
marginal-pair ones (InfoNCE) train with :class:`AutogradStep`; :func:`make_step` picks.
"""
from __future__ import annotations

import math

import torch

from .bounds import MarginalBound
from .networks import StatisticsNetwork

# Activations and d act / d pre-activation as aten's own kernels writing into given buffers:
# forward (pre-activation, out) and backward (grad, pre-activation, output, out).
_ACTIVATION_OUT = {
    "relu": lambda a, out: torch.clamp_min(a, 0.0, out=out),
    "elu": lambda a, out: torch.ops.aten.elu.out(a, 1.0, 1, 1, out=out),
    "leaky_relu": lambda a, out: torch.ops.aten.leaky_relu.out(a, 0.2, out=out),
    "tanh": lambda a, out: torch.tanh(a, out=out),
    "softplus": lambda a, out: torch.ops.aten.softplus.out(a, 1.0, 20.0, out=out),
}
_ACTIVATION_BACKWARD = {
    "relu": lambda g, a, h, out: torch.ops.aten.threshold_backward.grad_input(g, h, 0.0, grad_input=out),
    "elu": lambda g, a, h, out: torch.ops.aten.elu_backward.grad_input(g, 1.0, 1, 1, True, h, grad_input=out),
    "leaky_relu": lambda g, a, h, out: torch.ops.aten.leaky_relu_backward.grad_input(g, a, 0.2, False,
                                                                                    grad_input=out),
    "tanh": lambda g, a, h, out: torch.ops.aten.tanh_backward.grad_input(g, h, grad_input=out),
    "softplus": lambda g, a, h, out: torch.ops.aten.softplus_backward.grad_input(g, a, 1.0, 20.0, grad_input=out),
}
_ADAM = dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False)  # torch's defaults


class CriticStep:
    """Train ``mine``'s :class:`~minelib.networks.StatisticsNetwork` one minibatch at a time.

    ``step(x, z, lr)`` takes the batch's rows as the network would, x rows then z rows, the first
    half joint pairs and the second half marginal pairs: (2B, d) for one critic, (K, 2B, d) for K
    stacked ones. It does what ``mine.loss`` then ``backward`` then ``torch.optim.Adam(fused=True)``
    would (moving average included) and returns the detached bound value per member.
    """

    def __init__(self, mine):
        net = mine.network
        if not self.supports(mine):
            raise ValueError("CriticStep trains a StatisticsNetwork without noise on a bound of marginal pairs "
                             "(dv, nwj); train other critics and bounds with MINE.loss and autograd (AutogradStep)")
        self.mine = mine
        self.act = _ACTIVATION_OUT[net.activation]
        self.act_backward = _ACTIVATION_BACKWARD[net.activation]
        # Plain lists of the same Parameter objects (updated in place): ParameterList indexing costs
        # about 0.1 ms a step.
        self.weights, self.biases = list(net.weights), list(net.biases)
        self.params = [p for pair in zip(self.weights, self.biases) for p in pair]
        self.grads = [torch.zeros_like(p) for p in self.params]
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.state_steps = [torch.zeros((), dtype=torch.float32, device=p.device) for p in self.params]
        self.single = net.members == 1
        self._work_shape = None  # activations and their gradients live in buffers made for one batch shape

    @staticmethod
    def supports(mine) -> bool:
        """Whether ``mine``'s critic and bound are ones this step can train (else train them with autograd).

        The bound must be a :class:`~minelib.bounds.MarginalBound`: its gradient in the scores is given by
        one log-normaliser per member (see :meth:`_bound_and_grad`). InfoNCE's is a softmax over every pair
        of the batch, on B ** 2 network rows rather than 2B: it trains with :class:`AutogradStep`.
        """
        net = mine.network
        return (isinstance(mine.criterion, MarginalBound) and isinstance(net, StatisticsNetwork)
                and net.input_noise == 0 and net.hidden_noise == 0 and net.activation in _ACTIVATION_BACKWARD)

    @torch.no_grad()
    def step(self, x: torch.Tensor, z: torch.Tensor, lr: float) -> torch.Tensor:
        inputs, pre, outs = self._forward(torch.cat([x, z], dim=-1))
        value, grad_t = self._bound_and_grad(outs[-1])
        self._backward(grad_t, inputs, pre, outs)
        torch._foreach_add_(self.state_steps, 1)
        torch._fused_adam_(self.params, self.grads, self.exp_avg, self.exp_avg_sq, [], self.state_steps,
                           lr=lr, **_ADAM)
        return value

    def _workspace(self, h: torch.Tensor) -> None:
        """Buffers for every activation and gradient of a batch of this shape, made once.

        Allocating them every step made a stacked (K = 13) estimate_mi about 1.1x slower on 2 CPU threads,
        and its bare step up to 2x: tensors of a few MB go back to the operating system when freed and come
        back as fresh, zero-filled pages.
        """
        lead = h.shape[:-1]
        if self._work_shape == lead:
            return
        widths = [w.shape[-1] for w in self.weights]
        new = lambda width: h.new_empty(*lead, width)
        self.pre = [new(width) for width in widths]                  # pre-activations (the last: scores)
        self.out = [new(width) for width in widths[:-1]]             # hidden outputs
        self.grad_out = [new(width) for width in widths[:-1]]        # d loss / d hidden output
        self.grad_pre = [new(width) for width in widths[:-1]]        # d loss / d hidden pre-activation
        self.column = new(self.weights[-1].shape[-2])                # products of a one-column layer
        self._work_shape = lead

    def _forward(self, h: torch.Tensor):
        """Layer inputs, pre-activations and outputs, kept for the backward pass."""
        self._workspace(h)
        inputs, outs = [], []
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            inputs.append(h)
            a = self.pre[i]
            if self.single:
                torch.addmm(b[0], h, w[0], out=a)
            elif w.shape[-1] == 1:  # one output column: see _backward
                torch.sum(torch.mul(h, w.transpose(1, 2), out=self.column), dim=-1, keepdim=True, out=a).add_(b)
            else:
                torch.baddbmm(b, h, w, out=a)
            h = self.act(a, self.out[i]) if i < last else a
            outs.append(h)
        return inputs, self.pre, outs

    def _bound_and_grad(self, t: torch.Tensor):
        """The bound's value and d(loss)/d(scores), loss = -(surrogate), as ``MINE.loss_from_scores``.

        With ``c`` the log of the normaliser (:meth:`~minelib.bounds.MarginalBound.log_normaliser`: the
        moving average, the batch's own for plain DV, or 1 for NWJ), the surrogate is
        ``mean T_joint - mean e^(T_marg - c)`` up to a constant, whose gradient is ``1/B`` on joint scores
        and ``-e^(T - c)/B`` on marginal ones.
        """
        bound, batch = self.mine.criterion, t.shape[-2] // 2
        t_joint, t_marg = t[..., :batch, :], t[..., batch:, :]
        mean_joint = t_joint.mean(dim=(-2, -1))
        lme_marg = torch.logsumexp(t_marg, dim=(-2, -1)) - math.log(batch)
        value = bound.value_from_parts(mean_joint, lme_marg)
        c = bound.log_normaliser(lme_marg, self.mine.ema)
        grad = torch.empty_like(t)
        grad[..., :batch, :] = -1.0 / batch
        torch.exp(t_marg - c[..., None, None], out=grad[..., batch:, :]).div_(batch)
        return value, grad

    def _backward(self, grad: torch.Tensor, inputs, pre, outs) -> None:
        """Backpropagate d(loss)/d(scores) into ``self.grads``, last layer first.

        Stacked layers with one output column (the score) use elementwise products and sums: on the
        CPU a batched matrix product with one column costs about four times as much.
        """
        weights = self.weights
        for i in range(len(weights) - 1, -1, -1):
            gw, gb = self.grads[2 * i], self.grads[2 * i + 1]
            w = weights[i]
            column = not self.single and w.shape[-1] == 1
            if self.single:
                torch.mm(inputs[i].T, grad, out=gw[0])
            elif column:
                torch.sum(torch.mul(inputs[i], grad, out=self.column), dim=1, keepdim=True,
                          out=gw.view(gw.shape[0], 1, -1))
            else:
                torch.bmm(inputs[i].transpose(1, 2), grad, out=gw)
            torch.sum(grad, dim=-2, keepdim=True, out=gb[0] if self.single else gb)
            if i > 0:
                g = self.grad_out[i - 1]
                if column:
                    torch.mul(grad, w.transpose(1, 2), out=g)
                elif self.single:
                    torch.mm(grad, w[0].T, out=g)
                else:
                    torch.bmm(grad, w.mT, out=g)
                grad = self.act_backward(g, pre[i - 1], outs[i - 1], self.grad_pre[i - 1])


class AutogradStep:
    """:class:`CriticStep`'s ``step(x, z, lr)`` for any critic and bound: ``mine.loss``, autograd and
    ``torch.optim.Adam(fused=True)`` (the same defaults).

    Rows come as CriticStep takes them, the joint pairs in the first half and the marginal ones in the
    second; an all-pairs bound (InfoNCE) uses the first half only and pairs its rows among themselves.
    """

    def __init__(self, mine):
        self.mine = mine
        self.optimizer = torch.optim.Adam(mine.parameters(), lr=1.0, fused=True)  # lr: set every step

    def step(self, x: torch.Tensor, z: torch.Tensor, lr: float) -> torch.Tensor:
        """One Adam step at step size ``lr``; returns the detached bound value per member."""
        batch = x.shape[-2] // 2
        z_marg = None if self.mine.criterion.all_pairs else z[..., batch:, :]
        loss, value = self.mine.loss(x[..., :batch, :], z[..., :batch, :], z_marg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return value


def make_step(mine) -> CriticStep | AutogradStep:
    """The training loop's step for ``mine``: hand-derived where :meth:`CriticStep.supports` it, else autograd."""
    return CriticStep(mine) if CriticStep.supports(mine) else AutogradStep(mine)
