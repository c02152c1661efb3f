"""Adaptive clipping (eq. 36): the rescaling itself, and the MI-regularised gradient MINEGAN and ALI+MINE share."""
import pytest
import torch

from minelib import bidirectional, gan
from minelib.clipping import adaptive_clip, global_norm, mi_regularised_grads


def _grads(seed, scale):
    g = torch.Generator().manual_seed(seed)
    return [scale * torch.randn(5, 3, generator=g), scale * torch.randn(3, generator=g)]


def test_clipping_caps_the_norm_and_keeps_the_direction():
    g_u, g_m = _grads(0, 1.0), _grads(1, 50.0)
    out = adaptive_clip(g_u, g_m)
    flat = lambda gs: torch.cat([g.reshape(-1) for g in gs])
    assert torch.isclose(out.norm_u, flat(g_u).norm()) and torch.isclose(out.norm_m, flat(g_m).norm())
    assert out.norm_m > out.norm_u
    adapted = flat(out.adapted)
    assert adapted.norm() <= out.norm_u * (1 + 1e-6)
    assert torch.isclose(adapted.norm(), out.norm_u)      # min(|g_u|, |g_m|) = |g_u|
    cos = torch.dot(adapted, flat(g_m)) / (adapted.norm() * flat(g_m).norm())
    assert torch.isclose(cos, torch.tensor(1.0), atol=1e-6)  # same direction as g_m
    assert global_norm(out.adapted) <= global_norm(g_u) * (1 + 1e-6)


def test_clipping_is_a_no_op_when_the_mi_gradient_is_smaller():
    g_u, g_m = _grads(0, 10.0), _grads(1, 0.1)
    out = adaptive_clip(g_u, g_m)
    assert out.norm_m <= out.norm_u
    for a, m in zip(out.adapted, g_m):
        assert torch.allclose(a, m, rtol=1e-6, atol=0)
    equal = adaptive_clip(g_m, g_m)   # |g_m| = |g_u|: still unchanged
    assert all(torch.allclose(a, m) for a, m in zip(equal.adapted, g_m))


def test_clipping_handles_zero_and_missing_gradients():
    g_u = _grads(0, 1.0)
    out = adaptive_clip(g_u, [torch.zeros(5, 3), torch.zeros(3)])
    assert out.norm_m == 0 and all(torch.equal(a, torch.zeros_like(a)) for a in out.adapted)
    out = adaptive_clip(g_u, [None, 100 * torch.ones(3)])   # a parameter the MI term does not reach
    assert out.adapted[0].shape == (5, 3) and torch.equal(out.adapted[0], torch.zeros(5, 3))
    assert torch.isclose(global_norm(out.adapted), out.norm_u)
    out = adaptive_clip([torch.zeros(5, 3), torch.zeros(3)], _grads(1, 1.0))   # |g_u| = 0: MI term off
    assert all(torch.equal(a, torch.zeros_like(a)) for a in out.adapted)
    with pytest.raises(ValueError, match="same parameters"):
        adaptive_clip(g_u, g_u[:1])
    with pytest.raises(ValueError, match="shape"):
        adaptive_clip(g_u, [torch.ones(3, 5), torch.ones(3)])


def test_clipping_stacked_clips_each_member_by_its_own_norms():
    gen = torch.Generator().manual_seed(0)
    g_u = [torch.randn(3, 4, 5, generator=gen), torch.randn(3, 1, 5, generator=gen)]
    g_m = [10 * torch.randn(3, 4, 5, generator=gen), 0.01 * torch.randn(3, 1, 5, generator=gen)]
    g_m[0][1] *= 0.001                                    # member 1: MI gradient smaller, left as is
    stacked = adaptive_clip(g_u, g_m, stacked=True)
    for k in range(3):
        alone = adaptive_clip([g[k] for g in g_u], [g[k] for g in g_m])
        torch.testing.assert_close(stacked.norm_u[k], alone.norm_u)
        torch.testing.assert_close(stacked.norm_m[k], alone.norm_m)
        for a, b in zip(stacked.adapted, alone.adapted):
            torch.testing.assert_close(a[k], b)
    torch.testing.assert_close(stacked.adapted[0][1], g_m[0][1])


# ---------------------------------------------------------------- the MI-regularised gradient

def _encoder_decoder(seed, stacked):
    """Parameters of a toy "encoder" A and "decoder" B, an adversarial loss reaching both and an MI term reaching
    A only (ALI+MINE's shape), all float64 so that equalities are exact."""
    g = torch.Generator().manual_seed(seed)
    lead = (3,) if stacked else ()
    a = [torch.randn(*lead, 4, 2, generator=g, dtype=torch.float64, requires_grad=True),
         torch.randn(*lead, 2, generator=g, dtype=torch.float64, requires_grad=True)]
    b = [torch.randn(*lead, 2, 5, generator=g, dtype=torch.float64, requires_grad=True)]
    x = torch.randn(*lead, 7, 4, generator=g, dtype=torch.float64)
    code = torch.tanh(x @ a[0] + a[1].unsqueeze(-2))
    out = code @ b[0]
    loss_u = (out ** 2).mean() + code.sin().sum()
    mi_term = -100.0 * (code ** 3).mean()         # larger than loss_u: clipping has work to do
    return a, b, loss_u, mi_term


@pytest.mark.parametrize("stacked", [False, True])
@pytest.mark.parametrize("clip", [True, False])
def test_gan_and_ali_call_patterns_give_identical_gradients(clip, stacked):
    """MINEGAN differentiates the MI term for every parameter it updates, ALI+MINE for the encoder's only: with
    the same parameters and losses, both ways give the same update and norms, clipped or not."""
    assert gan.mi_regularised_grads is bidirectional.mi_regularised_grads is mi_regularised_grads
    a, b, loss_u, mi_term = _encoder_decoder(0, stacked)
    as_gan = mi_regularised_grads(loss_u, mi_term, a + b, a + b, clip=clip, stacked=stacked)
    a2, b2, loss_u2, mi_term2 = _encoder_decoder(0, stacked)
    as_ali = mi_regularised_grads(loss_u2, mi_term2, a2 + b2, a2, clip=clip, stacked=stacked)
    for x, y in zip(as_gan.grads, as_ali.grads):
        assert torch.equal(x, y)
    for name in ("norm_u", "norm_m", "norm_a"):
        assert torch.equal(getattr(as_gan, name), getattr(as_ali, name)), name


@pytest.mark.parametrize("stacked", [False, True])
def test_unclipped_mi_gradient_is_applied_unchanged(stacked):
    """clip=False: the update is g_u + g_m with g_m zero where the term does not reach, norm_m the norm of g_m
    (those parameters counting zero), and norm_a = norm_m."""
    a, b, loss_u, mi_term = _encoder_decoder(1, stacked)
    g_u = torch.autograd.grad(loss_u, a + b, retain_graph=True)
    g_m = torch.autograd.grad(mi_term, a, retain_graph=True)
    out = mi_regularised_grads(loss_u, mi_term, a + b, a, clip=False, stacked=stacked)
    want = [u + m for u, m in zip(g_u, g_m)] + [g_u[2]]
    for got, w in zip(out.grads, want):
        torch.testing.assert_close(got, w, rtol=1e-15, atol=0)
    dims = lambda t: tuple(range(1, t.dim())) if stacked else tuple(range(t.dim()))
    norm = lambda gs: torch.stack([g.pow(2).sum(dims(g)) for g in gs]).sum(0).sqrt()
    torch.testing.assert_close(out.norm_m, norm(g_m), rtol=1e-14, atol=0)
    torch.testing.assert_close(out.norm_u, norm(g_u), rtol=1e-14, atol=0)
    assert torch.equal(out.norm_a, out.norm_m) and (out.norm_m > out.norm_u).all()


@pytest.mark.parametrize("stacked", [False, True])
def test_clipped_mi_gradient_is_adaptive_clip_of_the_two_gradients(stacked):
    a, b, loss_u, mi_term = _encoder_decoder(2, stacked)
    g_u = torch.autograd.grad(loss_u, a + b, retain_graph=True)
    g_m = list(torch.autograd.grad(mi_term, a, retain_graph=True)) + [None]
    ref = adaptive_clip(g_u, g_m, stacked)
    out = mi_regularised_grads(loss_u, mi_term, a + b, a, clip=True, stacked=stacked)
    for got, u, m in zip(out.grads, g_u, ref.adapted):
        assert torch.equal(got, u + m)
    assert torch.equal(out.norm_u, ref.norm_u) and torch.equal(out.norm_m, ref.norm_m)
    assert (ref.norm_m > ref.norm_u).all()
    torch.testing.assert_close(out.norm_a, torch.minimum(ref.norm_u, ref.norm_m), rtol=1e-14, atol=0)   # eq. 36
