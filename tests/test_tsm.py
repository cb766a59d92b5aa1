"""TSM's temporal shift against an explicit loop, its adjoint, the native layout and bad input."""

from __future__ import annotations

import pytest
import torch

from stviz import official
from stviz.tsm import ResidualShiftBlock, TemporalShift, TSMSkeletonNet, source_frames, temporal_shift


def shift_loop(x: torch.Tensor, fold_div: int, reverse: bool = False) -> torch.Tensor:
    """out[n, c, t, v], one element at a time, from TSM's description."""
    n, c, t, v = x.shape
    fold = c // fold_div
    out = torch.zeros_like(x)
    for ch in range(c):
        group = 0 if ch < fold else 1 if ch < 2 * fold else 2
        step = {0: 1, 1: -1, 2: 0}[group] * (-1 if reverse and group < 2 else 1)
        for f in range(t):
            if 0 <= f + step < t:
                out[:, ch, f] = x[:, ch, f + step]
    return out


@pytest.mark.parametrize("c, t, fold_div", [(64, 16, 8), (12, 5, 3), (10, 7, 4), (3, 4, 2)])
@pytest.mark.parametrize("reverse", [False, True])
def test_matches_loop(c, t, fold_div, reverse):
    x = torch.randn(2, c, t, 5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(temporal_shift(x, fold_div, reverse), shift_loop(x, fold_div, reverse), atol=0, rtol=0)


def test_backward_is_the_inverse_shift():
    """<shift(x), g> == <x, shift_back(g)>: the gradient reads the other way and zero-fills the other end."""
    x = torch.randn(2, 16, 9, 5, requires_grad=True)
    g = torch.randn(2, 16, 9, 5)
    temporal_shift(x, 4).backward(g)
    torch.testing.assert_close(x.grad, temporal_shift(g, 4, reverse=True), atol=0, rtol=0)


@pytest.mark.parametrize("c, t, fold_div", [(64, 16, 8), (12, 5, 3), (8, 1, 4)])
@pytest.mark.parametrize("reverse", [False, True])
def test_gradient_equals_autograd_through_the_loop(c, t, fold_div, reverse):
    """The hand-written backward (the reverse shift) against autograd through the element-wise definition."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, c, t, 5, generator=gen, dtype=torch.float64)
    g = torch.randn(2, c, t, 5, generator=gen, dtype=torch.float64)
    got_x, want_x = x.clone().requires_grad_(), x.clone().requires_grad_()
    temporal_shift(got_x, fold_div, reverse).backward(g)
    shift_loop(want_x, fold_div, reverse).backward(g)
    torch.testing.assert_close(got_x.grad, want_x.grad, atol=0, rtol=0)


def test_backward_is_differentiable_again():
    x = torch.randn(2, 8, 5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda a: temporal_shift(a, 4), (x,))


def test_non_contiguous_input():
    x = torch.randn(2, 5, 16, 9).transpose(2, 3).transpose(1, 2)  # (N, C=9, T=5, V=16), not contiguous
    torch.testing.assert_close(temporal_shift(x, 4), shift_loop(x.contiguous(), 4), atol=0, rtol=0)


@pytest.mark.parametrize("n_segment, fold_div", [(16, 8), (4, 3), (8, 4)])
def test_native_layout_matches_nctv(n_segment, fold_div):
    n, c, v = 2, 24, 25
    x = torch.randn(n, c, n_segment, v)
    native = x.permute(0, 2, 1, 3).reshape(n * n_segment, c, v, 1)  # frames as TSM's segments, joints as pixels
    shift = official.build("tsm", "shift", n_segment=n_segment, fold_div=fold_div)
    got = shift(native).reshape(n, n_segment, c, v).permute(0, 2, 1, 3)
    torch.testing.assert_close(got, temporal_shift(x, fold_div), atol=0, rtol=0)


def test_native_default_fold_div_is_three():
    x = torch.randn(4 * 2, 9, 3, 1)
    want = official.build("tsm", "shift", n_segment=4, fold_div=3)(x)
    torch.testing.assert_close(official.build("tsm", "shift", n_segment=4)(x), want)


def test_inplace_is_refused_like_upstream():
    with pytest.raises(NotImplementedError, match="disabled upstream"):
        official.build("tsm", "shift", n_segment=8, inplace=True)


def test_bad_input_names_the_expected_shape():
    with pytest.raises(ValueError, match=r"\(N, C, T, V\)"):
        temporal_shift(torch.zeros(2, 8, 4))
    with pytest.raises(TypeError, match="floating-point"):
        temporal_shift(torch.zeros(2, 8, 4, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="n_segment=8"):
        official.build("tsm", "shift", n_segment=8)(torch.zeros(12, 8, 5, 1))
    with pytest.raises(ValueError, match="fold_div"):
        TemporalShift(fold_div=1)


def test_a_shift_with_empty_folds_is_refused_not_a_copy():
    with pytest.raises(ValueError, match=r"C=4 channels, fewer than fold_div=8: .* nothing would shift"):
        temporal_shift(torch.randn(2, 4, 6, 5), 8)
    x = torch.randn(16, 16, 5, 1)
    with pytest.warns(UserWarning, match=r"C=16 < fold_div=32: no channel shifts \(as in the original\)"):
        assert torch.equal(official.build("tsm", "shift", n_segment=8, fold_div=32)(x), x)  # the original's copy
    with pytest.raises(ValueError, match=r"TSMSkeletonNet: hidden has C=16 channels, fewer than fold_div=32"):
        TSMSkeletonNet(5, fold_div=32)
    with pytest.raises(ValueError, match=r"n_segment must be an integer >= 1, got 0"):
        official.build("tsm", "shift", n_segment=0)


def test_tsm_skeleton_net_checks_frames_and_dtype():
    net = TSMSkeletonNet(5)
    with pytest.raises(ValueError, match=r"T=3 frames, expected at least 4"):
        net(torch.randn(1, 3, 3, 25, 2))
    with pytest.raises(TypeError, match=r"x has dtype torch.float64 but the weights are torch.float32"):
        net(torch.randn(1, 3, 8, 25, 2, dtype=torch.float64))


def test_source_frames_diagram():
    src = source_frames(8, 5, fold_div=4)
    assert src[0].tolist() == [1, 2, 3, 4, -1]  # first fold reads the next frame
    assert src[2].tolist() == [-1, 0, 1, 2, 3]  # second fold reads the previous frame
    assert src[4].tolist() == [0, 1, 2, 3, 4]
    assert torch.equal(source_frames(8, 5, 4, reverse=True)[:2], src[2:4])


def test_residual_block_has_only_the_wrapped_parameters():
    net = torch.nn.Conv2d(16, 16, 1)
    block = ResidualShiftBlock(net, fold_div=8)
    x = torch.randn(2, 16, 6, 25)
    torch.testing.assert_close(block(x), torch.relu(x + net(temporal_shift(x, 8))))
    assert sum(p.numel() for p in block.parameters()) == sum(p.numel() for p in net.parameters())


def test_tsm_skeleton_net_shift_adds_no_parameters_and_sees_order():
    from stviz import set_seed
    from stviz.tsm import TSMSkeletonNet

    set_seed(0)
    shifted, bag = TSMSkeletonNet(5, fold_div=4).eval(), TSMSkeletonNet(5, fold_div=None).eval()
    assert sum(p.numel() for p in shifted.parameters()) == sum(p.numel() for p in bag.parameters())
    bag.load_state_dict(shifted.state_dict())
    x = torch.randn(2, 3, 16, 25, 2)
    with torch.no_grad():
        assert shifted(x).shape == (2, 5)
        # without the shift, frames are pooled independently: reversing time changes nothing
        torch.testing.assert_close(bag(x.flip(2)), bag(x), atol=1e-5, rtol=1e-5)
        assert not torch.allclose(shifted(x.flip(2)), shifted(x), atol=1e-5)
