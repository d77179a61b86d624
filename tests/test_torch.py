"""fastpool.torch: the torch.nn.functional / torch.nn drop-in.

Forward and backward against torch's own operators in contiguous, channels_last
and strided memory; no copies; gradcheck of every autograd Function; module
signatures and reprs; and a small CNN whose SGD loss trajectory matches torch's.
Skipped where torch is not installed.
"""

import inspect
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F
from torch import nn

import fastpool
import fastpool.torch as ft

CL = {4: torch.channels_last, 5: torch.channels_last_3d}


def gen(seed):
    return torch.Generator().manual_seed(seed)


def distinct(shape, dtype=torch.float64, seed=0):
    """Values in (0, 1], all different and at least 1/numel apart (no max ties)."""
    n = int(np.prod(shape))
    return ((torch.randperm(n, generator=gen(seed)).to(dtype) + 1) / n).reshape(shape)


def layout(x, how):
    """x's values in the requested memory layout."""
    if how == "contiguous":
        return x.contiguous()
    if how == "channels_last":
        return x.to(memory_format=CL[x.dim()])
    # strided: every other element of a wider buffer
    wide = torch.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
    wide[..., ::2] = x
    view = wide[..., ::2]
    assert not view.is_contiguous()
    return view


def is_channels_last(t):
    return t.dim() in CL and t.is_contiguous(memory_format=CL[t.dim()])


# Fixed unpooling indices (from max pools with disjoint windows: no duplicates)
def _unpool_indices():
    g = gen(7)
    return {
        1: F.max_pool1d(torch.randn(2, 3, 10, generator=g), 2, return_indices=True)[1],
        2: F.max_pool2d(torch.randn(2, 3, 8, 10, generator=g), 2, return_indices=True)[1],
        "2p": F.max_pool2d(torch.randn(2, 3, 7, 9, generator=g), 2, 2, 1,
                           return_indices=True)[1],
        3: F.max_pool3d(torch.randn(2, 3, 4, 6, 4, generator=g), 2, return_indices=True)[1],
    }


IDX = _unpool_indices()
SAMPLES = {
    2: torch.rand(2, 3, 2, generator=gen(11), dtype=torch.float64),
    "2u": torch.rand(1, 3, 2, generator=gen(12), dtype=torch.float64),
    3: torch.rand(2, 3, 3, generator=gen(13), dtype=torch.float64),
}


def smp(key, x):
    return SAMPLES[key].to(x.dtype)


# (id, input shape, call(f, x) with f = torch.nn.functional or fastpool.torch,
#  exact comparison, input must be >= 0)
CASES = [
    ("max1", (2, 3, 11), lambda f, x: f.max_pool1d(x, 3, 2, 1, return_indices=True), True, 0),
    ("max1_dil_ceil", (2, 3, 12),
     lambda f, x: f.max_pool1d(x, 3, 2, 1, 2, ceil_mode=True, return_indices=True), True, 0),
    ("max2", (2, 3, 9, 10), lambda f, x: f.max_pool2d(x, 3, 2, 1, return_indices=True), True, 0),
    ("max2_mixed", (2, 3, 9, 10),
     lambda f, x: f.max_pool2d(x, (2, 3), (1, 2), (1, 0), (2, 1), True, True), True, 0),
    ("max2_unbatched", (3, 9, 10), lambda f, x: f.max_pool2d(x, 2, return_indices=True), True, 0),
    ("max2_plain", (2, 3, 8, 8), lambda f, x: f.max_pool2d(x, 2), True, 0),
    ("max3", (2, 3, 5, 6, 7),
     lambda f, x: f.max_pool3d(x, 2, ceil_mode=True, return_indices=True), True, 0),
    ("max3_pad", (2, 3, 5, 6, 7), lambda f, x: f.max_pool3d(x, 3, 2, 1, return_indices=True),
     True, 0),
    ("avg1", (2, 3, 11), lambda f, x: f.avg_pool1d(x, 3, 2, 1, True, False), False, 0),
    ("avg1_incl", (2, 3, 11), lambda f, x: f.avg_pool1d(x, 3, 2, 1, True, True), False, 0),
    ("avg2", (2, 3, 9, 10), lambda f, x: f.avg_pool2d(x, 3, 2, 1, True, False), False, 0),
    ("avg2_incl", (2, 3, 9, 10), lambda f, x: f.avg_pool2d(x, (3, 2), 2, (1, 0), True),
     False, 0),
    ("avg2_div", (2, 3, 9, 10), lambda f, x: f.avg_pool2d(x, 3, 2, 1, divisor_override=5),
     False, 0),
    ("avg3", (2, 3, 5, 6, 7), lambda f, x: f.avg_pool3d(x, 3, 2, 1, True, False), False, 0),
    ("avg3_incl", (2, 3, 5, 6, 7), lambda f, x: f.avg_pool3d(x, 2, ceil_mode=True), False, 0),
    ("lp1", (2, 3, 11), lambda f, x: f.lp_pool1d(x, 2, 3, 2), False, 0),
    ("lp1_p3", (2, 3, 11), lambda f, x: f.lp_pool1d(x, 3, 3), False, 1),
    ("lp2", (2, 3, 9, 10), lambda f, x: f.lp_pool2d(x, 2, (3, 2), 2), False, 0),
    ("lp2_p15", (2, 3, 9, 12), lambda f, x: f.lp_pool2d(x, 1.5, 3, 3, ceil_mode=True), False, 1),
    ("lp2_inf", (2, 3, 9, 10), lambda f, x: f.lp_pool2d(x, float("inf"), 2), True, 0),
    ("lp3", (2, 3, 6, 7, 8), lambda f, x: f.lp_pool3d(x, 2, 2), False, 0),
    ("lp3_p3", (2, 3, 6, 7, 8), lambda f, x: f.lp_pool3d(x, 3, (2, 3, 2), 2), False, 1),
    ("amax1", (2, 3, 11), lambda f, x: f.adaptive_max_pool1d(x, 4, True), True, 0),
    ("amax2", (2, 3, 9, 10), lambda f, x: f.adaptive_max_pool2d(x, (4, 3), True), True, 0),
    ("amax2_none", (2, 3, 9, 10), lambda f, x: f.adaptive_max_pool2d(x, (None, 4), True),
     True, 0),
    ("amax3", (2, 3, 5, 6, 7), lambda f, x: f.adaptive_max_pool3d(x, (2, 4, 3), True), True, 0),
    ("aavg1", (2, 3, 11), lambda f, x: f.adaptive_avg_pool1d(x, 4), False, 0),
    ("aavg2", (2, 3, 9, 10), lambda f, x: f.adaptive_avg_pool2d(x, (4, 3)), False, 0),
    ("aavg2_global", (2, 3, 9, 10), lambda f, x: f.adaptive_avg_pool2d(x, 1), False, 0),
    ("aavg3", (2, 3, 5, 6, 7), lambda f, x: f.adaptive_avg_pool3d(x, (2, 4, 3)), False, 0),
    ("unpool1", (2, 3, 5), lambda f, x: f.max_unpool1d(x, IDX[1], 2), True, 0),
    ("unpool2", (2, 3, 4, 5), lambda f, x: f.max_unpool2d(x, IDX[2], 2), True, 0),
    ("unpool2_size", (2, 3, 4, 5),
     lambda f, x: f.max_unpool2d(x, IDX["2p"], 2, 2, 1, output_size=(2, 3, 7, 9)), True, 0),
    ("unpool3", (2, 3, 2, 3, 2), lambda f, x: f.max_unpool3d(x, IDX[3], 2), True, 0),
    ("frac2", (2, 3, 11, 12),
     lambda f, x: f.fractional_max_pool2d(x, 2, (5, 6), return_indices=True,
                                          _random_samples=smp(2, x)), True, 0),
    ("frac2_ratio", (2, 3, 11, 12),
     lambda f, x: f.fractional_max_pool2d(x, (2, 3), output_ratio=(0.5, 0.6),
                                          return_indices=True, _random_samples=smp(2, x)),
     True, 0),
    ("frac2_unbatched", (3, 11, 12),
     lambda f, x: f.fractional_max_pool2d(x, 3, 4, return_indices=True,
                                          _random_samples=smp("2u", x)), True, 0),
    ("frac3", (2, 3, 7, 8, 9),
     lambda f, x: f.fractional_max_pool3d(x, 2, (3, 4, 5), return_indices=True,
                                          _random_samples=smp(3, x)), True, 0),
]


def _layouts(case):
    if len(case[1]) in CL:
        return ("contiguous", "channels_last", "strided")
    return ("contiguous", "strided")


def _input(case, how, dtype, seed=1):
    _, shape, _, _, nonneg = case
    x = torch.randn(shape, generator=gen(seed), dtype=torch.float64)
    if nonneg:
        x = x.abs() + 0.1
    return layout(x.to(dtype), how)


def _tuple(res):
    return res if isinstance(res, tuple) else (res,)


def _compare(ours, theirs, exact):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape and a.dtype == b.dtype
        if exact or b.dtype == torch.int64:
            torch.testing.assert_close(a, b, rtol=0, atol=0)
        else:
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_forward_matches_torch(case, dtype):
    call, exact = case[2], case[3]
    for how in _layouts(case):
        x = _input(case, how, dtype)
        ours = _tuple(call(ft, x))
        _compare(ours, _tuple(call(F, x)), exact)
        for t in ours:
            if how == "channels_last":
                assert is_channels_last(t), "a channels_last input gives channels_last outputs"
            else:
                assert t.is_contiguous(), how


@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_backward_matches_torch(case):
    call, exact = case[2], case[3]
    for how in _layouts(case):
        grads = []
        for f in (ft, F):
            x = _input(case, how, torch.float64).requires_grad_()
            y = _tuple(call(f, x))[0]
            g = torch.randn(y.shape, generator=gen(2), dtype=torch.float64)
            (dx,) = torch.autograd.grad(y, x, g)
            grads.append(dx)
        _compare(grads[:1], grads[1:], exact)
        if how == "channels_last":
            assert is_channels_last(grads[0])


def test_grad_path_matches_no_grad_path():
    x = torch.randn(2, 3, 9, 10, dtype=torch.float64)
    with torch.no_grad():
        y0, i0 = ft.max_pool2d(x, 3, 2, 1, return_indices=True)
    y1, i1 = ft.max_pool2d(x.clone().requires_grad_(), 3, 2, 1, return_indices=True)
    assert torch.equal(y0, y1.detach()) and torch.equal(i0, i1)
    assert y1.requires_grad and not i1.requires_grad


# --------------------------------------------------------------------------
# No copies


def _ptr(a):
    return a.__array_interface__["data"][0]


def _spy(monkeypatch, name):
    real = getattr(fastpool, name)
    calls = []

    def wrapper(*args, **kwargs):
        res = real(*args, **kwargs)
        calls.append((args, kwargs, res))
        return res

    monkeypatch.setattr(fastpool, name, wrapper)
    return calls


@pytest.mark.parametrize("how", ["contiguous", "channels_last", "strided"])
@pytest.mark.parametrize("grad", [False, True], ids=["nograd", "grad"])
@pytest.mark.parametrize("op, rank, call", [
    ("max_pool", 2, lambda f, x: f.max_pool2d(x, 2, return_indices=True)),
    ("avg_pool", 3, lambda f, x: f.avg_pool3d(x, 2)),
    ("lp_pool", 2, lambda f, x: f.lp_pool2d(x, 2, 2)),
    ("adaptive_max_pool", 2, lambda f, x: f.adaptive_max_pool2d(x, 3, True)),
    ("adaptive_avg_pool", 3, lambda f, x: f.adaptive_avg_pool3d(x, 2)),
    ("fractional_max_pool", 2,
     lambda f, x: f.fractional_max_pool2d(x, 2, 3, return_indices=True)),
], ids=lambda v: v if isinstance(v, str) else None)
def test_no_copy(monkeypatch, op, rank, call, how, grad):
    shape = (2, 3, 6, 8) if rank == 2 else (2, 3, 4, 6, 8)
    x = layout(torch.rand(shape, dtype=torch.float64), how).requires_grad_(grad)
    fwd = _spy(monkeypatch, f"{op}{rank}d")
    bwd = _spy(monkeypatch, f"{op}{rank}d_backward")
    outs = _tuple(call(ft, x))
    (args, kwargs, res) = fwd[-1]
    xa = args[0]
    assert isinstance(xa, np.ndarray) and _ptr(xa) == x.data_ptr(), "fastpool got a view"
    assert kwargs["channels_last"] is (how == "channels_last")
    for t, a in zip(outs, _tuple(res)):
        assert t.data_ptr() == _ptr(a), "the output is fastpool's buffer"
        assert not t._is_view()
    if grad:
        (dx,) = torch.autograd.grad(outs[0], x, torch.ones_like(outs[0]))
        assert dx.data_ptr() == _ptr(bwd[-1][2])
        assert dx.shape == x.shape
    else:
        assert not bwd


def test_unpool_no_copy(monkeypatch):
    calls = _spy(monkeypatch, "max_unpool2d")
    x = torch.rand(2, 3, 4, 5, dtype=torch.float64).to(memory_format=torch.channels_last)
    y = ft.max_unpool2d(x, IDX[2], 2)
    args, kwargs, res = calls[-1]
    assert _ptr(args[0]) == x.data_ptr() and _ptr(args[1]) == IDX[2].data_ptr()
    assert kwargs["channels_last"] and y.data_ptr() == _ptr(res) and is_channels_last(y)


def test_in_place_after_pooling():
    """A channels_last output is not a view, so in-place ops on it (ReLU(inplace)) work."""
    for x in (torch.randn(2, 3, 8, 8, dtype=torch.float64),
              torch.randn(2, 3, 8, 8, dtype=torch.float64).to(memory_format=torch.channels_last)):
        grads = []
        for f in (ft, F):
            xr = x.clone().requires_grad_()
            y = f.avg_pool2d(xr, 2)
            y.relu_()
            y.sum().backward()
            grads.append(xr.grad)
        torch.testing.assert_close(grads[0], grads[1])


def test_channels_last_rule_matches_torch():
    """fastpool.torch picks channels_last exactly when torch's max_pool2d does."""
    base = torch.randn(2, 3, 6, 6)
    tensors = [
        base, base.to(memory_format=torch.channels_last),
        torch.randn(2, 3, 1, 1).to(memory_format=torch.channels_last),
        torch.randn(2, 1, 6, 6).to(memory_format=torch.channels_last),
        torch.randn(1, 3, 6, 6).to(memory_format=torch.channels_last),
        base.to(memory_format=torch.channels_last)[:, :, ::2],
        base.permute(0, 1, 3, 2), base.permute(0, 3, 2, 1),
    ]
    for t in tensors:
        ours, theirs = ft.max_pool2d(t, 1, padding=0), F.max_pool2d(t, 1)
        assert ours.stride() == theirs.stride(), (t.shape, t.stride())


def test_num_threads_follow_torch(monkeypatch):
    calls = _spy(monkeypatch, "avg_pool2d")
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        ft.avg_pool2d(torch.rand(1, 2, 4, 4), 2)
        assert calls[-1][1]["num_threads"] == 1
    finally:
        torch.set_num_threads(old)
    ft.avg_pool2d(torch.rand(1, 2, 4, 4), 2)
    assert calls[-1][1]["num_threads"] == old


def test_fastpool_does_not_import_torch(tmp_path):
    code = "import sys, fastpool; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True,
                   capture_output=True)


# --------------------------------------------------------------------------
# gradcheck, float64, small shapes


GRADCHECK = [
    ("max1", (1, 2, 7), lambda f, x: f.max_pool1d(x, 3, 2, 1, 2, True)),
    ("max2", (1, 2, 5, 6), lambda f, x: f.max_pool2d(x, 3, 2, 1, ceil_mode=True)),
    ("max2_dil", (1, 2, 6, 6), lambda f, x: f.max_pool2d(x, 2, 1, 0, 2)),
    ("max3", (1, 2, 4, 4, 5), lambda f, x: f.max_pool3d(x, 2, (1, 2, 2))),
    ("avg1", (1, 2, 7), lambda f, x: f.avg_pool1d(x, 3, 2, 1, True, False)),
    ("avg2", (1, 2, 5, 6), lambda f, x: f.avg_pool2d(x, 3, 2, 1, True, True)),
    ("avg2_div", (1, 2, 5, 6), lambda f, x: f.avg_pool2d(x, 2, 1, 1, divisor_override=3)),
    ("avg3", (1, 2, 4, 4, 5), lambda f, x: f.avg_pool3d(x, 2, 2, 1, False, False)),
    ("lp1", (1, 2, 7), lambda f, x: f.lp_pool1d(x, 3, 2, 1)),
    ("lp2", (1, 2, 5, 6), lambda f, x: f.lp_pool2d(x, 2, 2)),
    ("lp2_inf", (1, 2, 5, 6), lambda f, x: f.lp_pool2d(x, float("inf"), 2, 1)),
    ("lp3", (1, 2, 4, 4, 5), lambda f, x: f.lp_pool3d(x, 1.5, 2, 1)),
    ("amax1", (1, 2, 7), lambda f, x: f.adaptive_max_pool1d(x, 3)),
    ("amax2", (1, 2, 5, 6), lambda f, x: f.adaptive_max_pool2d(x, (2, 4))),
    ("amax3", (1, 2, 4, 4, 5), lambda f, x: f.adaptive_max_pool3d(x, (3, 2, 2))),
    ("aavg1", (1, 2, 7), lambda f, x: f.adaptive_avg_pool1d(x, 3)),
    ("aavg2", (1, 2, 5, 6), lambda f, x: f.adaptive_avg_pool2d(x, (2, 4))),
    ("aavg3", (1, 2, 4, 4, 5), lambda f, x: f.adaptive_avg_pool3d(x, (3, 2, 2))),
    ("unpool1", (2, 3, 5), lambda f, x: f.max_unpool1d(x, IDX[1], 2)),
    ("unpool2", (2, 3, 4, 5), lambda f, x: f.max_unpool2d(x, IDX["2p"], 2, 2, 1, (7, 9))),
    ("unpool3", (2, 3, 2, 3, 2), lambda f, x: f.max_unpool3d(x, IDX[3], 2)),
    ("frac2", (2, 3, 7, 8),
     lambda f, x: f.fractional_max_pool2d(x, 2, (3, 4), _random_samples=SAMPLES[2])),
    ("frac3", (2, 3, 5, 5, 6),
     lambda f, x: f.fractional_max_pool3d(x, 2, (2, 3, 3), _random_samples=SAMPLES[3])),
]


def _gradcheck_params():
    out = []
    for case in GRADCHECK:
        out.append(pytest.param(case, "contiguous", id=f"{case[0]}-contiguous"))
        if len(case[1]) in CL:
            out.append(pytest.param(case, "channels_last", id=f"{case[0]}-channels_last"))
    return out


@pytest.mark.parametrize("case, how", _gradcheck_params())
def test_gradcheck(case, how):
    _, shape, call = case
    x = layout(distinct(shape), how).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: call(ft, t), (x,), eps=1e-6, atol=1e-7)


def test_double_backward_is_refused():
    x = distinct((1, 2, 4, 4)).requires_grad_()
    y = ft.avg_pool2d(x, 2)
    (dx,) = torch.autograd.grad(y.pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        dx.sum().backward()


# --------------------------------------------------------------------------
# Signatures, reprs, modules


MODULE_NAMES = [
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "LPPool1d", "LPPool2d", "LPPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
    "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "FractionalMaxPool2d", "FractionalMaxPool3d",
]


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_module_signature(name):
    ours, theirs = getattr(ft, name), getattr(nn, name)
    assert issubclass(ours, theirs) and ours.__module__ == "fastpool.torch"
    assert inspect.signature(ours.__init__) == inspect.signature(theirs.__init__)
    assert inspect.signature(ours.forward).parameters.keys() == \
        inspect.signature(theirs.forward).parameters.keys()


# torch's functions whose signatures are not introspectable (builtins, boolean dispatch)
_DOCUMENTED = {
    "avg_pool1d": "input kernel_size stride padding ceil_mode count_include_pad",
    "avg_pool2d": "input kernel_size stride padding ceil_mode count_include_pad divisor_override",
    "avg_pool3d": "input kernel_size stride padding ceil_mode count_include_pad divisor_override",
    "adaptive_avg_pool1d": "input output_size",
}


SPECIAL_FUNCTIONS = ["stochastic_pool2d", "median_pool2d", "mixed_pool2d",
                     "spatial_pyramid_pool", "yolo_spp", "bilinear_pool", "netvlad"]


@pytest.mark.parametrize("name", [n for n in ft.__all__ if n[0].islower() and "_" in n
                                  and n != "convert_modules" and n not in SPECIAL_FUNCTIONS])
def test_functional_signature(name):
    ours = inspect.signature(getattr(ft, name)).parameters
    if name in _DOCUMENTED:
        names = _DOCUMENTED[name].split()
        assert list(ours)[:len(names)] == names
        return
    ref = getattr(F, name)
    if hasattr(F, f"{name}_with_indices"):  # boolean dispatch: the with-indices variant
        ref = getattr(F, f"{name}_with_indices")
    theirs = inspect.signature(ref).parameters
    assert list(ours) == list(theirs)
    for p in theirs.values():
        assert ours[p.name].default == p.default


MODULE_CASES = [
    ("MaxPool1d", (3, 2, 1), {"return_indices": True}, (2, 3, 11)),
    ("MaxPool2d", (3, 2, 1, 1, False, True), {}, (2, 3, 9, 10)),
    ("MaxPool3d", (2,), {"return_indices": True}, (2, 3, 4, 6, 5)),
    ("AvgPool1d", (3, 2, 1), {"count_include_pad": False}, (2, 3, 11)),
    ("AvgPool2d", (3, 2, 1, True, True, 4), {}, (2, 3, 9, 10)),
    ("AvgPool3d", (2,), {"ceil_mode": True}, (2, 3, 5, 6, 5)),
    ("LPPool1d", (2, 3), {}, (2, 3, 11)),
    ("LPPool2d", (2, (2, 3), 2), {}, (2, 3, 9, 10)),
    ("LPPool3d", (4, 2), {}, (2, 3, 4, 6, 5)),
    ("AdaptiveMaxPool1d", (4, True), {}, (2, 3, 11)),
    ("AdaptiveMaxPool2d", ((None, 3),), {}, (2, 3, 9, 10)),
    ("AdaptiveMaxPool3d", (2,), {"return_indices": True}, (2, 3, 4, 6, 5)),
    ("AdaptiveAvgPool1d", (4,), {}, (2, 3, 11)),
    ("AdaptiveAvgPool2d", ((4, 3),), {}, (2, 3, 9, 10)),
    ("AdaptiveAvgPool3d", (1,), {}, (2, 3, 4, 6, 5)),
    ("FractionalMaxPool2d", (2,), {"output_size": (4, 5), "return_indices": True,
                                   "_random_samples": SAMPLES[2]}, (2, 3, 9, 10)),
    ("FractionalMaxPool3d", (2,), {"output_ratio": 0.5, "_random_samples": SAMPLES[3]},
     (2, 3, 4, 6, 5)),
]


@pytest.mark.parametrize("case", MODULE_CASES, ids=lambda c: c[0])
def test_module_forward_and_repr(case):
    name, args, kwargs, shape = case
    ours, theirs = getattr(ft, name)(*args, **kwargs), getattr(nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs) and ours.extra_repr() == theirs.extra_repr()
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    x = torch.rand(shape, dtype=torch.float64, generator=gen(3))
    _compare(_tuple(ours(x)), _tuple(theirs(x)), exact=False)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_unpool_modules(rank):
    pool_args = {1: ((2, 3, 10),), 2: ((2, 3, 8, 10),), 3: ((2, 3, 4, 6, 4),)}[rank]
    x = torch.randn(*pool_args, dtype=torch.float64, generator=gen(4))
    pool = getattr(nn, f"MaxPool{rank}d")(2, return_indices=True)
    y, idx = pool(x)
    ours, theirs = getattr(ft, f"MaxUnpool{rank}d")(2), getattr(nn, f"MaxUnpool{rank}d")(2)
    assert repr(ours) == repr(theirs)
    torch.testing.assert_close(ours(y, idx, x.shape), theirs(y, idx, x.shape), rtol=0, atol=0)


def test_fractional_uses_torch_rng():
    x = torch.rand(2, 3, 11, 12)
    torch.manual_seed(5)
    ours = ft.fractional_max_pool2d(x, 2, output_ratio=(0.5, 0.5), return_indices=True)
    torch.manual_seed(5)
    theirs = F.fractional_max_pool2d(x, 2, output_ratio=(0.5, 0.5), return_indices=True)
    _compare(ours, theirs, exact=True)
    samples = torch.rand(2, 3, 2)
    _compare((ft.fractional_max_pool2d(x, 2, output_ratio=0.5, _random_samples=samples),),
             (F.fractional_max_pool2d(x, 2, output_ratio=(0.5, 0.5), _random_samples=samples),),
             exact=True)  # a single float ratio (torch's functional form wants a tuple)
    x3 = torch.rand(2, 3, 6, 7, 8)
    outs = []
    for lib in (ft, nn):
        torch.manual_seed(6)
        outs.append(_tuple(lib.FractionalMaxPool3d(2, output_ratio=0.5, return_indices=True)(x3)))
    _compare(outs[0], outs[1], exact=True)


def test_convert_modules():
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.MaxPool2d(2),
        nn.Sequential(nn.AvgPool2d(2, ceil_mode=True), nn.AdaptiveAvgPool2d(1)),
        nn.Flatten(),
    ).double()
    x = torch.randn(2, 2, 9, 9, dtype=torch.float64)
    expected = model(x)
    pool = model[1]
    assert ft.convert_modules(model) is model
    assert type(model[1]) is ft.MaxPool2d and model[1] is pool
    assert type(model[2][0]) is ft.AvgPool2d and type(model[2][1]) is ft.AdaptiveAvgPool2d
    assert type(model[0]) is nn.Conv2d
    torch.testing.assert_close(model(x), expected)


# --------------------------------------------------------------------------
# Errors and documented differences


def test_unsupported_tensors_raise():
    with pytest.raises(TypeError, match="float32, torch.float64"):
        ft.max_pool2d(torch.zeros(1, 1, 4, 4, dtype=torch.float16), 2)
    with pytest.raises(TypeError, match="dtype torch.int64"):
        ft.avg_pool2d(torch.zeros(1, 1, 4, 4, dtype=torch.int64), 2)
    with pytest.raises(ValueError, match="CPU tensors only"):
        ft.max_pool2d(torch.zeros(1, 1, 4, 4, device="meta"), 2)
    with pytest.raises(TypeError, match="layout"):
        ft.adaptive_avg_pool2d(torch.zeros(1, 1, 4, 4).to_sparse(), 2)
    with pytest.raises(TypeError, match="torch.Tensor"):
        ft.max_pool1d(np.zeros((1, 1, 4)), 2)
    with pytest.raises(TypeError, match="indices"):
        ft.max_unpool2d(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), 2)
    with pytest.raises(ValueError, match="norm_type"):
        ft.lp_pool2d(torch.rand(1, 1, 4, 4), -float("inf"), 2)
    with pytest.raises(ValueError, match="output_size or an output_ratio"):
        ft.fractional_max_pool2d(torch.rand(1, 1, 4, 4), 2)
    with pytest.raises(ValueError, match="output_size"):
        ft.max_unpool2d(torch.zeros(1, 1, 2, 2), IDX[2][:1, :1, :2, :2], 2, output_size=(9, 9))


def test_padding_beyond_torch_limit():
    """torch refuses padding > kernel/2; fastpool gives -inf / index -1 for empty windows."""
    x = torch.rand(1, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError):
        F.max_pool2d(x, 2, 2, 2)
    y, idx = ft.max_pool2d(x, 2, 2, 2, return_indices=True)
    assert y.shape == (1, 1, 3, 3)
    assert torch.isinf(y[0, 0, 0, 0]) and idx[0, 0, 0, 0] == -1
    ref, ref_idx = fastpool.max_pool2d(x.detach().numpy(), 2, 2, 2, return_indices=True)
    assert np.array_equal(y.detach().numpy(), ref) and np.array_equal(idx.numpy(), ref_idx)
    y.masked_fill(torch.isinf(y), 0).sum().backward()
    assert x.grad.sum() == (idx >= 0).sum()


def test_lp_pool_where_torch_differs():
    """Odd p with negative inputs: fastpool is (sum |x|^p)^(1/p), torch is not."""
    x = torch.tensor([[[-2.0, 1.0, 3.0, -1.0]]], dtype=torch.float64)
    y = ft.lp_pool1d(x, 3, 2)
    expected = torch.tensor([[[9.0 ** (1 / 3), 28.0 ** (1 / 3)]]], dtype=torch.float64)
    torch.testing.assert_close(y, expected)
    assert torch.isnan(F.lp_pool1d(x, 3, 2)[0, 0, 0])  # torch: (-7)^(1/3) is NaN


# --------------------------------------------------------------------------
# A small CNN trains identically


class _Net(nn.Module):
    def __init__(self, lib):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True),
            lib.MaxPool2d(2),
            nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(),
            lib.AvgPool2d(2, ceil_mode=True, count_include_pad=False),
            lib.AdaptiveAvgPool2d(2),
            nn.Flatten(), nn.Linear(24, 5),
        )

    def forward(self, x):
        return self.body(x)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last],
                         ids=["contiguous", "channels_last"])
def test_cnn_training_matches_torch(memory_format):
    torch.manual_seed(0)
    ref = _Net(nn).double().to(memory_format=memory_format)
    ours = _Net(ft).double().to(memory_format=memory_format)
    ours.load_state_dict(ref.state_dict())
    assert type(ours.body[2]) is ft.MaxPool2d
    x = torch.randn(8, 3, 13, 13, dtype=torch.float64, generator=gen(9))
    x = x.to(memory_format=memory_format)
    target = torch.randint(0, 5, (8,), generator=gen(10))
    losses = {}
    for key, model in (("torch", ref), ("fastpool", ours)):
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        losses[key] = []
        for _ in range(5):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), target)
            loss.backward()
            opt.step()
            losses[key].append(loss.item())
    np.testing.assert_allclose(losses["fastpool"], losses["torch"], rtol=1e-6)
    assert losses["torch"][-1] < losses["torch"][0]
    for p, q in zip(ours.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-9)


# --------------------------------------------------------------------------
# Special poolings (SPEC §4.8–4.12)


def _netvlad_params(k=3, d=3, seed=20, dtype=torch.float64):
    g = gen(seed)
    return (0.7 * torch.randn(k, d, generator=g, dtype=dtype),
            0.3 * torch.randn(k, generator=g, dtype=dtype),
            torch.randn(k, d, generator=g, dtype=dtype))


NV = _netvlad_params()
ALPHA_C = torch.tensor([0.2, 0.9, -0.4], dtype=torch.float64)

# (id, input shape, call(x) with fastpool.torch, the same with NumPy fastpool: x -> y,
#  fastpool backward: (g, x) -> dx)
SPECIAL = [
    ("stochastic_train", (2, 3, 6, 7),
     lambda x: ft.stochastic_pool2d(x, 2, seed=5),
     lambda a: fastpool.stochastic_pool2d(a, 2, seed=5),
     lambda g, a: fastpool.stochastic_pool2d_backward(
         g, fastpool.stochastic_pool2d(a, 2, seed=5, return_indices=True)[1], a.shape)),
    ("stochastic_train_pad", (2, 3, 6, 7),
     lambda x: ft.stochastic_pool2d(x, 3, 2, 1, seed=2**64 - 1, ceil_mode=True),
     lambda a: fastpool.stochastic_pool2d(a, 3, 2, 1, seed=2**64 - 1, ceil_mode=True),
     lambda g, a: fastpool.stochastic_pool2d_backward(
         g, fastpool.stochastic_pool2d(a, 3, 2, 1, seed=2**64 - 1, ceil_mode=True,
                                       return_indices=True)[1], a.shape)),
    ("stochastic_infer", (2, 3, 6, 7),
     lambda x: ft.stochastic_pool2d(x, 3, 2, 1, training=False),
     lambda a: fastpool.stochastic_pool2d(a, 3, 2, 1, training=False),
     lambda g, a: fastpool.stochastic_pool2d_backward(g, a, 3, 2, 1, training=False)),
    ("median_lower", (2, 3, 6, 7),
     lambda x: ft.median_pool2d(x, 3, 1, 1),
     lambda a: fastpool.median_pool2d(a, 3, 1, 1),
     lambda g, a: fastpool.median_pool2d_backward(
         g, fastpool.median_pool2d(a, 3, 1, 1, return_indices=True)[1], a.shape)),
    ("median_upper", (2, 3, 6, 7),
     lambda x: ft.median_pool2d(x, 2, 1, even="upper", dilation=2),
     lambda a: fastpool.median_pool2d(a, 2, 1, even="upper", dilation=2),
     lambda g, a: fastpool.median_pool2d_backward(
         g, fastpool.median_pool2d(a, 2, 1, even="upper", dilation=2, return_indices=True)[1],
         a.shape, even="upper")),
    ("median_mean", (2, 3, 6, 7),
     lambda x: ft.median_pool2d(x, (2, 3), 2, (1, 0), even="mean"),
     lambda a: fastpool.median_pool2d(a, (2, 3), 2, (1, 0), even="mean"),
     lambda g, a: fastpool.median_pool2d_backward(g, a, (2, 3), 2, (1, 0), even="mean")),
    ("mixed_blend", (2, 3, 6, 7),
     lambda x: ft.mixed_pool2d(x, 3, 2, 1, alpha=0.3),
     lambda a: fastpool.mixed_pool2d(a, 3, 2, 1, alpha=0.3),
     lambda g, a: fastpool.mixed_pool2d_backward(g, a, 3, 2, 1, alpha=0.3)[0]),
    ("mixed_blend_channels", (2, 3, 6, 7),
     lambda x: ft.mixed_pool2d(x, 2, alpha=ALPHA_C, count_include_pad=False, ceil_mode=True),
     lambda a: fastpool.mixed_pool2d(a, 2, alpha=ALPHA_C.numpy(), count_include_pad=False,
                                     ceil_mode=True),
     lambda g, a: fastpool.mixed_pool2d_backward(g, a, 2, alpha=ALPHA_C.numpy(),
                                                 count_include_pad=False, ceil_mode=True)[0]),
    ("mixed_concat", (2, 3, 6, 7),
     lambda x: ft.mixed_pool2d(x, 3, 2, 1, mode="concat", order=("max", "avg")),
     lambda a: fastpool.mixed_pool2d(a, 3, 2, 1, mode="concat", order=("max", "avg")),
     lambda g, a: fastpool.mixed_pool2d_backward(g, a, 3, 2, 1, mode="concat",
                                                 order=("max", "avg"))),
    ("spp_max", (2, 3, 6, 7),
     lambda x: ft.spatial_pyramid_pool(x, (1, 2, 4)),
     lambda a: fastpool.spatial_pyramid_pool(a, (1, 2, 4)),
     lambda g, a: fastpool.spatial_pyramid_pool_backward(g, a, (1, 2, 4))),
    ("spp_avg_sppnet", (2, 3, 6, 7),
     lambda x: ft.spatial_pyramid_pool(x, [3, 1], "avg", "sppnet"),
     lambda a: fastpool.spatial_pyramid_pool(a, (3, 1), "avg", "sppnet"),
     lambda g, a: fastpool.spatial_pyramid_pool_backward(g, a, (3, 1), "avg", "sppnet")),
    ("spp_max_caffe", (2, 3, 6, 7),
     lambda x: ft.spatial_pyramid_pool(x, (2, 3), "max", "caffe"),
     lambda a: fastpool.spatial_pyramid_pool(a, (2, 3), "max", "caffe"),
     lambda g, a: fastpool.spatial_pyramid_pool_backward(g, a, (2, 3), "max", "caffe")),
    ("yolo_spp", (2, 3, 6, 7),
     lambda x: ft.yolo_spp(x, (3, 5)),
     lambda a: fastpool.yolo_spp(a, (3, 5)),
     lambda g, a: fastpool.yolo_spp_backward(g, a, (3, 5))),
    ("yolo_spp_darknet", (2, 3, 6, 7),
     lambda x: ft.yolo_spp(x, (5, 3, 7), "darknet"),
     lambda a: fastpool.yolo_spp(a, (5, 3, 7), "darknet"),
     lambda g, a: fastpool.yolo_spp_backward(g, a, (5, 3, 7), "darknet")),
    ("bilinear", (2, 3, 4, 5),
     lambda x: ft.bilinear_pool(x),
     lambda a: fastpool.bilinear_pool(a),
     lambda g, a: fastpool.bilinear_pool_backward(g, a)),
    ("bilinear_plain", (2, 3, 4, 5),
     lambda x: ft.bilinear_pool(x, average=False, signed_sqrt=False, l2_normalize=False),
     lambda a: fastpool.bilinear_pool(a, average=False, signed_sqrt=False, l2_normalize=False),
     lambda g, a: fastpool.bilinear_pool_backward(g, a, average=False, signed_sqrt=False,
                                                  l2_normalize=False)),
    ("netvlad", (2, 3, 4, 5),
     lambda x: ft.netvlad(x, *NV),
     lambda a: fastpool.netvlad(a, *(t.numpy() for t in NV)),
     lambda g, a: fastpool.netvlad_backward(g, a, *(t.numpy() for t in NV))[0]),
    ("netvlad_raw", (2, 3, 4, 5),
     lambda x: ft.netvlad(x, *NV, normalize_input=False),
     lambda a: fastpool.netvlad(a, *(t.numpy() for t in NV), normalize_input=False),
     lambda g, a: fastpool.netvlad_backward(g, a, *(t.numpy() for t in NV),
                                            normalize_input=False)[0]),
]


@pytest.mark.parametrize("how", ["contiguous", "channels_last", "strided"])
@pytest.mark.parametrize("case", SPECIAL, ids=lambda c: c[0])
def test_special_matches_fastpool(case, how):
    """Forward and input gradient equal the NumPy fastpool calls, in every layout."""
    _, shape, call, fwd, bwd = case
    x = layout(distinct(shape, seed=3), how).requires_grad_()
    y = call(x)
    a = x.detach().numpy()
    np.testing.assert_array_equal(y.detach().numpy(), fwd(a))
    if y.dim() == 4:
        assert is_channels_last(y) if how == "channels_last" else y.is_contiguous()
    g = torch.randn(y.shape, generator=gen(4), dtype=torch.float64)
    (dx,) = torch.autograd.grad(y, x, g)
    np.testing.assert_allclose(dx.numpy(), bwd(g.numpy(), a), rtol=1e-13, atol=1e-15)
    assert is_channels_last(dx) if how == "channels_last" else dx.is_contiguous()
    with torch.no_grad():
        np.testing.assert_array_equal(call(x).numpy(), y.detach().numpy())


SPECIAL_GRADCHECK = [
    ("stochastic_train", lambda x: ft.stochastic_pool2d(x, 2, seed=11)),
    ("stochastic_train_pad", lambda x: ft.stochastic_pool2d(x, 3, 2, 1, seed=12)),
    ("stochastic_infer", lambda x: ft.stochastic_pool2d(x, 3, 2, 1, training=False)),
    ("median_lower", lambda x: ft.median_pool2d(x, 3, 1, 1)),
    ("median_upper", lambda x: ft.median_pool2d(x, 2, 1, 1, even="upper")),
    ("median_mean", lambda x: ft.median_pool2d(x, 2, 1, 1, even="mean")),
    ("mixed_blend", lambda x: ft.mixed_pool2d(x, 3, 2, 1, alpha=0.3)),
    ("mixed_concat", lambda x: ft.mixed_pool2d(x, 2, 1, mode="concat")),
    ("spp_max", lambda x: ft.spatial_pyramid_pool(x, (1, 2, 3))),
    ("spp_avg_caffe", lambda x: ft.spatial_pyramid_pool(x, (1, 2), "avg", "caffe")),
    ("yolo_spp", lambda x: ft.yolo_spp(x, (3, 5))),
    ("bilinear", lambda x: ft.bilinear_pool(x)),
    ("bilinear_two", lambda x: ft.bilinear_pool(x[:, :2], x[:, 1:] * 0.5 + 0.25)),
    ("netvlad", lambda x: ft.netvlad(x, *NV)),
]


@pytest.mark.parametrize("how", ["contiguous", "channels_last"])
@pytest.mark.parametrize("case", SPECIAL_GRADCHECK, ids=lambda c: c[0])
def test_special_gradcheck(case, how):
    """float64 gradcheck; inputs in (0, 1] without ties (max and median are then
    differentiable, stochastic pooling's picks do not move under gradcheck's steps)."""
    x = layout(distinct((1, 3, 5, 6), seed=6), how).requires_grad_()
    assert torch.autograd.gradcheck(case[1], (x,), eps=1e-6, atol=1e-7)


def test_gradcheck_parameters():
    """alpha (scalar and per channel), y, and NetVLAD's weight, bias and centroids."""
    x = distinct((2, 3, 5, 6), seed=7).requires_grad_()
    for alpha in (torch.tensor(0.3, dtype=torch.float64),
                  torch.tensor([0.6], dtype=torch.float64), ALPHA_C.clone()):
        alpha.requires_grad_()
        assert torch.autograd.gradcheck(
            lambda t, a: ft.mixed_pool2d(t, 3, 2, 1, alpha=a), (x, alpha), eps=1e-6, atol=1e-7)
    y = distinct((2, 2, 5, 6), seed=8).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: ft.bilinear_pool(a, b), (x, y), eps=1e-6,
                                    atol=1e-7)
    params = [p.clone().requires_grad_() for p in NV]
    for normalize_input in (True, False):
        assert torch.autograd.gradcheck(
            lambda t, w, b, c, ni=normalize_input: ft.netvlad(t, w, b, c, normalize_input=ni),
            (x, *params), eps=1e-6, atol=1e-7)


# torch compositions of the same operators: forward and backward agree


def _spp_torch(x, levels, mode="max"):
    pool = F.adaptive_max_pool2d if mode == "max" else F.adaptive_avg_pool2d
    return torch.cat([torch.flatten(pool(x, level), 1) for level in levels], 1)


def _bilinear_torch(x, y):
    n, p = x.shape[0], x[0, 0].numel()
    b = torch.einsum("ncp,ndp->ncd", x.reshape(n, x.shape[1], p), y.reshape(n, y.shape[1], p))
    b = b.flatten(1) / p
    return F.normalize(torch.sign(b) * torch.sqrt(b.abs()), dim=1)


def _netvlad_torch(x, w, b, c):
    """The standard PyTorch NetVLAD module's forward, with conv.weight = w[:, :, None, None]."""
    x = F.normalize(x, dim=1)
    a = F.softmax(F.conv2d(x, w[:, :, None, None], b), dim=1).flatten(2)   # (N, K, P)
    xf = x.flatten(2)                                                       # (N, D, P)
    residual = xf.unsqueeze(1) - c[None, :, :, None]                         # (N, K, D, P)
    v = (residual * a.unsqueeze(2)).sum(-1)
    return F.normalize(F.normalize(v, dim=2).flatten(1), dim=1)


def _median_torch(x, k):
    n, c, h, w = x.shape
    cols = F.unfold(x, k).reshape(n, c, k * k, -1)
    return cols.median(dim=2).values.reshape(n, c, h - k + 1, w - k + 1)


COMPOSITIONS = [
    ("yolo_spp", lambda f, x: f.yolo_spp(x, (5, 9, 13)) if f is ft else torch.cat(
        [x] + [F.max_pool2d(x, k, 1, k // 2) for k in (5, 9, 13)], 1)),
    ("yolo_spp_darknet", lambda f, x: f.yolo_spp(x, (5, 9, 13), "darknet") if f is ft else
     torch.cat([F.max_pool2d(x, k, 1, k // 2) for k in (13, 9, 5)] + [x], 1)),
    ("spp_max", lambda f, x: f.spatial_pyramid_pool(x, (1, 2, 4, 6)) if f is ft else
     _spp_torch(x, (1, 2, 4, 6))),
    ("spp_avg", lambda f, x: f.spatial_pyramid_pool(x, (3, 1, 5), "avg") if f is ft else
     _spp_torch(x, (3, 1, 5), "avg")),
    ("mixed_blend", lambda f, x: f.mixed_pool2d(x, 3, 2, 1, alpha=0.25) if f is ft else
     0.25 * F.max_pool2d(x, 3, 2, 1) + 0.75 * F.avg_pool2d(x, 3, 2, 1)),
    ("mixed_concat", lambda f, x: f.mixed_pool2d(x, 2, mode="concat") if f is ft else
     torch.cat([F.avg_pool2d(x, 2), F.max_pool2d(x, 2)], 1)),
    ("mixed_concat_fastai", lambda f, x: f.mixed_pool2d(x, 2, mode="concat",
                                                        order=("max", "avg")) if f is ft else
     torch.cat([F.max_pool2d(x, 2), F.avg_pool2d(x, 2)], 1)),
    ("median_lower", lambda f, x: f.median_pool2d(x, 3, 1) if f is ft else _median_torch(x, 3)),
    ("median_lower_even", lambda f, x: f.median_pool2d(x, 2, 1) if f is ft else
     _median_torch(x, 2)),
    ("stochastic_infer", lambda f, x: f.stochastic_pool2d(x, 3, 2, training=False) if f is ft
     else F.avg_pool2d(x * x, 3, 2) / F.avg_pool2d(x, 3, 2)),
    ("bilinear", lambda f, x: f.bilinear_pool(x) if f is ft else _bilinear_torch(x, x)),
    ("netvlad", lambda f, x: f.netvlad(x, *NV) if f is ft else _netvlad_torch(x, *NV)),
]


@pytest.mark.parametrize("how", ["contiguous", "channels_last"])
@pytest.mark.parametrize("case", COMPOSITIONS, ids=lambda c: c[0])
def test_special_matches_torch_composition(case, how):
    call = case[1]
    outs, grads = [], []
    for f in (ft, F):
        x = layout(distinct((2, 3, 13, 14), seed=9), how).requires_grad_()
        y = call(f, x)
        g = torch.randn(y.shape, generator=gen(10), dtype=torch.float64)
        outs.append(y)
        grads.append(torch.autograd.grad(y, x, g)[0])
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-10, atol=1e-12)


def test_mixed_alpha_gradient_matches_torch():
    """dalpha (per channel and scalar) against the torch blend alpha*max + (1-alpha)*avg."""
    x = distinct((2, 3, 9, 8), seed=12).requires_grad_()
    g = torch.randn(2, 3, 5, 4, generator=gen(13), dtype=torch.float64)
    for shape, view in (((3,), (1, 3, 1, 1)), ((), ())):
        a1 = torch.full(shape, 0.3, dtype=torch.float64).add_(
            torch.arange(3.0, dtype=torch.float64) / 10 if shape else 0).requires_grad_()
        a2 = a1.detach().clone().requires_grad_()
        y1 = ft.mixed_pool2d(x, 3, 2, 1, alpha=a1)
        w = a2.reshape(view)
        y2 = w * F.max_pool2d(x, 3, 2, 1) + (1 - w) * F.avg_pool2d(x, 3, 2, 1)
        d1 = torch.autograd.grad(y1, (x, a1), g)
        d2 = torch.autograd.grad(y2, (x, a2), g)
        torch.testing.assert_close(y1, y2)
        for u, v in zip(d1, d2):
            assert u.shape == v.shape
            torch.testing.assert_close(u, v)


def test_bilinear_two_inputs_and_netvlad_parameters_match_torch():
    x = distinct((2, 3, 5, 6), seed=14).requires_grad_()
    y = (distinct((2, 4, 5, 6), seed=15) - 0.5).requires_grad_()
    g = torch.randn(2, 12, generator=gen(16), dtype=torch.float64)
    ours = torch.autograd.grad(ft.bilinear_pool(x, y), (x, y), g)
    theirs = torch.autograd.grad(_bilinear_torch(x, y), (x, y), g)
    for u, v in zip(ours, theirs):
        torch.testing.assert_close(u, v)
    params = [p.clone().requires_grad_() for p in NV]
    g = torch.randn(2, 9, generator=gen(17), dtype=torch.float64)
    ours = torch.autograd.grad(ft.netvlad(x, *params), (x, *params), g)
    theirs = torch.autograd.grad(_netvlad_torch(x, *params), (x, *params), g)
    for u, v in zip(ours, theirs):
        torch.testing.assert_close(u, v)


def test_stochastic_seed_handling():
    x = distinct((2, 3, 8, 8), seed=18)
    y, idx = ft.stochastic_pool2d(x, 2, seed=7, return_indices=True)
    ref, ref_idx = fastpool.stochastic_pool2d(x.numpy(), 2, seed=7, return_indices=True)
    assert np.array_equal(y.numpy(), ref) and np.array_equal(idx.numpy(), ref_idx)
    torch.manual_seed(3)
    a = ft.stochastic_pool2d(x, 2)
    b = ft.stochastic_pool2d(x, 2)
    torch.manual_seed(3)
    assert torch.equal(ft.stochastic_pool2d(x, 2), a)
    assert not torch.equal(a, b), "each call draws a new key"
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    assert torch.equal(ft.stochastic_pool2d(x, 2, generator=g1),
                       ft.stochastic_pool2d(x, 2, generator=g2))
    # inference draws nothing from the generator
    state = torch.get_rng_state()
    ft.stochastic_pool2d(x, 2, training=False)
    assert torch.equal(torch.get_rng_state(), state)
    with pytest.raises(ValueError, match="stochastic_pool2d: return_indices"):
        ft.stochastic_pool2d(x, 2, training=False, return_indices=True)
    with pytest.raises(ValueError, match="stochastic_pool2d: x must be finite and >= 0"):
        ft.stochastic_pool2d(x - 0.5, 2, seed=1)


def test_stochastic_module_follows_training_flag():
    x = distinct((2, 3, 8, 8), seed=19)
    m = ft.StochasticPool2d(2, seed=21)
    assert m.training
    first, second = m(x), m(x)
    again = ft.StochasticPool2d(2, seed=21)
    assert torch.equal(again(x), first) and torch.equal(again(x), second), "reproducible"
    assert not torch.equal(first, second), "fresh samples every training step"
    m.eval()
    np.testing.assert_array_equal(
        m(x).numpy(), fastpool.stochastic_pool2d(x.numpy(), 2, training=False))
    assert torch.isin(first, x).all(), "training outputs are cells of x"


def test_median_module_and_channels_last_no_copy(monkeypatch):
    calls = _spy(monkeypatch, "median_pool2d")
    x = distinct((2, 3, 7, 7), seed=22).to(memory_format=torch.channels_last)
    y, idx = ft.MedianPool2d(3, 2, 1, return_indices=True)(x)
    args, kwargs, res = calls[-1]
    assert _ptr(args[0]) == x.data_ptr() and kwargs["channels_last"]
    assert y.data_ptr() == _ptr(res[0]) and is_channels_last(y) and is_channels_last(idx)
    ref = fastpool.median_pool2d(x.contiguous().numpy(), 3, 2, 1, return_indices=True)
    assert np.array_equal(y.contiguous().numpy(), ref[0])
    assert np.array_equal(idx.contiguous().numpy(), ref[1])
    assert repr(ft.MedianPool2d(3, even="mean")) == (
        "MedianPool2d(kernel_size=3, stride=3, padding=0, dilation=1, ceil_mode=False, "
        "even='mean')")


def test_spp_reads_channels_last_without_copy(monkeypatch):
    fwd = _spy(monkeypatch, "spatial_pyramid_pool")
    bwd = _spy(monkeypatch, "spatial_pyramid_pool_backward")
    x = distinct((2, 3, 7, 7), seed=23).to(memory_format=torch.channels_last).requires_grad_()
    y = ft.SpatialPyramidPool((1, 2))(x)
    xa = fwd[-1][0][0]
    assert _ptr(xa) == x.data_ptr() and xa.shape == (2, 3, 7, 7)
    assert not fwd[-1][1].get("channels_last", False)
    assert y.data_ptr() == _ptr(fwd[-1][2])
    (dx,) = torch.autograd.grad(y, x, torch.ones_like(y))
    assert is_channels_last(dx) and dx.data_ptr() == _ptr(bwd[-1][2])


def test_mixed_module_alpha():
    x = distinct((2, 3, 6, 6), seed=24)
    fixed = ft.MixedPool2d(2, alpha=0.7)
    assert not list(fixed.parameters()) and fixed.alpha == 0.7
    np.testing.assert_array_equal(fixed(x).numpy(), fastpool.mixed_pool2d(x.numpy(), 2, alpha=0.7))
    buf = ft.MixedPool2d(2, alpha=[0.1, 0.2, 0.3])
    assert "alpha" in dict(buf.named_buffers()) and not list(buf.parameters())
    np.testing.assert_array_equal(buf(x).numpy(),
                                  fastpool.mixed_pool2d(x.numpy(), 2, alpha=[0.1, 0.2, 0.3]))
    for num_channels, shape in ((None, ()), (3, (3,))):
        m = ft.MixedPool2d(2, learn_alpha=True, num_channels=num_channels, alpha=0.4).double()
        assert [n for n, _ in m.named_parameters()] == ["alpha"] and m.alpha.shape == shape
        y = m(x)
        g = torch.randn(y.shape, generator=gen(25), dtype=torch.float64)
        y.backward(g)
        _, dalpha = fastpool.mixed_pool2d_backward(g.numpy(), x.numpy(), 2,
                                                    alpha=m.alpha.detach().numpy())
        np.testing.assert_array_equal(m.alpha.grad.numpy(), dalpha)
    # float32 alpha with float64 input: the gradient keeps alpha's dtype
    m = ft.MixedPool2d(2, learn_alpha=True, num_channels=3)
    m(x.requires_grad_()).sum().backward()
    assert m.alpha.grad.dtype == torch.float32 and m.alpha.grad.shape == (3,)
    with pytest.raises(ValueError, match="MixedPool2d: learn_alpha"):
        ft.MixedPool2d(2, learn_alpha=True, mode="concat")


def test_mixed_alpha_learns():
    """SGD on a learnable alpha moves it towards the pooling that fits the target."""
    x = distinct((4, 3, 8, 8), seed=26)
    target = F.max_pool2d(x, 2)   # pure max: alpha should go to 1
    m = ft.MixedPool2d(2, learn_alpha=True, num_channels=3, alpha=0.2).double()
    opt = torch.optim.SGD(m.parameters(), lr=20.0)
    for _ in range(50):
        opt.zero_grad()
        F.mse_loss(m(x), target).backward()
        opt.step()
    torch.testing.assert_close(m.alpha.detach(), torch.ones(3, dtype=torch.float64),
                               rtol=0, atol=1e-3)


def test_netvlad_module():
    torch.manual_seed(0)
    m = ft.NetVLAD(5, 4, alpha=10.0, dtype=torch.float64)
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias", "centroids"]
    assert m.weight.shape == (5, 4) and m.bias.shape == (5,) and m.centroids.shape == (5, 4)
    c = m.centroids.detach()
    torch.testing.assert_close(c.norm(dim=1), torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(m.weight.detach(), 20.0 * c)
    torch.testing.assert_close(m.bias.detach(), -10.0 * (c * c).sum(1))
    x = distinct((2, 4, 5, 6), seed=27)
    # the initial assignment is softmax(-alpha * ||x - c_k||^2)
    xn = F.normalize(x, dim=1).flatten(2)
    logits = F.conv2d(F.normalize(x, dim=1), m.weight[:, :, None, None], m.bias).flatten(2)
    dist = ((xn.unsqueeze(1) - c[None, :, :, None]) ** 2).sum(2)
    torch.testing.assert_close(F.softmax(logits, 1), F.softmax(-10.0 * dist, 1))
    y = m(x)
    torch.testing.assert_close(y, _netvlad_torch(x, m.weight, m.bias, m.centroids))
    y.sum().backward()
    _, dw, db, dc = fastpool.netvlad_backward(np.ones((2, 20)), x.numpy(),
                                               *(p.detach().numpy() for p in m.parameters()))
    for p, ref in zip(m.parameters(), (dw, db, dc)):
        np.testing.assert_array_equal(p.grad.numpy(), ref)
    km = torch.randn(5, 4, dtype=torch.float64)
    m.reset_parameters(km)
    assert torch.equal(m.centroids.detach(), km)
    torch.testing.assert_close(m.weight.detach(), 20.0 * km)
    with pytest.raises(ValueError, match="NetVLAD.reset_parameters: centroids"):
        m.reset_parameters(torch.zeros(4, 5))
    with pytest.raises(TypeError, match="netvlad: weight has dtype"):
        ft.NetVLAD(2, 4)(x)   # float32 parameters, float64 input


def test_special_modules_equal_functions():
    x = distinct((2, 3, 13, 13), seed=28)
    cases = [
        (ft.SpatialPyramidPool((1, 3), "avg", "sppnet"),
         fastpool.spatial_pyramid_pool(x.numpy(), (1, 3), "avg", "sppnet")),
        (ft.YOLOSPP((5, 9)), fastpool.yolo_spp(x.numpy(), (5, 9))),
        (ft.YOLOSPP(order="darknet"), fastpool.yolo_spp(x.numpy(), order="darknet")),
        (ft.BilinearPool(signed_sqrt=False), fastpool.bilinear_pool(x.numpy(),
                                                                    signed_sqrt=False)),
        (ft.MixedPool2d(3, 2, 1, mode="concat"),
         fastpool.mixed_pool2d(x.numpy(), 3, 2, 1, mode="concat")),
    ]
    for module, ref in cases:
        np.testing.assert_array_equal(module(x).numpy(), ref)
    y = distinct((2, 2, 13, 13), seed=29)
    np.testing.assert_array_equal(ft.BilinearPool()(x, y).numpy(),
                                  fastpool.bilinear_pool(x.numpy(), y.numpy()))
    assert repr(ft.YOLOSPP()) == "YOLOSPP(kernel_sizes=(5, 9, 13), order='ultralytics')"
    assert repr(ft.SpatialPyramidPool()) == \
        "SpatialPyramidPool(levels=(1, 2, 4), mode='max', variant='adaptive')"


def test_special_rank_agnostic_and_unbatched():
    x1 = distinct((2, 3, 10), seed=30).requires_grad_()
    y = ft.bilinear_pool(x1, spatial_rank=1)
    np.testing.assert_array_equal(y.detach().numpy(),
                                  fastpool.bilinear_pool(x1.detach().numpy(), spatial_rank=1))
    x3 = layout(distinct((2, 3, 3, 4, 5), seed=31), "channels_last").requires_grad_()
    v = ft.netvlad(x3, *NV, spatial_rank=3)
    (dx,) = torch.autograd.grad(v, x3, torch.ones_like(v))
    assert dx.is_contiguous(memory_format=torch.channels_last_3d)
    np.testing.assert_array_equal(
        v.detach().numpy(), fastpool.netvlad(x3.detach().contiguous().numpy(),
                                             *(t.numpy() for t in NV), spatial_rank=3))
    xu = distinct((3, 6, 7), seed=32).requires_grad_()
    for call in (lambda t: ft.yolo_spp(t, 3), lambda t: ft.spatial_pyramid_pool(t, (1, 2)),
                 lambda t: ft.median_pool2d(t, 2)):
        out = call(xu)
        (dx,) = torch.autograd.grad(out, xu, torch.ones_like(out))
        assert dx.shape == xu.shape


SPECIAL_MODULES = ["StochasticPool2d", "MedianPool2d", "MixedPool2d", "SpatialPyramidPool",
                   "YOLOSPP", "BilinearPool", "NetVLAD"]


def test_special_names_exported():
    for name in SPECIAL_MODULES:
        assert issubclass(getattr(ft, name), nn.Module) and name in ft.__all__
    for name in SPECIAL_FUNCTIONS:
        assert name in ft.__all__


_TORCH_DROPS = {"channels_last", "out", "indices_out", "index_dtype", "num_threads"}


@pytest.mark.parametrize("name", SPECIAL_FUNCTIONS)
def test_special_functional_signature(name):
    """fastpool's arguments, names, defaults and kinds, with ``input`` for ``x``."""
    ours = list(inspect.signature(getattr(ft, name)).parameters.values())
    theirs = [p for p in inspect.signature(getattr(fastpool, name)).parameters.values()
              if p.name not in _TORCH_DROPS]
    if name == "stochastic_pool2d":
        assert ours[-1].name == "generator" and ours[-1].default is None
        ours = ours[:-1]
    assert ours[0].name == "input" and theirs[0].name == "x"
    assert [(p.name, p.default, p.kind) for p in ours[1:]] == \
        [(p.name, p.default, p.kind) for p in theirs[1:]]


def test_special_unsupported_tensors_raise():
    with pytest.raises(TypeError, match="median_pool2d: input has dtype torch.int64"):
        ft.median_pool2d(torch.zeros(1, 1, 4, 4, dtype=torch.int64), 2)
    with pytest.raises(ValueError, match="yolo_spp: input is on device meta"):
        ft.yolo_spp(torch.zeros(1, 1, 4, 4, device="meta"))
    with pytest.raises(TypeError, match="spatial_pyramid_pool: input must be a torch.Tensor"):
        ft.spatial_pyramid_pool(np.zeros((1, 1, 4, 4)))
    with pytest.raises(TypeError, match="bilinear_pool: y has dtype"):
        ft.bilinear_pool(torch.rand(1, 2, 3, 3), torch.zeros(1, 2, 3, 3, dtype=torch.int32))
    with pytest.raises(TypeError, match="mixed_pool2d: alpha has dtype"):
        ft.mixed_pool2d(torch.rand(1, 2, 4, 4), 2, alpha=torch.tensor(1))
    with pytest.raises(ValueError, match="median_pool2d: return_indices"):
        ft.median_pool2d(torch.rand(1, 1, 4, 4), 2, even="mean", return_indices=True)
    with pytest.raises(ValueError, match="yolo_spp: kernel_sizes must be odd"):
        ft.yolo_spp(torch.rand(1, 1, 4, 4), (2,))


@pytest.mark.parametrize("how", ["contiguous", "channels_last", "strided"])
@pytest.mark.parametrize("op, call", [
    ("stochastic_pool2d", lambda x: ft.stochastic_pool2d(x, 2, seed=1)),
    ("stochastic_pool2d", lambda x: ft.stochastic_pool2d(x, 2, training=False)),
    ("median_pool2d", lambda x: ft.median_pool2d(x, 2, even="mean")),
    ("mixed_pool2d", lambda x: ft.mixed_pool2d(x, 3, 2, 1)),
    ("yolo_spp", lambda x: ft.yolo_spp(x, (3, 5))),
    ("bilinear_pool", lambda x: ft.bilinear_pool(x)),
    ("netvlad", lambda x: ft.netvlad(x, *NV)),
], ids=lambda v: v if isinstance(v, str) else None)
def test_special_no_copy(monkeypatch, op, call, how):
    fwd, bwd = _spy(monkeypatch, op), _spy(monkeypatch, f"{op}_backward")
    x = layout(distinct((2, 3, 6, 8), seed=33), how).requires_grad_()
    y = call(x)
    args, kwargs, res = fwd[-1]
    res = res[0] if isinstance(res, tuple) else res
    assert _ptr(args[0]) == x.data_ptr(), "fastpool got a view of the input"
    assert kwargs["channels_last"] is (how == "channels_last")
    assert y.data_ptr() == _ptr(res) and not y._is_view(), "the output is fastpool's buffer"
    (dx,) = torch.autograd.grad(y, x, torch.ones_like(y))
    dx_res = bwd[-1][2]
    dx_res = dx_res[0] if isinstance(dx_res, tuple) else dx_res
    assert dx.data_ptr() == _ptr(dx_res) and dx.shape == x.shape


class _TorchMixed(nn.Module):
    """alpha*max + (1-alpha)*avg with a per-channel parameter, in torch operators."""

    def __init__(self, channels):
        super().__init__()
        self.alpha = nn.Parameter(torch.full((channels,), 0.5))

    def forward(self, x):
        a = self.alpha.reshape(1, -1, 1, 1)
        return a * F.max_pool2d(x, 3, 2, 1) + (1 - a) * F.avg_pool2d(x, 3, 2, 1)


class _TorchYOLOSPP(nn.Module):
    def forward(self, x):
        return torch.cat([x] + [F.max_pool2d(x, k, 1, k // 2) for k in (3, 5)], 1)


class _TorchSPP(nn.Module):
    def forward(self, x):
        return _spp_torch(x, (1, 2))


class _TorchNetVLAD(nn.Module):
    def __init__(self, k, d):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(k, d))
        self.bias = nn.Parameter(torch.empty(k))
        self.centroids = nn.Parameter(torch.empty(k, d))

    def forward(self, x):
        return _netvlad_torch(x, self.weight, self.bias, self.centroids)


class _SpecialNet(nn.Module):
    def __init__(self, lib):
        super().__init__()
        special = lib is ft
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.mix = ft.MixedPool2d(3, 2, 1, learn_alpha=True, num_channels=4) if special \
            else _TorchMixed(4)
        self.spp_block = ft.YOLOSPP((3, 5)) if special else _TorchYOLOSPP()
        self.conv2 = nn.Conv2d(12, 6, 1)
        self.spp = ft.SpatialPyramidPool((1, 2)) if special else _TorchSPP()
        self.vlad = ft.NetVLAD(3, 6, alpha=1.0) if special else _TorchNetVLAD(3, 6)
        self.head = nn.Linear(30 + 18, 5)

    def forward(self, x):
        h = self.conv2(self.spp_block(self.mix(F.relu(self.conv1(x)))))
        return self.head(torch.cat([self.spp(h), self.vlad(h)], 1))


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last],
                         ids=["contiguous", "channels_last"])
def test_special_modules_train_like_torch(memory_format):
    """Five SGD steps of a net of the special modules and of their torch compositions
    from the same weights: the same losses and parameters (alpha and NetVLAD's too)."""
    torch.manual_seed(1)
    ours = _SpecialNet(ft).double().to(memory_format=memory_format)
    ref = _SpecialNet(F).double().to(memory_format=memory_format)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    ref.load_state_dict(ours.state_dict())
    x = torch.rand(4, 3, 9, 9, dtype=torch.float64, generator=gen(34))
    x = x.to(memory_format=memory_format)
    target = torch.randint(0, 5, (4,), generator=gen(35))
    losses = {}
    for key, model in (("fastpool", ours), ("torch", ref)):
        opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
        losses[key] = []
        for _ in range(5):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), target)
            loss.backward()
            opt.step()
            losses[key].append(loss.item())
    np.testing.assert_allclose(losses["fastpool"], losses["torch"], rtol=1e-9)
    assert losses["torch"][-1] < losses["torch"][0]
    for (name, p), q in zip(ours.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-8, atol=1e-10, msg=name)
    assert not torch.equal(ours.mix.alpha, torch.full((4,), 0.5, dtype=torch.float64))


def test_bilinear_mixed_layouts():
    """x channels_last and y contiguous (or the reverse): both go in as strided views."""
    x = distinct((2, 3, 5, 6), seed=36)
    y = distinct((2, 4, 5, 6), seed=37)
    ref = fastpool.bilinear_pool(x.numpy(), y.numpy())
    g = torch.randn(2, 12, generator=gen(38), dtype=torch.float64)
    rdx, rdy = fastpool.bilinear_pool_backward(g.numpy(), x.numpy(), y.numpy())
    for xl, yl in (("channels_last", "contiguous"), ("contiguous", "channels_last"),
                   ("channels_last", "channels_last")):
        a = layout(x, xl).requires_grad_()
        b = layout(y, yl).requires_grad_()
        z = ft.bilinear_pool(a, b)
        np.testing.assert_allclose(z.detach().numpy(), ref, rtol=1e-12, atol=0)
        dx, dy = torch.autograd.grad(z, (a, b), g)
        np.testing.assert_allclose(dx.numpy(), rdx, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(dy.numpy(), rdy, rtol=1e-12, atol=1e-15)
