"""fastpool.nn: NumPy layer objects with forward(x) / backward(grad).

Each layer against fastpool's functional calls (always) and torch's autograd
(where torch is installed); backward before forward; reprs; and a tiny NumPy
CNN that learns.
"""

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import fastpool as fp
import fastpool.nn as fnn

try:
    import torch
    import torch.nn.functional as F
except Exception:  # noqa: BLE001 - any broken torch install means "no torch" here
    torch = F = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def _split(res):
    return res if isinstance(res, tuple) else (res, None)


def _nchw(F_op):
    """A torch reference for channels_last layers: NHWC in and out."""
    def run(F, t):
        perm_in = (0, t.dim() - 1) + tuple(range(1, t.dim() - 1))
        perm_out = (0,) + tuple(range(2, t.dim())) + (1,)
        return F_op(F, t.permute(perm_in)).permute(perm_out)
    return run


# (id, layer factory, functional forward -> y or (y, state),
#  functional backward (g, x, y, state) -> dx, torch reference (F, t) -> y or None,
#  input shape, input must be >= 0)
CASES = [
    ("MaxPool1d", lambda: fnn.MaxPool1d(3, 2, 1),
     lambda x: fp.max_pool1d(x, 3, 2, 1, return_indices=True),
     lambda g, x, y, s: fp.max_pool1d_backward(g, s, x.shape),
     lambda F, t: F.max_pool1d(t, 3, 2, 1), (2, 3, 11), False),
    ("MaxPool2d", lambda: fnn.MaxPool2d(3, 2, 1, 1, False, True),
     lambda x: fp.max_pool2d(x, 3, 2, 1, ceil_mode=True, return_indices=True),
     lambda g, x, y, s: fp.max_pool2d_backward(g, s, x.shape),
     lambda F, t: F.max_pool2d(t, 3, 2, 1, ceil_mode=True), (2, 3, 9, 10), False),
    ("MaxPool2d_same", lambda: fnn.MaxPool2d(3, 2, "same"),
     lambda x: fp.max_pool2d(x, 3, 2, "same", return_indices=True),
     lambda g, x, y, s: fp.max_pool2d_backward(g, s, x.shape), None, (2, 3, 9, 10), False),
    ("MaxPool2d_nhwc", lambda: fnn.MaxPool2d(2, channels_last=True),
     lambda x: fp.max_pool2d(x, 2, channels_last=True, return_indices=True),
     lambda g, x, y, s: fp.max_pool2d_backward(g, s, x.shape, channels_last=True),
     _nchw(lambda F, t: F.max_pool2d(t, 2)), (2, 8, 10, 3), False),
    ("MaxPool3d", lambda: fnn.MaxPool3d(2, dilation=(1, 2, 1)),
     lambda x: fp.max_pool3d(x, 2, dilation=(1, 2, 1), return_indices=True),
     lambda g, x, y, s: fp.max_pool3d_backward(g, s, x.shape),
     lambda F, t: F.max_pool3d(t, 2, dilation=(1, 2, 1)), (2, 3, 5, 6, 7), False),
    ("AvgPool1d", lambda: fnn.AvgPool1d(3, 2, 1, count_include_pad=False),
     lambda x: fp.avg_pool1d(x, 3, 2, 1, count_include_pad=False),
     lambda g, x, y, s: fp.avg_pool1d_backward(g, x.shape, 3, 2, 1, count_include_pad=False),
     lambda F, t: F.avg_pool1d(t, 3, 2, 1, count_include_pad=False), (2, 3, 11), False),
    ("AvgPool2d", lambda: fnn.AvgPool2d(3, 2, 1, True, True, 4),
     lambda x: fp.avg_pool2d(x, 3, 2, 1, True, True, 4),
     lambda g, x, y, s: fp.avg_pool2d_backward(g, x.shape, 3, 2, 1, True, True, 4),
     lambda F, t: F.avg_pool2d(t, 3, 2, 1, True, True, 4), (2, 3, 9, 10), False),
    ("AvgPool3d_nhwc", lambda: fnn.AvgPool3d(2, ceil_mode=True, channels_last=True),
     lambda x: fp.avg_pool3d(x, 2, ceil_mode=True, channels_last=True),
     lambda g, x, y, s: fp.avg_pool3d_backward(g, x.shape, 2, ceil_mode=True,
                                               channels_last=True),
     _nchw(lambda F, t: F.avg_pool3d(t, 2, ceil_mode=True)), (2, 5, 6, 7, 3), False),
    ("LPPool1d", lambda: fnn.LPPool1d(3, 3, 2),
     lambda x: fp.lp_pool1d(x, 3, 3, 2),
     lambda g, x, y, s: fp.lp_pool1d_backward(g, x, y, 3, 3, 2),
     lambda F, t: F.lp_pool1d(t, 3, 3, 2), (2, 3, 11), True),
    ("LPPool2d", lambda: fnn.LPPool2d(2, (2, 3)),
     lambda x: fp.lp_pool2d(x, 2, (2, 3)),
     lambda g, x, y, s: fp.lp_pool2d_backward(g, x, y, 2, (2, 3)),
     lambda F, t: F.lp_pool2d(t, 2, (2, 3)), (2, 3, 9, 10), False),
    ("LPPool2d_pad", lambda: fnn.LPPool2d(2, 3, 1, padding=1),
     lambda x: fp.lp_pool2d(x, 2, 3, 1, padding=1),
     lambda g, x, y, s: fp.lp_pool2d_backward(g, x, y, 2, 3, 1, padding=1),
     None, (2, 3, 9, 10), False),
    ("LPPool3d", lambda: fnn.LPPool3d(1.5, 2),
     lambda x: fp.lp_pool3d(x, 1.5, 2),
     lambda g, x, y, s: fp.lp_pool3d_backward(g, x, y, 1.5, 2),
     lambda F, t: F.lp_pool3d(t, 1.5, 2), (2, 3, 4, 6, 6), True),
    ("AdaptiveMaxPool1d", lambda: fnn.AdaptiveMaxPool1d(4),
     lambda x: fp.adaptive_max_pool1d(x, 4, True),
     lambda g, x, y, s: fp.adaptive_max_pool1d_backward(g, s, x.shape),
     lambda F, t: F.adaptive_max_pool1d(t, 4), (2, 3, 11), False),
    ("AdaptiveMaxPool2d", lambda: fnn.AdaptiveMaxPool2d((None, 3)),
     lambda x: fp.adaptive_max_pool2d(x, (None, 3), True),
     lambda g, x, y, s: fp.adaptive_max_pool2d_backward(g, s, x.shape),
     lambda F, t: F.adaptive_max_pool2d(t, (None, 3)), (2, 3, 9, 10), False),
    ("AdaptiveMaxPool3d", lambda: fnn.AdaptiveMaxPool3d((2, 3, 4)),
     lambda x: fp.adaptive_max_pool3d(x, (2, 3, 4), True),
     lambda g, x, y, s: fp.adaptive_max_pool3d_backward(g, s, x.shape),
     lambda F, t: F.adaptive_max_pool3d(t, (2, 3, 4)), (2, 3, 5, 6, 7), False),
    ("AdaptiveAvgPool1d", lambda: fnn.AdaptiveAvgPool1d(4),
     lambda x: fp.adaptive_avg_pool1d(x, 4),
     lambda g, x, y, s: fp.adaptive_avg_pool1d_backward(g, x.shape),
     lambda F, t: F.adaptive_avg_pool1d(t, 4), (2, 3, 11), False),
    ("AdaptiveAvgPool2d_nhwc", lambda: fnn.AdaptiveAvgPool2d((4, 3), channels_last=True),
     lambda x: fp.adaptive_avg_pool2d(x, (4, 3), channels_last=True),
     lambda g, x, y, s: fp.adaptive_avg_pool2d_backward(g, x.shape, channels_last=True),
     _nchw(lambda F, t: F.adaptive_avg_pool2d(t, (4, 3))), (2, 9, 10, 3), False),
    ("AdaptiveAvgPool3d", lambda: fnn.AdaptiveAvgPool3d(2),
     lambda x: fp.adaptive_avg_pool3d(x, 2),
     lambda g, x, y, s: fp.adaptive_avg_pool3d_backward(g, x.shape),
     lambda F, t: F.adaptive_avg_pool3d(t, 2), (2, 3, 5, 6, 7), False),
    ("GlobalMaxPool", lambda: fnn.GlobalMaxPool(),
     lambda x: fp.global_max_pool(x, True),
     lambda g, x, y, s: fp.global_max_pool_backward(g, s, x.shape),
     lambda F, t: F.adaptive_max_pool2d(t, 1), (2, 3, 9, 10), False),
    ("GlobalMaxPool_1d", lambda: fnn.GlobalMaxPool(),
     lambda x: fp.global_max_pool(x, True),
     lambda g, x, y, s: fp.global_max_pool_backward(g, s, x.shape),
     lambda F, t: F.adaptive_max_pool1d(t, 1), (2, 3, 11), False),
    ("GlobalAvgPool", lambda: fnn.GlobalAvgPool(),
     lambda x: fp.global_avg_pool(x),
     lambda g, x, y, s: fp.global_avg_pool_backward(g, x.shape),
     lambda F, t: F.adaptive_avg_pool3d(t, 1), (2, 3, 4, 5, 6), False),
    ("GlobalAvgPool_nhwc", lambda: fnn.GlobalAvgPool(channels_last=True),
     lambda x: fp.global_avg_pool(x, channels_last=True),
     lambda g, x, y, s: fp.global_avg_pool_backward(g, x.shape, channels_last=True),
     _nchw(lambda F, t: F.adaptive_avg_pool2d(t, 1)), (2, 9, 10, 3), False),
]


def _key(seed):
    """The first key a StochasticPool2d(seed=seed) layer draws."""
    return int(np.random.default_rng(seed).integers(0, 2**64, dtype=np.uint64))


ALPHA_C = np.array([0.2, 0.9, -0.4])

SPECIAL_CASES = [
    ("StochasticPool2d", lambda: fnn.StochasticPool2d(2, seed=5),
     lambda x: fp.stochastic_pool2d(x, 2, seed=_key(5), return_indices=True),
     lambda g, x, y, s: fp.stochastic_pool2d_backward(g, s, x.shape), None, (2, 3, 8, 9), True),
    ("StochasticPool2d_eval_nhwc",
     lambda: fnn.StochasticPool2d(3, 2, 1, ceil_mode=True, channels_last=True).eval(),
     lambda x: fp.stochastic_pool2d(x, 3, 2, 1, training=False, ceil_mode=True,
                                    channels_last=True),
     lambda g, x, y, s: fp.stochastic_pool2d_backward(g, x, 3, 2, 1, training=False,
                                                      ceil_mode=True, channels_last=True),
     _nchw(lambda F, t: F.avg_pool2d(t * t, 3, 2, 1, True, False)
           / F.avg_pool2d(t, 3, 2, 1, True, False)), (2, 8, 9, 3), True),
    ("MedianPool2d", lambda: fnn.MedianPool2d(3, 1, 1),
     lambda x: fp.median_pool2d(x, 3, 1, 1, return_indices=True),
     lambda g, x, y, s: fp.median_pool2d_backward(g, s, x.shape), None, (2, 3, 8, 9), False),
    ("MedianPool2d_upper", lambda: fnn.MedianPool2d(2, 1, even="upper", dilation=2),
     lambda x: fp.median_pool2d(x, 2, 1, dilation=2, even="upper", return_indices=True),
     lambda g, x, y, s: fp.median_pool2d_backward(g, s, x.shape, even="upper"), None,
     (2, 3, 8, 9), False),
    ("MedianPool2d_mean_nhwc", lambda: fnn.MedianPool2d(2, even="mean", channels_last=True),
     lambda x: fp.median_pool2d(x, 2, even="mean", channels_last=True),
     lambda g, x, y, s: fp.median_pool2d_backward(g, x, 2, even="mean", channels_last=True),
     None, (2, 8, 9, 3), False),
    ("MixedPool2d", lambda: fnn.MixedPool2d(3, 2, 1, alpha=0.3),
     lambda x: fp.mixed_pool2d(x, 3, 2, 1, alpha=0.3),
     lambda g, x, y, s: fp.mixed_pool2d_backward(g, x, 3, 2, 1, alpha=0.3)[0],
     lambda F, t: 0.3 * F.max_pool2d(t, 3, 2, 1) + 0.7 * F.avg_pool2d(t, 3, 2, 1),
     (2, 3, 8, 9), False),
    ("MixedPool2d_channels", lambda: fnn.MixedPool2d(2, alpha=ALPHA_C, count_include_pad=False),
     lambda x: fp.mixed_pool2d(x, 2, alpha=ALPHA_C, count_include_pad=False),
     lambda g, x, y, s: fp.mixed_pool2d_backward(g, x, 2, alpha=ALPHA_C,
                                                 count_include_pad=False)[0],
     None, (2, 3, 8, 9), False),
    ("MixedPool2d_concat", lambda: fnn.MixedPool2d(2, mode="concat", order=("max", "avg")),
     lambda x: fp.mixed_pool2d(x, 2, mode="concat", order=("max", "avg")),
     lambda g, x, y, s: fp.mixed_pool2d_backward(g, x, 2, mode="concat", order=("max", "avg")),
     lambda F, t: torch.cat([F.max_pool2d(t, 2), F.avg_pool2d(t, 2)], 1), (2, 3, 8, 9), False),
    ("SpatialPyramidPool", lambda: fnn.SpatialPyramidPool((1, 2, 4)),
     lambda x: fp.spatial_pyramid_pool(x, (1, 2, 4)),
     lambda g, x, y, s: fp.spatial_pyramid_pool_backward(g, x, (1, 2, 4)),
     lambda F, t: torch.cat([F.adaptive_max_pool2d(t, v).flatten(1) for v in (1, 2, 4)], 1),
     (2, 3, 8, 9), False),
    ("SpatialPyramidPool_avg_nhwc",
     lambda: fnn.SpatialPyramidPool((3, 1), "avg", "caffe", channels_last=True),
     lambda x: fp.spatial_pyramid_pool(x, (3, 1), "avg", "caffe", channels_last=True),
     lambda g, x, y, s: fp.spatial_pyramid_pool_backward(g, x, (3, 1), "avg", "caffe",
                                                         channels_last=True),
     None, (2, 8, 9, 3), False),
    ("YOLOSPP", lambda: fnn.YOLOSPP((3, 5)),
     lambda x: fp.yolo_spp(x, (3, 5)),
     lambda g, x, y, s: fp.yolo_spp_backward(g, x, (3, 5)),
     lambda F, t: torch.cat([t] + [F.max_pool2d(t, k, 1, k // 2) for k in (3, 5)], 1),
     (2, 3, 8, 9), False),
    ("YOLOSPP_darknet_nhwc", lambda: fnn.YOLOSPP(order="darknet", channels_last=True),
     lambda x: fp.yolo_spp(x, order="darknet", channels_last=True),
     lambda g, x, y, s: fp.yolo_spp_backward(g, x, order="darknet", channels_last=True),
     _nchw(lambda F, t: torch.cat([F.max_pool2d(t, k, 1, k // 2) for k in (13, 9, 5)] + [t],
                                  1)), (2, 8, 9, 3), False),
    ("BilinearPool", lambda: fnn.BilinearPool(),
     lambda x: fp.bilinear_pool(x),
     lambda g, x, y, s: fp.bilinear_pool_backward(g, x), None, (2, 3, 8, 9), True),
    ("BilinearPool_1d", lambda: fnn.BilinearPool(l2_normalize=False, spatial_rank=1),
     lambda x: fp.bilinear_pool(x, l2_normalize=False, spatial_rank=1),
     lambda g, x, y, s: fp.bilinear_pool_backward(g, x, l2_normalize=False, spatial_rank=1),
     None, (2, 3, 11), True),
]
CASES += SPECIAL_CASES


def _data(shape, nonneg, seed=0, dtype=np.float64):
    x = np.random.default_rng(seed).standard_normal(shape)
    if nonneg:
        x = np.abs(x) + 0.1
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_layer_equals_functional(case, dtype):
    _, make, fwd, bwd, _, shape, nonneg = case
    x = _data(shape, nonneg, dtype=dtype)
    layer = make()
    y = layer(x)
    y_ref, state = _split(fwd(x))
    np.testing.assert_array_equal(y, y_ref)
    assert y.dtype == dtype
    g = _data(y.shape, False, seed=1, dtype=dtype)
    dx = layer.backward(g)
    np.testing.assert_array_equal(dx, bwd(g, x, y_ref, state))
    assert dx.shape == x.shape and dx.dtype == dtype
    np.testing.assert_array_equal(layer.backward(g), dx)  # backward may be repeated


@needs_torch
@pytest.mark.parametrize("case", [c for c in CASES if c[4] is not None], ids=lambda c: c[0])
def test_layer_equals_torch(case):
    _, make, _, _, ref, shape, nonneg = case
    x = _data(shape, nonneg)
    layer = make()
    y = layer.forward(x)
    g = _data(y.shape, False, seed=1)
    dx = layer.backward(g)
    t = torch.from_numpy(x.copy()).requires_grad_()
    yt = ref(F, t)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_return_indices():
    x = _data((2, 3, 8, 8), False)
    y, idx = fnn.MaxPool2d(2, return_indices=True)(x)
    y_ref, idx_ref = fp.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)
    layer = fnn.AdaptiveMaxPool2d(3, return_indices=True)
    y, idx = layer(x)
    assert idx is layer.indices and layer.input_shape == x.shape
    y, idx = fnn.GlobalMaxPool(return_indices=True)(x)
    assert y.shape == (2, 3, 1, 1) and idx.shape == (2, 3, 1, 1)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_max_unpool_layer(rank):
    shape = {1: (2, 3, 9), 2: (2, 3, 7, 9), 3: (2, 3, 5, 4, 7)}[rank]
    x = _data(shape, False)
    pool = getattr(fnn, f"MaxPool{rank}d")(2, return_indices=True)
    unpool = getattr(fnn, f"MaxUnpool{rank}d")(2)
    y, idx = pool(x)
    z = unpool(y, idx, output_size=x.shape)
    z_ref = getattr(fp, f"max_unpool{rank}d")(y, idx, 2, output_size=x.shape)
    np.testing.assert_array_equal(z, z_ref)
    assert z.shape == x.shape
    g = _data(z.shape, False, seed=1)
    dy = unpool.backward(g)
    np.testing.assert_array_equal(
        dy, getattr(fp, f"max_unpool{rank}d_backward")(g, idx, 2, output_size=x.shape))
    if torch is not None:
        t = torch.from_numpy(y.copy()).requires_grad_()
        zt = getattr(F, f"max_unpool{rank}d")(t, torch.from_numpy(idx), 2,
                                               output_size=x.shape)
        zt.backward(torch.from_numpy(g))
        np.testing.assert_array_equal(z, zt.detach().numpy())
        np.testing.assert_array_equal(dy, t.grad.numpy())


@pytest.mark.parametrize("rank", [2, 3])
def test_fractional_layer(rank):
    shape = (2, 3, 11, 12) if rank == 2 else (2, 3, 7, 8, 9)
    x = _data(shape, False)
    layer = getattr(fnn, f"FractionalMaxPool{rank}d")(2, output_ratio=0.5, seed=3)
    y1 = layer(x)
    s1 = layer.samples
    assert s1.shape == (2, 3, rank) and np.all((s1 >= 0) & (s1 < 1))
    y_ref, idx_ref = getattr(fp, f"fractional_max_pool{rank}d")(
        x, 2, output_ratio=0.5, return_indices=True, samples=s1)
    np.testing.assert_array_equal(y1, y_ref)
    g = _data(y1.shape, False, seed=1)
    dx = layer.backward(g)
    np.testing.assert_array_equal(
        dx, getattr(fp, f"fractional_max_pool{rank}d_backward")(g, idx_ref, x.shape))
    layer(x)
    assert not np.array_equal(layer.samples, s1), "new window positions on every forward"
    again = getattr(fnn, f"FractionalMaxPool{rank}d")(2, output_ratio=0.5, seed=3)
    np.testing.assert_array_equal(again(x), y1)  # the seed makes it reproducible
    if torch is not None:
        t = torch.from_numpy(x.copy()).requires_grad_()
        yt = getattr(F, f"fractional_max_pool{rank}d")(
            t, 2, output_ratio=(0.5,) * rank, _random_samples=torch.from_numpy(s1))
        yt.backward(torch.from_numpy(g))
        np.testing.assert_array_equal(y1, yt.detach().numpy())
        np.testing.assert_array_equal(dx, t.grad.numpy())


def test_fractional_float32_and_channels_last():
    x = _data((2, 11, 12, 3), False, dtype=np.float32)
    layer = fnn.FractionalMaxPool2d(3, output_size=4, seed=0, channels_last=True)
    y = layer(x)
    assert y.shape == (2, 4, 4, 3) and y.dtype == np.float32
    assert layer.samples.dtype == np.float32 and layer.samples.shape == (2, 3, 2)
    y_ref = fp.fractional_max_pool2d(x.transpose(0, 3, 1, 2), 3, 4, samples=layer.samples)
    np.testing.assert_array_equal(y, y_ref.transpose(0, 2, 3, 1))


ALL_LAYERS = [
    lambda: fnn.MaxPool1d(2), lambda: fnn.MaxPool2d(2), lambda: fnn.MaxPool3d(2),
    lambda: fnn.AvgPool1d(2), lambda: fnn.AvgPool2d(2), lambda: fnn.AvgPool3d(2),
    lambda: fnn.LPPool1d(2, 2), lambda: fnn.LPPool2d(2, 2), lambda: fnn.LPPool3d(2, 2),
    lambda: fnn.AdaptiveMaxPool1d(2), lambda: fnn.AdaptiveMaxPool2d(2),
    lambda: fnn.AdaptiveMaxPool3d(2), lambda: fnn.AdaptiveAvgPool1d(2),
    lambda: fnn.AdaptiveAvgPool2d(2), lambda: fnn.AdaptiveAvgPool3d(2),
    lambda: fnn.GlobalMaxPool(), lambda: fnn.GlobalAvgPool(),
    lambda: fnn.MaxUnpool1d(2), lambda: fnn.MaxUnpool2d(2), lambda: fnn.MaxUnpool3d(2),
    lambda: fnn.FractionalMaxPool2d(2, 3), lambda: fnn.FractionalMaxPool3d(2, 3),
    lambda: fnn.StochasticPool2d(2), lambda: fnn.MedianPool2d(2), lambda: fnn.MixedPool2d(2),
    lambda: fnn.SpatialPyramidPool(), lambda: fnn.YOLOSPP(), lambda: fnn.BilinearPool(),
    lambda: fnn.NetVLAD(2, 3),
]


@pytest.mark.parametrize("make", ALL_LAYERS, ids=lambda m: type(m()).__name__)
def test_backward_before_forward(make):
    layer = make()
    with pytest.raises(RuntimeError, match=r"backward\(\) was called before forward\(\)"):
        layer.backward(np.ones((1, 1, 1)))


def test_all_layers_covered():
    assert {type(m()).__name__ for m in ALL_LAYERS} == set(fnn.__all__)


def test_failed_forward_keeps_no_stale_unpool_state():
    unpool = fnn.MaxUnpool2d(2)
    with pytest.raises(IndexError):
        unpool(np.ones((1, 1, 2, 2)), np.full((1, 1, 2, 2), 99), output_size=(4, 4))
    with pytest.raises(RuntimeError, match="before forward"):
        unpool.backward(np.ones((1, 1, 4, 4)))


def test_errors_come_from_fastpool():
    with pytest.raises(ValueError, match="max_pool2d"):
        fnn.MaxPool2d(0)(np.ones((1, 1, 4, 4)))
    with pytest.raises(TypeError, match="dtype"):
        fnn.AvgPool2d(2)(np.ones((1, 1, 4, 4), dtype=np.complex128))
    with pytest.raises(ValueError, match="exactly one"):
        fnn.FractionalMaxPool2d(2)
    with pytest.raises(ValueError, match="between 0 and 1"):
        fnn.FractionalMaxPool2d(2, output_ratio=1.5)


REPR_CASES = [
    ("MaxPool2d", (3, 2, 1)), ("MaxPool1d", (2,)), ("MaxPool3d", ((1, 2, 2),)),
    ("AvgPool1d", (3, 2, 1)), ("AvgPool2d", (3,)), ("AvgPool3d", (2, 1)),
    ("LPPool1d", (2, 3)), ("LPPool2d", (1.5, (2, 3), 2, True)), ("LPPool3d", (2, 2)),
    ("AdaptiveMaxPool2d", ((None, 3),)), ("AdaptiveAvgPool1d", (4,)),
    ("AdaptiveAvgPool3d", (1,)), ("MaxUnpool1d", (2,)), ("MaxUnpool2d", (3, 2, 1)),
    ("MaxUnpool3d", (2,)),
]


@pytest.mark.parametrize("name, args", REPR_CASES, ids=[c[0] for c in REPR_CASES])
def test_repr_like_torch(name, args):
    layer = getattr(fnn, name)(*args)
    if torch is not None:
        assert repr(layer) == repr(getattr(torch.nn, name)(*args))
    assert repr(layer).startswith(f"{name}(")
    assert repr(getattr(fnn, name)(*args, channels_last=True)).endswith(", channels_last=True)")


def test_repr_of_layers_torch_shows_no_arguments_for():
    assert repr(fnn.GlobalAvgPool()) == "GlobalAvgPool()"
    assert repr(fnn.GlobalMaxPool(channels_last=True)) == "GlobalMaxPool(channels_last=True)"
    assert repr(fnn.FractionalMaxPool2d(2, output_ratio=0.5)) == \
        "FractionalMaxPool2d(kernel_size=(2, 2), output_ratio=(0.5, 0.5))"


def test_call_is_forward():
    x = _data((2, 3, 8, 8), False)
    a, b = fnn.AvgPool2d(2), fnn.AvgPool2d(2)
    np.testing.assert_array_equal(a(x), b.forward(x))


# --------------------------------------------------------------------------
# A tiny NumPy CNN learns (the README's example, with checks)


def _stripes(n, rng):
    """Vertical (label 1) or horizontal (label 0) stripes with noise, 10x10."""
    labels = rng.integers(0, 2, n)
    ramp = np.sin(np.arange(10) * np.pi / 2)
    images = np.where(labels[:, None, None] == 1, ramp[None, None, :], ramp[None, :, None])
    return (images + 0.5 * rng.standard_normal((n, 10, 10)))[:, None], labels


def test_tiny_numpy_cnn_trains():
    rng = np.random.default_rng(0)
    x, labels = _stripes(32, rng)
    w = 0.5 * rng.standard_normal((4, 1, 3, 3))      # conv 3x3, 1 -> 4 channels
    v, b = 0.5 * rng.standard_normal((4, 2)), np.zeros(2)
    pool, gap = fnn.MaxPool2d(2), fnn.GlobalAvgPool()
    lr, n, losses = 0.5, len(x), []
    for _ in range(8):
        patches = sliding_window_view(x, (3, 3), axis=(2, 3))       # (n, 1, 8, 8, 3, 3)
        z = np.einsum("nchwij,fcij->nfhw", patches, w)
        h = gap(pool(np.maximum(z, 0))).reshape(n, 4)               # (n, 4)
        logits = h @ v + b
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        losses.append(-np.log(p[np.arange(n), labels]).mean())
        dlogits = (p - np.eye(2)[labels]) / n
        dh = (dlogits @ v.T).reshape(n, 4, 1, 1)
        dz = pool.backward(gap.backward(dh)) * (z > 0)
        w -= lr * np.einsum("nfhw,nchwij->fcij", dz, patches)
        v -= lr * h.T @ dlogits
        b -= lr * dlogits.sum(0)
    assert losses[-1] < 0.8 * losses[0], losses
    assert all(np.isfinite(losses))


# --------------------------------------------------------------------------
# Special poolings: finite differences, parameters, modes


def _distinct(shape, seed=0):
    """Values in (0, 1], all different (no ties for max and median)."""
    n = int(np.prod(shape))
    return ((np.random.default_rng(seed).permutation(n) + 1) / n).reshape(shape)


def _fd_check(f, x, dx_of, seed=1, h=1e-6, directions=3):
    """<g, dx> against central differences of <g, f(x)> along random directions."""
    rng = np.random.default_rng(seed)
    y = f(x)
    g = rng.standard_normal(y.shape)
    dx = dx_of(g)
    for _ in range(directions):
        v = rng.standard_normal(x.shape)
        numeric = (np.vdot(g, f(x + h * v)) - np.vdot(g, f(x - h * v))) / (2 * h)
        np.testing.assert_allclose(np.vdot(dx, v), numeric, rtol=1e-6, atol=1e-8)


FD_LAYERS = [
    ("StochasticPool2d_train", lambda: fnn.StochasticPool2d(3, 2, 1, seed=3), (2, 3, 7, 8)),
    ("StochasticPool2d_eval", lambda: fnn.StochasticPool2d(3, 2, 1).eval(), (2, 3, 7, 8)),
    ("MedianPool2d", lambda: fnn.MedianPool2d(3, 1, 1), (2, 3, 7, 8)),
    ("MedianPool2d_mean", lambda: fnn.MedianPool2d(2, 1, even="mean"), (2, 3, 7, 8)),
    ("MixedPool2d", lambda: fnn.MixedPool2d(3, 2, 1, alpha=ALPHA_C), (2, 3, 7, 8)),
    ("MixedPool2d_concat", lambda: fnn.MixedPool2d(2, mode="concat"), (2, 3, 7, 8)),
    ("SpatialPyramidPool", lambda: fnn.SpatialPyramidPool((1, 2, 3)), (2, 3, 7, 8)),
    ("SpatialPyramidPool_avg", lambda: fnn.SpatialPyramidPool((2, 3), "avg", "sppnet"),
     (2, 3, 7, 8)),
    ("YOLOSPP", lambda: fnn.YOLOSPP((3, 5)), (2, 3, 7, 8)),
    ("BilinearPool", lambda: fnn.BilinearPool(), (2, 3, 7, 8)),
    ("NetVLAD", lambda: fnn.NetVLAD(4, 3, alpha=2.0, seed=1), (2, 3, 7, 8)),
    ("NetVLAD_nhwc_3d", lambda: fnn.NetVLAD(3, 2, alpha=2.0, seed=2, spatial_rank=3,
                                            channels_last=True, normalize_input=False),
     (2, 3, 4, 5, 2)),
]


@pytest.mark.parametrize("case", FD_LAYERS, ids=lambda c: c[0])
def test_special_backward_matches_finite_differences(case):
    _, make, shape = case
    x = _distinct(shape, seed=2)
    layer = make()
    key = _key(3) if isinstance(layer, fnn.StochasticPool2d) and layer.training else None

    def f(t):
        if key is None:
            return layer.forward(t)
        return layer.forward(t, key=key)   # one fixed sample

    def dx_of(g):
        f(x)
        return layer.backward(g)

    _fd_check(f, x, dx_of)


def test_bilinear_layer_two_inputs():
    x, y = _distinct((2, 3, 6, 7), seed=3), _distinct((2, 4, 6, 7), seed=4) - 0.5
    layer = fnn.BilinearPool()
    z = layer(x, y)
    np.testing.assert_array_equal(z, fp.bilinear_pool(x, y))
    g = np.random.default_rng(5).standard_normal(z.shape)
    dx, dy = layer.backward(g)
    rx, ry = fp.bilinear_pool_backward(g, x, y)
    np.testing.assert_array_equal(dx, rx)
    np.testing.assert_array_equal(dy, ry)
    _fd_check(lambda t: layer.forward(t, y), x, lambda gg: (layer.forward(x, y),
                                                            layer.backward(gg))[1][0])
    _fd_check(lambda t: layer.forward(x, t), y, lambda gg: (layer.forward(x, y),
                                                            layer.backward(gg))[1][1])
    layer(x)
    assert isinstance(layer.backward(np.ones((2, 9))), np.ndarray), "one input: dx alone"


def _param_fd(layer, x, name, seed=6, h=1e-6):
    """Gradient of <g, layer(x)> in parameter ``name`` against central differences."""
    rng = np.random.default_rng(seed)
    y = layer(x)
    g = rng.standard_normal(y.shape)
    layer.backward(g)
    grad = layer.gradients()[name].copy()
    p = layer.parameters()[name]
    assert grad.shape == p.shape
    v = rng.standard_normal(p.shape)
    base = p.copy()
    p[...] = base + h * v
    up = np.vdot(g, layer(x))
    p[...] = base - h * v
    down = np.vdot(g, layer(x))
    p[...] = base
    np.testing.assert_allclose(np.vdot(grad, v), (up - down) / (2 * h), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("alpha", [0.3, [0.4], ALPHA_C], ids=["scalar", "one", "per_channel"])
def test_mixed_dalpha(alpha):
    x = _distinct((2, 3, 7, 8), seed=7)
    layer = fnn.MixedPool2d(3, 2, 1, alpha=alpha)
    assert layer.dalpha is None and list(layer.parameters()) == ["alpha"]
    y = layer(x)
    g = np.random.default_rng(8).standard_normal(y.shape)
    dx = layer.backward(g)
    rdx, rda = fp.mixed_pool2d_backward(g, x, 3, 2, 1, alpha=alpha)
    np.testing.assert_array_equal(dx, rdx)
    np.testing.assert_array_equal(layer.dalpha, rda)
    assert layer.dalpha.shape == np.shape(alpha)
    # dalpha = sum(dy * (max - avg)), independently of fastpool's backward
    diff = fp.max_pool2d(x, 3, 2, 1) - fp.avg_pool2d(x, 3, 2, 1)
    per_channel = (g * diff).sum(axis=(0, 2, 3))
    expected = per_channel if np.ndim(alpha) and len(alpha) == 3 else per_channel.sum()
    np.testing.assert_allclose(layer.dalpha, np.reshape(expected, np.shape(alpha)), rtol=1e-12)
    _param_fd(layer, x, "alpha")


def test_mixed_alpha_learns_in_place():
    x = _distinct((4, 3, 8, 8), seed=9)
    target = fp.max_pool2d(x, 2)
    layer = fnn.MixedPool2d(2, alpha=[0.2, 0.5, 0.0])
    alpha = layer.alpha
    for _ in range(50):
        y = layer(x)
        layer.backward(2 * (y - target) / y.size)
        for name, g in layer.gradients().items():
            layer.parameters()[name] -= 20.0 * g
    assert layer.alpha is alpha, "the update is in place"
    np.testing.assert_allclose(layer.alpha, 1.0, atol=1e-3)
    concat = fnn.MixedPool2d(2, mode="concat")   # no parameter in concat mode
    assert concat.parameters() == {} and concat.gradients() == {}
    concat(x)
    concat.backward(np.ones((4, 6, 4, 4)))
    assert concat.dalpha is None


def test_netvlad_layer():
    layer = fnn.NetVLAD(5, 4, alpha=10.0, seed=0)
    assert list(layer.parameters()) == ["weight", "bias", "centroids"]
    w, b, c = layer.weight, layer.bias, layer.centroids
    assert w.shape == (5, 4) and b.shape == (5,) and c.shape == (5, 4)
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 1.0)
    np.testing.assert_allclose(w, 20.0 * c)
    np.testing.assert_allclose(b, -10.0 * (c * c).sum(1))
    np.testing.assert_array_equal(fnn.NetVLAD(5, 4, alpha=10.0, seed=0).centroids, c)
    x = _distinct((2, 4, 5, 6), seed=10)
    y = layer(x)
    np.testing.assert_array_equal(y, fp.netvlad(x, w, b, c))
    g = np.random.default_rng(11).standard_normal(y.shape)
    dx = layer.backward(g)
    ref = fp.netvlad_backward(g, x, w, b, c)
    for got, want in zip((dx, layer.dweight, layer.dbias, layer.dcentroids), ref):
        np.testing.assert_array_equal(got, want)
    small = fnn.NetVLAD(3, 4, alpha=1.0, seed=1)
    for name in ("weight", "bias", "centroids"):
        _param_fd(small, x, name)
    km = np.random.default_rng(12).standard_normal((5, 4))
    layer.reset_parameters(km)
    np.testing.assert_array_equal(layer.centroids, km)
    np.testing.assert_allclose(layer.weight, 20.0 * km)
    with pytest.raises(ValueError, match="NetVLAD.reset_parameters: centroids must have shape"):
        layer.reset_parameters(np.zeros((4, 5)))
    f32 = fnn.NetVLAD(2, 4, dtype=np.float32)
    assert f32(x.astype(np.float32)).dtype == np.float32
    with pytest.raises(TypeError, match="netvlad: weight has dtype float32"):
        f32(x)


def test_stochastic_layer_modes_and_seed():
    x = _distinct((2, 3, 8, 8), seed=13)
    layer = fnn.StochasticPool2d(2, seed=4)
    first, second = layer(x), layer(x)
    keys = np.random.default_rng(4).integers(0, 2**64, size=2, dtype=np.uint64)
    assert layer.key == int(keys[1])
    np.testing.assert_array_equal(first, fp.stochastic_pool2d(x, 2, seed=int(keys[0])))
    np.testing.assert_array_equal(second, fp.stochastic_pool2d(x, 2, seed=int(keys[1])))
    assert not np.array_equal(first, second), "a new sample on every training forward"
    again = fnn.StochasticPool2d(2, seed=4)
    np.testing.assert_array_equal(again(x), first)
    np.testing.assert_array_equal(layer.forward(x, key=int(keys[0])), first)
    assert layer.eval() is layer and not layer.training
    y = layer(x)
    np.testing.assert_array_equal(y, fp.stochastic_pool2d(x, 2, training=False))
    g = np.ones_like(y)
    np.testing.assert_array_equal(layer.backward(g),
                                  fp.stochastic_pool2d_backward(g, x, 2, training=False))
    layer.train()   # backward follows the mode of the last forward, not the current one
    np.testing.assert_array_equal(layer.backward(g),
                                  fp.stochastic_pool2d_backward(g, x, 2, training=False))
    with pytest.raises(ValueError, match="stochastic_pool2d: x must be finite and >= 0"):
        layer(x - 0.5)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(g)   # the failed forward left no stale state


def test_median_layer_indices_and_errors():
    x = _distinct((2, 3, 7, 7), seed=14)
    y, idx = fnn.MedianPool2d(3, 2, 1, return_indices=True)(x)
    ry, ridx = fp.median_pool2d(x, 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(idx, ridx)
    with pytest.raises(ValueError, match="MedianPool2d: return_indices"):
        fnn.MedianPool2d(2, even="mean", return_indices=True)(x)
    with pytest.raises(ValueError, match="median_pool2d: even"):
        fnn.MedianPool2d(2, even="middle")(x)


def test_special_layer_reprs():
    assert repr(fnn.YOLOSPP()) == "YOLOSPP(kernel_sizes=(5, 9, 13), order='ultralytics')"
    assert repr(fnn.SpatialPyramidPool(channels_last=True)) == (
        "SpatialPyramidPool(levels=(1, 2, 4), mode='max', variant='adaptive', "
        "channels_last=True)")
    assert repr(fnn.MixedPool2d(2, alpha=[0.1, 0.2])) == (
        "MixedPool2d(kernel_size=2, stride=2, padding=0, mode='blend', alpha=[0.1, 0.2])")
    assert repr(fnn.NetVLAD(8, 4)) == \
        "NetVLAD(num_clusters=8, dim=4, alpha=100.0, normalize_input=True)"
    if torch is not None:
        import fastpool.torch as ft
        for name, args in (("YOLOSPP", ()), ("SpatialPyramidPool", ((1, 3), "avg")),
                           ("BilinearPool", ()), ("MedianPool2d", (3, 1, 1)),
                           ("NetVLAD", (4, 3))):
            assert repr(getattr(fnn, name)(*args)) == repr(getattr(ft, name)(*args))
