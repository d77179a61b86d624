"""Every class of bad input, for every operator family, gets a clean exception that
names the function and the argument (SPEC §5, issue #7; the table is
``tests/BAD_INPUTS.md``).  Malformed-but-legal inputs (byte-swapped, misaligned,
read-only, negative strides, empty batches) work and give the normal answer.

``tests/test_errors.py`` already pins max/avg pooling's parameter, dtype and
``out=`` rows; this file adds the other families (Lp, adaptive, global,
unpooling, fractional, every ``_backward``, the helpers) and the rows that file
does not have for max/avg (bool/NaN parameters, ints beyond int64, overflowing
shapes, absurd thread counts, zero-stride and aliasing ``out=``, read-only input).
"""

from __future__ import annotations

import inspect
import math
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

fastpool = pytest.importorskip("fastpool")

# --------------------------------------------------------------------------
# The operators, each with a valid call that tests perturb one argument at a time


SIZE = 6  # spatial extent of the test inputs
ALWAYS_BAD_DTYPES = [np.bool_, np.complex64, np.complex128, object, "U3", "M8[s]", "V8"]
if np.dtype(np.longdouble) != np.dtype(np.float64):
    ALWAYS_BAD_DTYPES.append(np.longdouble)


def _values(shape, dtype=np.float32, seed=0) -> np.ndarray:
    """Quarter-integers in [-5, 5]: exact in every float dtype, with ties."""
    rng = np.random.default_rng(seed)
    return (rng.integers(-20, 21, size=shape) / 4).astype(dtype)


@dataclass(frozen=True)
class Op:
    """One public function: ``family`` (max, avg, lp, adaptive_max, adaptive_avg,
    global_max, global_avg, global_lp, unpool, fractional), spatial ``rank`` and
    whether it is the backward."""

    family: str
    rank: int
    backward: bool = False

    @property
    def name(self) -> str:
        f, r = self.family, self.rank
        if f.startswith("global"):
            base = f"{f}_pool"
        elif f == "unpool":
            base = f"max_unpool{r}d"
        elif f == "fractional":
            base = f"fractional_max_pool{r}d"
        else:
            base = f"{f}_pool{r}d"
        return base + ("_backward" if self.backward else "")

    def __str__(self) -> str:
        return self.name if not self.family.startswith("global") else f"{self.name}[{self.rank}d]"

    @property
    def fn(self):
        return getattr(fastpool, self.name)

    @property
    def x_shape(self) -> tuple[int, ...]:
        return (2, 3) + (SIZE,) * self.rank

    def kwargs(self) -> dict:
        """Valid keyword arguments (fresh arrays on every call)."""
        f, r = self.family, self.rank
        x = _values(self.x_shape)
        fp = fastpool
        if f in ("max", "avg"):
            if not self.backward:
                return {"x": x, "kernel_size": 2}
            if f == "max":
                y, i = getattr(fp, f"max_pool{r}d")(x, 2, return_indices=True)
                return {"grad_output": _values(y.shape, seed=1), "indices": i,
                        "input_shape": x.shape}
            y = getattr(fp, f"avg_pool{r}d")(x, 2)
            return {"grad_output": _values(y.shape, seed=1), "input_shape": x.shape,
                    "kernel_size": 2}
        if f == "lp":
            if not self.backward:
                return {"x": x, "norm_type": 2, "kernel_size": 2}
            y = getattr(fp, f"lp_pool{r}d")(x, 2, 2)
            return {"grad_output": _values(y.shape, seed=1), "x": x, "y": y, "norm_type": 2,
                    "kernel_size": 2}
        if f == "adaptive_max":
            if not self.backward:
                return {"x": x, "output_size": 4}
            y, i = getattr(fp, f"adaptive_max_pool{r}d")(x, 4, return_indices=True)
            return {"grad_output": _values(y.shape, seed=1), "indices": i,
                    "input_shape": x.shape}
        if f == "adaptive_avg":
            if not self.backward:
                return {"x": x, "output_size": 4}
            return {"grad_output": _values((2, 3) + (4,) * r, seed=1), "input_shape": x.shape}
        if f == "global_max":
            if not self.backward:
                return {"x": x}
            y, i = fp.global_max_pool(x, return_indices=True)
            return {"grad_output": _values(y.shape, seed=1), "indices": i,
                    "input_shape": x.shape}
        if f == "global_avg":
            if not self.backward:
                return {"x": x}
            return {"grad_output": _values((2, 3) + (1,) * r, seed=1), "input_shape": x.shape}
        if f == "global_lp":
            if not self.backward:
                return {"x": x, "norm_type": 2}
            return {"grad_output": _values((2, 3) + (1,) * r, seed=1), "x": x,
                    "y": fp.global_lp_pool(x, 2), "norm_type": 2}
        if f == "unpool":
            y, i = getattr(fp, f"max_pool{r}d")(x, 2, return_indices=True)
            if not self.backward:
                return {"x": y, "indices": i, "kernel_size": 2}
            return {"grad_output": _values(x.shape, seed=1), "indices": i, "kernel_size": 2}
        if f == "fractional":
            if not self.backward:
                return {"x": x, "kernel_size": 2, "output_size": 3, "seed": 0}
            y, i = getattr(fp, f"fractional_max_pool{r}d")(x, 2, output_size=3, seed=0,
                                                            return_indices=True)
            return {"grad_output": _values(y.shape, seed=1), "indices": i,
                    "input_shape": x.shape}
        raise AssertionError(f)

    def __call__(self, **overrides):
        kw = self.kwargs()
        kw.update(overrides)
        return self.fn(**kw)

    @property
    def array_args(self) -> list[str]:
        return [k for k, v in self.kwargs().items() if isinstance(v, np.ndarray)]

    @property
    def float_args(self) -> list[str]:
        return [k for k in self.array_args if k != "indices"]

    @property
    def has_indices_out(self) -> bool:
        return not self.backward and self.family in ("adaptive_max", "global_max", "fractional")


def _all_ops() -> list[Op]:
    ops = []
    for fam in ("max", "avg", "lp", "adaptive_max", "adaptive_avg", "unpool"):
        for r in (1, 2, 3):
            ops += [Op(fam, r), Op(fam, r, True)]
    for r in (2, 3):
        ops += [Op("fractional", r), Op("fractional", r, True)]
    for fam in ("global_max", "global_avg", "global_lp"):
        ops += [Op(fam, 2), Op(fam, 2, True)]
    return ops


ALL_OPS = _all_ops()
# Families whose bad-argument rows tests/test_errors.py does not already pin.
NEW_OPS = [op for op in ALL_OPS if op.family not in ("max", "avg")]
OLD_OPS = [op for op in ALL_OPS if op.family in ("max", "avg")]


# The special poolings (issue #5): one valid call each, perturbed by the same rows as
# the families above wherever the row applies to them.


def _nonneg(shape, dtype=np.float32, seed=0) -> np.ndarray:
    return np.abs(_values(shape, dtype, seed))


@dataclass(frozen=True, eq=False)
class Special:
    """A special pooling's public function: ``build()`` gives a valid call's keyword
    arguments; ``int_params`` the integer (or per-axis integer) parameters; ``one_out``
    whether ``out=`` is one array (False: a tuple, pinned in the operator's own tests)."""

    name: str
    build: object
    int_params: tuple = ()
    one_out: bool = True
    rank: int = 2
    family: str = "special"

    @property
    def backward(self) -> bool:
        return self.name.endswith("_backward")

    def __str__(self) -> str:
        return self.name

    @property
    def fn(self):
        return getattr(fastpool, self.name)

    @property
    def x_shape(self) -> tuple[int, ...]:
        return (2, 3) + (SIZE,) * self.rank

    def kwargs(self) -> dict:
        return self.build()

    def __call__(self, **overrides):
        kw = self.kwargs()
        kw.update(overrides)
        return self.fn(**kw)

    array_args = Op.array_args
    float_args = Op.float_args
    has_indices_out = False


_WINDOW = ("kernel_size", "stride", "padding", "dilation")
_X = (2, 3, SIZE, SIZE)


def _special_ops() -> list[Special]:
    fp = fastpool

    def stochastic():
        return {"x": _nonneg(_X), "kernel_size": 2, "seed": 0}

    def stochastic_bwd():
        y, i = fp.stochastic_pool2d(_nonneg(_X), 2, seed=0, return_indices=True)
        return {"grad_output": _values(y.shape, seed=1), "indices": i, "input_shape": _X}

    def median():
        return {"x": _values(_X), "kernel_size": 3, "stride": 1}

    def median_bwd():
        return {"grad_output": _values((2, 3, 4, 4), seed=1), "x": _values(_X),
                "kernel_size": 3, "stride": 1, "even": "mean"}

    def mixed():
        return {"x": _values(_X), "kernel_size": 2, "alpha": 0.25}

    def mixed_bwd():
        return {"grad_output": _values((2, 6, 3, 3), seed=1), "x": _values(_X),
                "kernel_size": 2, "mode": "concat"}

    def spp():
        return {"x": _values(_X), "levels": (1, 2)}

    def spp_bwd():
        return {"grad_output": _values((2, 15), seed=1), "x": _values(_X), "levels": (1, 2)}

    def yolo():
        return {"x": _values(_X), "kernel_sizes": (3, 5)}

    def yolo_bwd():
        return {"grad_output": _values((2, 9, SIZE, SIZE), seed=1), "x": _values(_X),
                "kernel_sizes": (3, 5)}

    def bilinear():
        return {"x": _values(_X)}

    def bilinear_bwd():
        return {"grad_output": _values((2, 9), seed=1), "x": _values(_X)}

    def vlad_params():
        return {"weight": _values((4, 3), seed=2), "bias": _values((4,), seed=3),
                "centroids": _values((4, 3), seed=4)}

    def netvlad():
        return {"x": _values(_X), **vlad_params()}

    def netvlad_bwd():
        return {"grad_output": _values((2, 12), seed=1), "x": _values(_X), **vlad_params()}

    return [
        Special("stochastic_pool2d", stochastic, _WINDOW),
        Special("stochastic_pool2d_backward", stochastic_bwd),
        Special("median_pool2d", median, _WINDOW),
        Special("median_pool2d_backward", median_bwd, _WINDOW),
        Special("mixed_pool2d", mixed, _WINDOW),
        Special("mixed_pool2d_backward", mixed_bwd, _WINDOW),
        Special("spatial_pyramid_pool", spp, ("levels",)),
        Special("spatial_pyramid_pool_backward", spp_bwd, ("levels",)),
        Special("yolo_spp", yolo, ("kernel_sizes",)),
        Special("yolo_spp_backward", yolo_bwd, ("kernel_sizes",)),
        Special("bilinear_pool", bilinear),
        Special("bilinear_pool_backward", bilinear_bwd),
        Special("netvlad", netvlad),
        Special("netvlad_backward", netvlad_bwd, one_out=False),
    ]


SPECIAL_OPS = _special_ops()
ONE_OUT_SPECIAL = [op for op in SPECIAL_OPS if op.one_out]


def _msg(name: str, arg: str) -> str:
    """``<name>: ... <arg>``: the message starts with the function and names the argument."""
    return rf"^{re.escape(name)}: .*{re.escape(arg)}"


def _ids(value) -> str:
    return str(value)


def P(ops):
    """pytest params of ops, named after them."""
    return [pytest.param(op, id=str(op)) for op in ops]



def _raises(error, pattern: str, thunk, what: str) -> BaseException:
    """Run thunk; it must raise ``error`` with a message matching ``pattern``.

    Failures are reported without a traceback (the message says what happened), which
    keeps the many rows cheap.
    """
    __tracebackhide__ = True
    try:
        thunk()
    except error as e:
        if re.search(pattern, str(e)):
            return e
        problem = f"{type(e).__name__}({str(e)!r}) does not match {pattern!r}"
    except Exception as e:  # noqa: BLE001 - any other exception is the failure reported
        problem = f"raised {type(e).__name__}({str(e)!r}), expected {error}"
    else:
        problem = f"did not raise {error}"
    pytest.fail(f"{what}: {problem}", pytrace=False)


def test_every_public_pooling_function_is_covered():
    names = {op.name for op in ALL_OPS + SPECIAL_OPS}
    # helpers with argument tests of their own below, and the argument-less path getters
    helpers = {"pool_output_shape", "adaptive_windows", "convert_indices", "show_config",
               "__version__", "get_include", "get_library_dir", "get_cmake_dir",
               "get_pkgconfig_dir"}
    missing = sorted(set(fastpool.__all__) - helpers - names)
    assert not missing, f"add these to ALL_OPS (and to BAD_INPUTS.md): {missing}"


def _public_functions() -> list[str]:
    return sorted(n for n in fastpool.__all__ if callable(getattr(fastpool, n)))


@pytest.mark.parametrize("name", _public_functions())
def test_call_errors_name_the_function(name):
    """A missing, surplus or misspelled argument is a TypeError that starts with the
    function's name, like every other error (Python's own message would not say which
    fastpool function was called wrongly)."""
    fn = getattr(fastpool, name)
    _raises(TypeError, rf"^{re.escape(name)}: .*(bogus|missing)",
            lambda: fn(bogus=1), "an unknown keyword")
    _raises(TypeError, rf"^{re.escape(name)}: ", lambda: fn(*range(20)), "20 positionals")
    required = [p for p in inspect.signature(fn).parameters.values()
                if p.default is inspect.Parameter.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if required:
        _raises(TypeError, rf"^{re.escape(name)}: .*missing .*'{required[0].name}'",
                lambda: fn(), "no arguments")


def test_valid_calls_work():
    """The unperturbed call of every operator succeeds (each row below perturbs it)."""
    for op in ALL_OPS + SPECIAL_OPS:
        op()


def _x_arg(op: Op) -> str:
    """The array whose rank defines the call."""
    if op.family == "unpool" and op.backward:
        return "indices"
    return "grad_output" if op.backward else "x"


# --------------------------------------------------------------------------
# Wrong number of dimensions


@pytest.mark.parametrize("op", NEW_OPS + SPECIAL_OPS, ids=_ids)
def test_wrong_ndim(op):
    """An array of the wrong rank (0 to 6 dimensions): ValueError naming it, or the
    array or shape it has to match."""
    kw = op.kwargs()
    for arg in op.array_args:
        base = kw[arg]
        valid = {base.ndim}
        if op.family.startswith("global") and arg == "x" and not op.backward:
            valid = {3, 4, 5}
        for ndim in sorted({0, 1, base.ndim - 2, base.ndim + 1, 6} - valid):
            bad = np.zeros((2,) * ndim, dtype=base.dtype)
            e = _raises(ValueError, rf"^{re.escape(op.name)}: .*"
                                    rf"({arg}|grad_output|indices|input_shape)",
                        lambda: op(**{arg: bad}), f"{arg} with {ndim} dimensions")
            if arg == _x_arg(op):
                assert re.search(rf"\b{arg}\b", str(e)), str(e)


# --------------------------------------------------------------------------
# Integer-like parameters


_INT_PARAMS = {
    "lp": ("kernel_size", "stride", "padding", "dilation"),
    "unpool": ("kernel_size", "stride", "padding"),
    "fractional": ("kernel_size", "output_size"),
    "adaptive_max": ("output_size",),
    "adaptive_avg": ("output_size",),
    "max": ("kernel_size", "stride", "padding", "dilation"),
    "avg": ("kernel_size", "stride", "padding", "dilation", "divisor_override"),
}


def _int_params(op: Op) -> tuple[str, ...]:
    if isinstance(op, Special):
        return op.int_params
    if op.backward and op.family in ("fractional", "adaptive_max", "adaptive_avg", "max"):
        return ()
    return _INT_PARAMS.get(op.family, ())


def _op_params(ops, keep=lambda op, p: True):
    return [pytest.param(op, p, id=f"{op}-{p}")
            for op in ops for p in _int_params(op) if keep(op, p)]


@pytest.mark.parametrize("op, param", _op_params(NEW_OPS + SPECIAL_OPS))
def test_non_positive_parameter(op, param):
    """kernel_size, stride, dilation, output_size < 1, padding < 0: ValueError naming it."""
    for value in (0, -1, -(2**40)):
        if param == "padding" and value == 0:
            continue
        _raises(ValueError, _msg(op.name, param), lambda: op(**{param: value}), f"{value}")


@pytest.mark.parametrize("op, param", _op_params(ALL_OPS + SPECIAL_OPS))
def test_non_integer_parameter(op, param):
    """Floats (NaN and inf included), bools, strings: TypeError naming the parameter (a
    string for padding is a padding mode: ValueError).  test_errors.py has 2.5, "2", None
    and 1.0 for max/avg; they get the rest."""
    values = [True, False, float("nan"), float("inf"), np.float64(2.0), np.bool_(True)]
    if op in NEW_OPS:
        values += [2.5, "2", 2 + 0j, [2.5] * op.rank]
    for value in values:
        error = ValueError if param == "padding" and isinstance(value, str) else TypeError
        _raises(error, _msg(op.name, param), lambda: op(**{param: value}), repr(value))


@pytest.mark.parametrize("op, param", _op_params(ALL_OPS + SPECIAL_OPS))
def test_zero_dimensional_array_parameter(op, param):
    """np.array(2) is an integer: accepted like 2 (or a clean error naming the parameter,
    or the very error that 2 itself gets)."""
    problem = None
    try:
        got = op(**{param: np.array(2)})
    except (TypeError, ValueError, IndexError) as e:
        try:
            op(**{param: 2})
        except type(e) as plain:
            same = str(plain) == str(e)
        else:
            same = False
        if not same and not re.search(_msg(op.name, param), str(e)):
            problem = f"{type(e).__name__}({str(e)!r}) names neither {op.name} nor {param}"
    else:
        want = op(**{param: 2})
        for a, b in zip(got if isinstance(got, tuple) else (got,),
                        want if isinstance(want, tuple) else (want,)):
            assert np.array_equal(a, b, equal_nan=True)
    if problem:
        pytest.fail(problem, pytrace=False)


@pytest.mark.parametrize("op, param",
                         _op_params(NEW_OPS, keep=lambda op, p: p != "divisor_override"))
def test_wrong_number_of_per_axis_values(op, param):
    """A tuple with one entry too many, or none: ValueError naming the parameter."""
    for value in ((2,) * (op.rank + 1), ()):
        if param == "stride" and value == ():
            continue  # an empty stride means the default, as in PyTorch
        _raises(ValueError, _msg(op.name, param), lambda: op(**{param: value}), repr(value))



@pytest.mark.parametrize("op, param", _op_params(ALL_OPS + SPECIAL_OPS))
def test_parameter_beyond_int64(op, param):
    """2**64 does not fit the C core's int64: a clean error naming the parameter (or
    the output size it makes impossible), never a bare conversion error."""
    named = f"{param}|output size" + ("|grad_output" if op.backward else "")
    _raises((OverflowError, ValueError, MemoryError), rf"^{re.escape(op.name)}: .*({named})",
            lambda: op(**{param: 2**64}), "2**64")


@pytest.mark.parametrize("op, param", _op_params(
    ALL_OPS, keep=lambda op, p: p in ("kernel_size", "dilation", "output_size")))
def test_parameter_too_large_for_the_input(op, param):
    """Large but representable (2**62): output size < 1, an overflowing geometry or an
    output too large to allocate.  A clean error, no crash."""
    _raises((ValueError, OverflowError, MemoryError), rf"^{re.escape(op.name)}: ",
            lambda: op(**{param: 2**62}), "2**62")


# --------------------------------------------------------------------------
# Shapes whose products overflow int64: zero-stride views of one element


def _huge(shape, dtype=np.float32) -> np.ndarray:
    return as_strided(np.zeros(1, dtype), shape=shape, strides=(0,) * len(shape))


_G = 2**30  # (G, G, 3, 3) has 9 * 2**60 > 2**63 elements


def _overflow_kwargs(op: Op) -> dict:
    """Arguments whose input is a (2**30, 2**30, 1, ...) view and whose output's element
    count (or byte count) does not fit int64."""
    r, f = op.rank, op.family
    x = _huge((_G, _G) + (1,) * r)
    idx = _huge((_G, _G) + (1,) * r, np.int32)
    big = (_G, _G) + (3,) * r
    if not op.backward:
        if f in ("max", "avg", "lp"):
            return {"x": x, "kernel_size": 1, "padding": 1}
        if f in ("adaptive_max", "adaptive_avg"):
            return {"x": x, "output_size": 3}
        if f.startswith("global"):
            return {"x": x}
        if f == "unpool":
            return {"x": x, "indices": idx, "kernel_size": 3}
        if f == "fractional":
            return {"x": x, "kernel_size": 1, "output_size": 1}
    if f in ("max", "adaptive_max", "global_max", "fractional"):
        return {"grad_output": x, "indices": idx, "input_shape": big}
    if f == "avg":
        return {"grad_output": x, "input_shape": big, "kernel_size": 3}
    if f in ("adaptive_avg", "global_avg"):
        return {"grad_output": x, "input_shape": big}
    if f in ("lp", "global_lp"):
        return {"grad_output": x, "x": x, "y": x}
    if f == "unpool":
        return {"grad_output": x, "indices": idx, "kernel_size": 1}
    raise AssertionError(op)



@pytest.mark.parametrize("op", [pytest.param(op, id=str(op))
                                for op in ALL_OPS])
def test_shapes_whose_products_overflow(op):
    """Nothing is read or allocated: OverflowError, ValueError or MemoryError naming the
    function, before any work."""
    kw = op.kwargs()
    kw.update(_overflow_kwargs(op))
    _raises((OverflowError, ValueError, MemoryError), rf"^{re.escape(op.name)}: ",
            lambda: op.fn(**kw), "overflowing shapes")



@pytest.mark.parametrize("op", [pytest.param(op, id=str(op))
                                for op in ALL_OPS if "input_shape" in op.kwargs()])
def test_input_shape_too_large(op):
    """A backward's input_shape that no array can have (2**62, 2**64): a clean error
    naming input_shape."""
    for extent in (2**62, 2**64):
        shape = op.x_shape[:2] + (extent,) + op.x_shape[3:]
        _raises((OverflowError, ValueError, MemoryError),
                rf"^{re.escape(op.name)}: .*(input_shape|overflows int64)",
                lambda: op(input_shape=shape), f"extent {extent}")


# --------------------------------------------------------------------------
# Dtypes


@pytest.mark.parametrize("op", P(NEW_OPS + [op for op in OLD_OPS if op.backward] + SPECIAL_OPS))
def test_unsupported_dtype(op):
    """bool, complex, object, strings, datetimes, void (and long double): TypeError
    naming the array and listing the supported dtypes; never a silent conversion."""
    kw = op.kwargs()
    for arg in op.float_args:
        if op.family in ("max", "avg") and arg == "x":
            continue  # tests/test_errors.py
        for dtype in ALWAYS_BAD_DTYPES:
            bad = np.zeros(kw[arg].shape, dtype=dtype)
            e = _raises(TypeError, _msg(op.name, arg), lambda: op(**{arg: bad}),
                        f"{arg} of dtype {np.dtype(dtype)}")
            assert "float32" in str(e) and "float64" in str(e), str(e)


@pytest.mark.parametrize("op", [op for op in ALL_OPS + SPECIAL_OPS if op.backward], ids=_ids)
def test_integer_gradient(op):
    """Gradients are floating point (SPEC §4.13): an integer grad_output is a TypeError."""
    g = op.kwargs()["grad_output"]
    for dtype in (np.int32, np.int64, np.uint8):
        _raises(TypeError, _msg(op.name, "grad_output"),
                lambda: op(grad_output=g.astype(dtype)), np.dtype(dtype).name)


@pytest.mark.parametrize("op", [op for op in ALL_OPS if op.family in ("lp", "global_lp")
                                and op.backward], ids=_ids)
def test_lp_backward_dtypes_must_agree(op):
    """grad_output, x and y of an Lp backward share one dtype: TypeError naming the odd one."""
    kw = op.kwargs()
    for arg in ("grad_output", "y"):
        _raises(TypeError, _msg(op.name, arg),
                lambda: op(**{arg: kw[arg].astype(np.float64)}), arg)


@pytest.mark.parametrize("op", [op for op in ALL_OPS if "indices" in op.kwargs()], ids=_ids)
def test_wrong_index_dtype(op):
    """Indices are int64 or int32: any other dtype (floats even if integral, bool,
    small or unsigned ints, object) is a TypeError naming indices."""
    i = op.kwargs()["indices"]
    for dtype in (np.float64, np.float32, np.bool_, np.uint8, np.int16, np.uint64, object):
        if op.family == "max" and dtype in (np.float64, np.uint8):
            continue  # tests/test_errors.py
        _raises(TypeError, _msg(op.name, "indices"), lambda: op(indices=i.astype(dtype)),
                np.dtype(dtype).name)


# --------------------------------------------------------------------------
# out= and indices_out=


SENTINEL = 7.25


def _expected(op: Op):
    r = op()
    return r if isinstance(r, tuple) else (r,)


def _aliasing(op: Op, out_shape, out_dtype):
    """(overrides, out): an input array replaced by a view into a buffer that ``out``
    shares, both with the right shape and dtype."""
    kw = op.kwargs()
    for arg in op.float_args:
        a = kw[arg]
        if a.dtype == out_dtype:
            n = max(a.size, math.prod(out_shape))
            buf = np.zeros(n, dtype=a.dtype)
            view = buf[:a.size].reshape(a.shape)
            view[...] = a
            return {arg: view}, buf[n - math.prod(out_shape):].reshape(out_shape)
    raise AssertionError(op)


def _bad_outs(shape, dtype, op: Op):
    """(label, out, error) for every way an out= buffer can be wrong."""
    shape = tuple(shape)
    dtype = np.dtype(dtype)
    other = np.float64 if dtype != np.float64 else np.float32
    ro = np.full(shape, SENTINEL, dtype)
    ro.flags.writeable = False
    wide = np.full(shape[:-1] + (shape[-1] + 1,), SENTINEL, dtype)
    yield "wrong shape", wide, ValueError
    yield "unbatched shape", np.full(shape[1:], SENTINEL, dtype), ValueError
    yield "wrong dtype", np.full(shape, SENTINEL, other), TypeError
    yield "integer dtype", np.full(shape, 7, np.int64), TypeError
    yield "byte-swapped", np.full(shape, SENTINEL, dtype.newbyteorder()), TypeError
    yield "read-only", ro, ValueError
    yield "broadcast (read-only, zero strides)", np.broadcast_to(np.asarray(SENTINEL, dtype),
                                                                 shape), ValueError
    # A writable view with a zero stride along an axis of extent > 1.
    axis = max(i for i, n in enumerate(shape) if n > 1)
    strides = list(np.empty(shape, dtype).strides)
    strides[axis] = 0
    base = np.full(math.prod(shape), SENTINEL, dtype)
    yield "writable, zero stride", as_strided(base, shape, strides), ValueError
    buf = np.full(math.prod(shape) * dtype.itemsize + 1, 0, np.uint8)
    mis = buf[1:].view(dtype).reshape(shape)
    mis[...] = SENTINEL
    yield "misaligned", mis, ValueError
    yield "a list", np.full(shape, SENTINEL, dtype).tolist(), TypeError


@pytest.mark.parametrize("op", P(NEW_OPS + [op for op in OLD_OPS if op.backward] + ONE_OUT_SPECIAL))
def test_bad_out(op):
    """out= of the wrong shape or dtype, byte-swapped, read-only, broadcast, with zero
    strides, misaligned or not an array: TypeError/ValueError naming out, and the
    buffer is left untouched."""
    y = _expected(op)[0]
    for label, out, error in _bad_outs(y.shape, y.dtype, op):
        before = np.array(out, copy=True) if isinstance(out, np.ndarray) else None
        _raises(error, _msg(op.name, "out"), lambda: op(out=out), label)
        if before is not None:
            assert np.array_equal(np.asarray(out), before), f"{label}: out was written"


@pytest.mark.parametrize("op", P(ALL_OPS + ONE_OUT_SPECIAL))
def test_out_aliasing_an_input(op):
    """out= sharing memory with an input: ValueError naming out, nothing written."""
    y = _expected(op)[0]
    over, out = _aliasing(op, y.shape, y.dtype)
    snapshot = out.copy()
    _raises(ValueError, _msg(op.name, "out"), lambda: op(out=out, **over), "aliasing out")
    assert np.array_equal(out, snapshot, equal_nan=True)


@pytest.mark.parametrize("op", [op for op in ALL_OPS if op.has_indices_out], ids=_ids)
def test_bad_indices_out(op):
    """indices_out= of the wrong dtype or shape, read-only, or overlapping out=:
    TypeError/ValueError naming indices_out, both buffers untouched."""
    y, i = _expected(op) if len(_expected(op)) == 2 else op(return_indices=True)
    cases = [
        ("float", np.full(i.shape, 3, np.float32), TypeError),
        ("int32 without index_dtype", np.full(i.shape, 3, np.int32), TypeError),
        ("wrong shape", np.full(i.shape[1:], 3, np.int64), ValueError),
    ]
    ro = np.full(i.shape, 3, np.int64)
    ro.flags.writeable = False
    cases.append(("read-only", ro, ValueError))
    for label, iout, error in cases:
        before = iout.copy()
        _raises(error, _msg(op.name, "indices_out"),
                lambda: op(return_indices=True, indices_out=iout), label)
        assert np.array_equal(iout, before)
    out = np.full(y.shape, SENTINEL, np.float32)
    shared = out.view(np.int32)
    _raises(ValueError, _msg(op.name, "indices_out"),
            lambda: op(return_indices=True, out=out, indices_out=shared,
                       index_dtype=np.int32), "overlapping out")
    assert np.all(out == SENTINEL)


@pytest.mark.parametrize("op", ALL_OPS + ONE_OUT_SPECIAL, ids=_ids)
def test_good_out_is_filled_and_returned(op):
    """The contrast: a valid, non-contiguous out= is written and returned."""
    want = _expected(op)[0]
    big = np.full(want.shape[:-1] + (2 * want.shape[-1],), SENTINEL, want.dtype)
    out = big[..., ::2]
    got = op(out=out)
    got = got[0] if isinstance(got, tuple) else got
    assert got is out and np.array_equal(out, want, equal_nan=True)
    assert np.all(big[..., 1::2] == SENTINEL)


# --------------------------------------------------------------------------
# Indices: validated, all of them, before anything is written


INDEX_OPS = [op for op in ALL_OPS if "indices" in op.kwargs()]


def _plane(op: Op) -> int:
    """Size of the plane the indices point into."""
    if op.family == "unpool":
        return math.prod(op.x_shape[2:])  # the unpooled output's plane is x's
    return math.prod(op.kwargs()["input_shape"][2:])


@pytest.mark.parametrize("op", INDEX_OPS, ids=_ids)
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("num_threads", [1, 2])
def test_out_of_range_index_writes_nothing(op, channels_last, num_threads):
    """An index < -1 or >= the plane size: IndexError naming indices (the first bad one,
    in C order of the caller's layout, and its value), and a pre-filled out= is
    bit-for-bit untouched whatever the thread count and layout."""
    kw = op.kwargs()
    plane = _plane(op)
    if channels_last:
        for k, v in kw.items():
            if isinstance(v, np.ndarray):
                kw[k] = np.ascontiguousarray(np.moveaxis(v, 1, -1))
            elif k == "input_shape":
                kw[k] = (v[0],) + tuple(v[2:]) + (v[1],)
        kw["channels_last"] = True
    want = op.fn(**kw)
    for bad in (-2, plane, plane + 1, 2**62, -(2**62), -(2**31)):
        idx = kw["indices"].copy()
        if idx.dtype == np.int32 and not -(2**31) <= bad < 2**31:
            continue
        idx.flat[-1] = bad  # the last index: everything before it is valid
        idx.flat[idx.size // 2] = bad - 1 if bad < -1 else bad + 1  # ... but this one is first
        first = tuple(int(v) for v in np.unravel_index(idx.size // 2, idx.shape))
        out = np.full(want.shape, SENTINEL, want.dtype)
        raw = out.tobytes()
        e = _raises(IndexError, rf"^{re.escape(op.name)}: .*indices", lambda: op.fn(
            **{**kw, "indices": idx, "out": out, "num_threads": num_threads}), f"index {bad}")
        assert str(list(first)) in str(e) and str(int(idx[first])) in str(e), str(e)
        assert out.tobytes() == raw, f"index {bad}: out was written before the error"


@pytest.mark.parametrize("op", [op for op in INDEX_OPS if op.rank == 2], ids=_ids)
def test_out_of_range_index_writes_nothing_on_the_parallel_path(op):
    """The same on inputs large enough for the kernels to run several threads."""
    kw = op.kwargs()
    big = Op(op.family, op.rank, op.backward)
    shape = (4, 16, 64, 64)
    x = _values(shape)
    fam = op.family
    if fam == "unpool":
        y, i = fastpool.max_pool2d(x, 2, return_indices=True)
        kw = {"x": y, "indices": i, "kernel_size": 2} if not op.backward else \
             {"grad_output": x, "indices": i, "kernel_size": 2}
    else:
        forward = {"max": lambda: fastpool.max_pool2d(x, 2, return_indices=True),
                   "adaptive_max": lambda: fastpool.adaptive_max_pool2d(x, 7, return_indices=True),
                   "global_max": lambda: fastpool.global_max_pool(x, return_indices=True),
                   "fractional": lambda: fastpool.fractional_max_pool2d(
                       x, 3, output_size=40, seed=0, return_indices=True)}[fam]
        y, i = forward()
        kw = {"grad_output": _values(y.shape, seed=1), "indices": i, "input_shape": shape}
    want = big.fn(**kw, num_threads=2)
    idx = kw.pop("indices").copy()
    idx.flat[-1] = -2
    out = np.full(want.shape, SENTINEL, want.dtype)
    _raises(IndexError, rf"^{re.escape(op.name)}: .*indices",
            lambda: big.fn(**kw, indices=idx, out=out, num_threads=2), "last index -2")
    assert np.all(out == SENTINEL)


@pytest.mark.parametrize("op", INDEX_OPS, ids=_ids)
def test_indices_of_the_wrong_shape(op):
    """Indices whose shape does not match the array they index with: ValueError naming
    indices (for unpool backward, whose indices define the shapes: grad_output)."""
    i = op.kwargs()["indices"]
    arg = "grad_output" if op.family == "unpool" and op.backward else "indices"
    for bad in (i[..., :-1], i[:1], i[:, :1]):
        _raises(ValueError, _msg(op.name, arg), lambda: op(indices=np.ascontiguousarray(bad)),
                f"indices of shape {bad.shape}")


# --------------------------------------------------------------------------
# num_threads


@pytest.mark.parametrize("op", P(ALL_OPS + SPECIAL_OPS))
def test_absurd_num_threads(op):
    """0, negative, 10**9: ValueError; 2.5, True, NaN, "2": TypeError; both naming
    num_threads (test_errors.py has 0, -1, "2" and 1.5 for max/avg)."""
    for value, error in ((0, ValueError), (-1, ValueError), (10**9, ValueError),
                         (2**64, ValueError), (2.5, TypeError), (True, TypeError),
                         (float("nan"), TypeError), ("2", TypeError), (np.float64(2), TypeError)):
        _raises(error, _msg(op.name, "num_threads"), lambda: op(num_threads=value),
                repr(value))


_THREADS_CHILD = textwrap.dedent("""
    import resource, sys
    import numpy as np
    import fastpool
    x = np.random.default_rng(0).standard_normal((64, 64, 32, 32)).astype(np.float32)
    want = fastpool.max_pool2d(x, 3, num_threads=1)
    limit = 1 << 30  # 1 GiB of address space: far fewer than 4096 thread stacks
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        got = fastpool.max_pool2d(x, 3, num_threads=4096)
    except (ValueError, OverflowError, MemoryError, RuntimeError) as e:
        assert str(e).startswith("max_pool2d: "), e
        print("clean error:", e)
    else:
        assert np.array_equal(got, want)
        print("ok")
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is Linux's")
def test_more_threads_than_the_process_can_create_does_not_kill_it(tmp_path):
    """num_threads=4096 is accepted; in a process that cannot create that many threads
    (here: an address-space limit; in containers: a pids limit) the call must still
    return or raise, not end the process."""
    proc = subprocess.run([sys.executable, "-c", _THREADS_CHILD], capture_output=True,
                          cwd=tmp_path, text=True, timeout=300)
    assert proc.returncode == 0, f"child exited with {proc.returncode}: {proc.stderr[-2000:]}"


# --------------------------------------------------------------------------
# Options of particular families


@pytest.mark.parametrize("op", P([op for op in ALL_OPS if "norm_type" in op.kwargs()]))
def test_bad_norm_type(op):
    """norm_type must be a positive number (inf allowed): 0, negative, NaN, -inf are
    ValueError; None, a string, a complex number are TypeError; both naming norm_type."""
    for value, error in ((0, ValueError), (-1, ValueError), (-0.5, ValueError),
                         (float("nan"), ValueError), (float("-inf"), ValueError),
                         (None, TypeError), ("abc", TypeError), (1 + 1j, TypeError),
                         ([2], TypeError)):
        _raises(error, _msg(op.name, "norm_type"), lambda: op(norm_type=value), repr(value))


@pytest.mark.parametrize("op", [op for op in ALL_OPS if "norm_type" in op.kwargs()], ids=_ids)
def test_norm_type_rejects_strings_and_bools(op):
    for value in ("2", True):
        _raises(TypeError, _msg(op.name, "norm_type"), lambda: op(norm_type=value), repr(value))


_MAX_FWD = [op for op in ALL_OPS if op.has_indices_out]


@pytest.mark.parametrize("op", _MAX_FWD, ids=_ids)
def test_bad_nan_policy_and_index_dtype(op):
    """nan_policy other than "propagate"/"omit": ValueError; index_dtype other than
    int64/int32: TypeError; both naming the option."""
    for value in ("ignore", "", None, "OMIT ", 0):
        _raises(ValueError, _msg(op.name, "nan_policy"), lambda: op(nan_policy=value),
                repr(value))
    for value in (np.float32, np.int16, np.uint64, "int8", "bogus", None):
        if value is None:
            continue  # np.dtype(None) is float64: a TypeError as well, checked below
        _raises((TypeError, ValueError), _msg(op.name, "index_dtype"),
                lambda: op(return_indices=True, index_dtype=value), repr(value))
    _raises(TypeError, _msg(op.name, "index_dtype"),
            lambda: op(return_indices=True, index_dtype=None), "None")


@pytest.mark.parametrize("op", P([op for op in ALL_OPS if op.family == "adaptive_max"
                                  or op.family == "adaptive_avg"]), )
def test_bad_adaptive_output_size(op):
    """output_size: ints >= 1 or None per axis: 0 and negatives are ValueError, floats,
    NaN, bools and strings TypeError, a wrong count ValueError, all naming output_size."""
    if op.backward:
        g = op.kwargs()["grad_output"]
        _raises(ValueError, rf"^{re.escape(op.name)}: .*(grad_output|spatial)",
                lambda: op(grad_output=np.zeros(g.shape[:2] + (0,) * op.rank, g.dtype)),
                "empty grad_output")
        return
    for value, error in ((0, ValueError), ((4,) * (op.rank - 1) + (0,), ValueError),
                         (-3, ValueError), (2.5, TypeError), (float("nan"), TypeError),
                         (True, TypeError), ("3", TypeError), ((4,) * (op.rank + 1), ValueError),
                         ((), ValueError)):
        _raises(error, _msg(op.name, "output_size"), lambda: op(output_size=value), repr(value))
    # None keeps an axis: not an error
    assert op(output_size=(None,) * op.rank).shape == op.x_shape


@pytest.mark.parametrize("op", [op for op in ALL_OPS if op.family == "unpool"], ids=_ids)
def test_bad_unpool_arguments(op):
    """Unpooling: padding must be an int, a tuple or "valid" ("same" has no unpooling
    meaning); output_size a sequence within default ± stride; an output of size < 1."""
    r = op.rank
    default = (SIZE,) * r
    _raises(ValueError, _msg(op.name, "padding"), lambda: op(padding="same"), "same")
    _raises(ValueError, _msg(op.name, "padding"), lambda: op(padding="bogus"), "bogus")
    for value, error in ((6, TypeError), ((8,) * r, ValueError), ((4,) * r, ValueError),
                         ((6,) * (r + 3), ValueError), ((float("nan"),) * r, TypeError),
                         (("6",) * r, TypeError), ((6.0,) * r, TypeError)):
        _raises(error, _msg(op.name, "output_size"), lambda: op(output_size=value), repr(value))
    assert op(output_size=(7,) * r).shape[2:] == (7,) * r if not op.backward else True
    assert op(output_size=default) is not None
    _raises(ValueError, rf"^{re.escape(op.name)}: .*output size", lambda: op(padding=5),
            "padding 5")


_FRACTIONAL = [op for op in ALL_OPS if op.family == "fractional" and not op.backward]


@pytest.mark.parametrize("op", _FRACTIONAL, ids=_ids)
def test_bad_fractional_arguments(op):
    """Exactly one of output_size/output_ratio; ratios in (0, 1); an output that fits
    (O + k - 1 <= I); samples of shape (N, C, rank) in [0, 1); samples or seed."""
    r = op.rank
    n, c = op.x_shape[:2]
    name = op.name
    _raises(ValueError, rf"^{name}: .*output_size.*output_ratio",
            lambda: op(output_size=None), "neither")
    _raises(ValueError, rf"^{name}: .*output_size.*output_ratio",
            lambda: op(output_ratio=0.5), "both")
    for ratio in (0, 1, 1.5, -0.5, float("nan"), "0.5", True, (0.5,) * (r + 1)):
        _raises(ValueError, _msg(name, "output_ratio"),
                lambda: op(output_size=None, output_ratio=ratio), repr(ratio))
    for size in (SIZE, (SIZE,) * r, 0):
        _raises(ValueError, _msg(name, "output_size"), lambda: op(output_size=size), repr(size))
    good = np.full((n, c, r), 0.5)
    for samples in (np.full((n, c, r + 1), 0.5), good[:1], np.full((n, c, r), 1.0),
                    np.full((n, c, r), -0.1), np.full((n, c, r), np.nan)):
        _raises(ValueError, _msg(name, "samples"), lambda: op(seed=None, samples=samples),
                repr(samples)[:40])
    _raises(TypeError, _msg(name, "samples"), lambda: op(seed=None, samples="abc"), "'abc'")
    _raises(ValueError, rf"^{name}: .*samples.*seed", lambda: op(samples=good, seed=1),
            "samples and seed")
    op(seed=None, samples=good)


@pytest.mark.parametrize("op", _FRACTIONAL, ids=_ids)
def test_bad_fractional_seed(op):
    for seed in (-1, 2.5, "abc", float("nan")):
        _raises((TypeError, ValueError), _msg(op.name, "seed"), lambda: op(seed=seed),
                repr(seed))


@pytest.mark.parametrize("op", _FRACTIONAL, ids=_ids)
@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")
def test_complex_fractional_samples(op):
    n, c = op.x_shape[:2]
    samples = np.full((n, c, op.rank), 0.5 + 0.5j)
    _raises(TypeError, _msg(op.name, "samples"), lambda: op(seed=None, samples=samples),
            "complex samples")


@pytest.mark.parametrize("flag", ["ceil_mode", "channels_last", "return_indices",
                                  "count_include_pad"])
def test_boolean_flags_reject_arrays_and_strings(flag):
    x = _values((2, 3, 6, 6))
    fn = fastpool.avg_pool2d if flag == "count_include_pad" else fastpool.max_pool2d
    for value in (np.array([True, False]), "no"):
        _raises((TypeError, ValueError), _msg(fn.__name__, flag),
                lambda: fn(x, 2, **{flag: value}), repr(value))


def _special_flags():
    for op in SPECIAL_OPS:
        for p in inspect.signature(op.fn).parameters.values():
            if p.default is True or p.default is False:
                yield pytest.param(op, p.name, id=f"{op}-{p.name}")


@pytest.mark.parametrize("op, flag", list(_special_flags()))
def test_special_boolean_flags_reject_non_booleans(op, flag):
    """The special poolings' on/off options (channels_last, ceil_mode, training,
    return_indices, count_include_pad, average, signed_sqrt, l2_normalize,
    normalize_input) take bools (or 0/1): an array, a string, 2 or None is a TypeError
    naming the option, not a truth-value error or a silent "truthy" reading."""
    for value in (np.array([True, False]), "no", 2, None):
        _raises((TypeError, ValueError), _msg(op.name, flag), lambda: op(**{flag: value}),
                repr(value))


def _every_flag():
    for op in ALL_OPS + SPECIAL_OPS:
        for p in inspect.signature(op.fn).parameters.values():
            if p.default is True or p.default is False:
                yield pytest.param(op, p.name, id=f"{op}-{p.name}")


def _same_result(a, b) -> bool:
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(map(_same_result, a, b))
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("op, flag", list(_every_flag()))
def test_every_flag_reads_0_and_1_as_false_and_true(op, flag):
    """One rule for every on/off option of every operator (BAD_INPUTS.md row 23):
    True/False, NumPy bools and the integers 0 and 1, with the same result."""
    seeded = {"seed": 5} if "seed" in inspect.signature(op.fn).parameters else {}
    for as_int, as_bool in ((0, False), (1, True), (np.int64(1), np.True_)):
        try:
            want = op(**seeded, **{flag: as_bool})
        except (TypeError, ValueError) as e:  # a combination the operator refuses
            _raises(type(e), _msg(op.name, ""), lambda: op(**seeded, **{flag: as_int}),
                    f"{flag}={as_int!r}")
            continue
        got = op(**seeded, **{flag: as_int})
        assert _same_result(got, want), f"{op.name}({flag}={as_int!r}) differs from {as_bool}"


def _seeded_ops():
    for op in ALL_OPS + SPECIAL_OPS:
        if not op.backward and "seed" in inspect.signature(op.fn).parameters:
            yield pytest.param(op, id=str(op))


@pytest.mark.parametrize("op", list(_seeded_ops()))
def test_every_seed_takes_the_same_forms(op):
    """One seed rule (fractional and stochastic pooling alike): an integer in
    [0, 2**64), a NumPy Generator (which the draw advances) or SeedSequence; equal
    seeds, equal results."""
    big = 2**64 - 1
    assert _same_result(op(seed=big), op(seed=big))
    assert _same_result(op(seed=np.uint64(big)), op(seed=big))
    a = op(seed=np.random.default_rng(7))
    assert _same_result(a, op(seed=np.random.default_rng(7)))
    g = np.random.default_rng(7)
    assert _same_result(op(seed=g), a)
    assert g.bit_generator.state != np.random.default_rng(7).bit_generator.state
    assert _same_result(op(seed=np.random.SeedSequence(3)), op(seed=np.random.SeedSequence(3)))
    for value, error in ((2**64, ValueError), (-1, ValueError), (True, TypeError),
                         (1.0, TypeError), ("1", TypeError)):
        _raises(error, _msg(op.name, "seed"), lambda: op(seed=value), repr(value))


# --------------------------------------------------------------------------
# Backward: input_shape and grad_output


_SHAPE_OPS = [op for op in ALL_OPS if "input_shape" in op.kwargs()]



@pytest.mark.parametrize("op", [pytest.param(op, id=str(op))
                                for op in _SHAPE_OPS])
def test_input_shape_not_a_sequence(op):
    """None, an int, a float: TypeError naming input_shape."""
    for value in (None, 5, 2.5, object()):
        _raises(TypeError, _msg(op.name, "input_shape"), lambda: op(input_shape=value),
                repr(value))


@pytest.mark.parametrize("op", _SHAPE_OPS, ids=_ids)
def test_bad_input_shape_entries(op):
    """Entries that are not ints (TypeError), negative, or a wrong count (ValueError):
    each naming input_shape."""
    shape = op.x_shape
    cases = [("abcd", TypeError), (shape[:2] + (6.0,) + shape[3:], TypeError),
             (shape[:2] + (float("nan"),) + shape[3:], TypeError),
             ((True,) + shape[1:], TypeError), (shape[:2] + (-6,) + shape[3:], ValueError)]
    if not op.family.startswith("global"):
        cases += [(shape + (6,), ValueError)]
    for value, error in cases:
        _raises(error, _msg(op.name, "input_shape"), lambda: op(input_shape=value), repr(value))


@pytest.mark.parametrize("op", _SHAPE_OPS, ids=_ids)
def test_input_shape_disagreeing_with_grad_output(op):
    """Batch or channels that differ from grad_output's, or batched against unbatched:
    ValueError naming grad_output (or input_shape)."""
    shape = op.x_shape
    for value in ((shape[0] + 1,) + shape[1:], (shape[0], shape[1] + 1) + shape[2:]):
        _raises(ValueError, rf"^{re.escape(op.name)}: .*(grad_output|input_shape)",
                lambda: op(input_shape=value), repr(value))



@pytest.mark.parametrize("op", [
    pytest.param(op, id=str(op))
    for op in ALL_OPS if op.backward and "indices" not in op.kwargs()
    and op.family != "adaptive_avg"])
def test_grad_output_of_the_wrong_shape(op):
    """A grad_output that is not the forward output's shape: ValueError naming it.
    (Adaptive average backward has no such row: grad_output's shape is its output_size.)"""
    g = op.kwargs()["grad_output"]
    for bad in (g.shape[:-1] + (g.shape[-1] + 1,), g.shape[:-1] + (3,)):
        if bad == g.shape:
            continue
        _raises(ValueError, _msg(op.name, "grad_output"),
                lambda: op(grad_output=_values(bad)), f"grad_output {bad}")
    if op.family in ("lp", "global_lp"):
        y = op.kwargs()["y"]
        _raises(ValueError, rf"^{re.escape(op.name)}: .*(y|grad_output)",
                lambda: op(y=_values(y.shape[:-1] + (y.shape[-1] + 1,))), "y shape")


# --------------------------------------------------------------------------
# Malformed but legal: these work, and give the normal answer


def _byte_swapped(a: np.ndarray) -> np.ndarray:
    return a.astype(a.dtype.newbyteorder())


def _misaligned(a: np.ndarray) -> np.ndarray:
    buf = np.zeros(a.nbytes + 1, np.uint8)
    m = buf[1:].view(a.dtype).reshape(a.shape)
    m[...] = a
    assert not m.flags.aligned or a.dtype.itemsize == 1
    return m


def _read_only(a: np.ndarray) -> np.ndarray:
    b = a.copy()
    b.flags.writeable = False
    return b


def _reversed(a: np.ndarray) -> np.ndarray:
    """Negative strides on every axis."""
    axes = tuple(range(a.ndim))
    return np.flip(np.ascontiguousarray(np.flip(a, axes)), axes)


def _strided(a: np.ndarray) -> np.ndarray:
    """Every other element of a buffer twice as long along each axis."""
    big = np.zeros(tuple(2 * n for n in a.shape), a.dtype)
    view = big[tuple(slice(None, None, 2) for _ in a.shape)]
    view[...] = a
    return view


LEGAL = {"byte-swapped": _byte_swapped, "misaligned": _misaligned, "read-only": _read_only,
         "negative strides": _reversed, "non-contiguous": _strided,
         "a nested list": lambda a: a.tolist()}


@pytest.mark.parametrize("op", ALL_OPS + SPECIAL_OPS, ids=_ids)
@pytest.mark.parametrize("form", LEGAL)
def test_legal_inputs_work(op, form):
    """Every array argument (x, grad_output, y, indices), byte-swapped, misaligned,
    read-only, with negative strides, non-contiguous or as a nested list: the result is
    bit-for-bit the one for the plain array, in native byte order."""
    if op.family in ("max", "avg") and not op.backward and form in ("byte-swapped",
                                                                     "misaligned"):
        pytest.skip("tests/test_errors.py")
    kw = op.kwargs()
    want = op.fn(**kw)
    want = want if isinstance(want, tuple) else (want,)
    for arg in op.array_args:
        if form == "a nested list" and kw[arg].dtype == np.float32:
            continue  # a list of floats is float64
        got = op.fn(**{**kw, arg: LEGAL[form](kw[arg])})
        got = got if isinstance(got, tuple) else (got,)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.dtype.isnative, (arg, g.dtype)
            assert g.tobytes() == w.tobytes(), f"{arg} {form}: result differs"


@pytest.mark.parametrize("op", ALL_OPS + SPECIAL_OPS, ids=_ids)
def test_input_is_not_modified(op):
    kw = op.kwargs()
    before = {k: v.copy() for k, v in kw.items() if isinstance(v, np.ndarray)}
    op.fn(**kw)
    for k, v in before.items():
        assert kw[k].tobytes() == v.tobytes(), k


# --------------------------------------------------------------------------
# Empty arrays


def _empty(op: Op, axis: int) -> dict:
    """Valid arguments with extent 0 along the input's axis ``axis`` (0: batch, 1: channels)."""
    kw = op.kwargs()
    out = {}
    for k, v in kw.items():
        if isinstance(v, np.ndarray):
            out[k] = np.take(v, [], axis=axis)
        elif k == "input_shape":
            out[k] = tuple(0 if i == axis else n for i, n in enumerate(v))
        else:
            out[k] = v
    return out


@pytest.mark.parametrize("op", ALL_OPS, ids=_ids)
def test_empty_batch_or_channels_work(op):
    """N = 0 or C = 0: an empty result of the right shape (the other extents as usual)."""
    want = op()
    want = want[0] if isinstance(want, tuple) else want
    for axis in (0, 1):
        kw = _empty(op, axis)
        if op.family == "fractional" and not op.backward:
            kw["seed"] = 0
        got = op.fn(**kw)
        got = got[0] if isinstance(got, tuple) else got
        expected = tuple(0 if i == axis else n for i, n in enumerate(want.shape))
        assert got.shape == expected and got.dtype == want.dtype



@pytest.mark.parametrize("op", [pytest.param(op, id=str(op)) for op in ALL_OPS
                                if not op.backward and op.family not in ("max", "avg")])
def test_empty_spatial_axis(op):
    """A spatial extent of 0: ValueError naming x (adaptive, global) or the output size
    (windowed pooling and unpooling: it would be < 1)."""
    kw = op.kwargs()
    arrays = {k: v[..., :0] for k, v in kw.items() if isinstance(v, np.ndarray)}
    _raises(ValueError, rf"^{re.escape(op.name)}: .*(\bx\b|output size|output_size)",
            lambda: op(**arrays), "empty spatial axis")


@pytest.mark.parametrize("op", [op for op in _SHAPE_OPS], ids=_ids)
def test_empty_spatial_input_shape(op):
    """A backward whose input_shape has a 0 spatial extent: a clean error (the indices
    cannot point into an empty plane, nor can any window cover it)."""
    shape = op.x_shape[:2] + (0,) + op.x_shape[3:]
    _raises((ValueError, IndexError), rf"^{re.escape(op.name)}: ",
            lambda: op(input_shape=shape), "empty input_shape")


# --------------------------------------------------------------------------
# Helpers


@pytest.mark.parametrize("value, error", [
    (0, ValueError), (-1, ValueError), (2.5, TypeError), (float("nan"), TypeError),
    (True, TypeError), ("4", TypeError), (None, TypeError), (np.array(4), None),
    pytest.param(2**64, OverflowError),
], ids=repr)
@pytest.mark.parametrize("arg", ["in_size", "out_size"])
def test_adaptive_windows_arguments(arg, value, error):
    """in_size and out_size are ints >= 1 (a 0-d integer array is one)."""
    kw = {"in_size": 5, "out_size": 3, arg: value}
    if error is None:
        got = fastpool.adaptive_windows(**kw)
        want = fastpool.adaptive_windows(**{k: int(v) for k, v in kw.items()})
        assert all(np.array_equal(g, w) for g, w in zip(got, want))
        return
    _raises(error, _msg("adaptive_windows", arg), lambda: fastpool.adaptive_windows(**kw),
            repr(value))


def _indices_2d():
    x = _values((2, 3, 6, 6))
    _, i = fastpool.max_pool2d(x, 2, return_indices=True)
    return i, x.shape


@pytest.mark.parametrize("kwargs, error, arg", [
    ({"indices": "float"}, TypeError, "indices"),
    ({"indices": "bool"}, TypeError, "indices"),
    ({"indices": "object"}, TypeError, "indices"),
    ({"indices": "0d"}, ValueError, "indices"),
    ({"indices": "unbatched"}, ValueError, "indices"),
    ({"source": "caffe"}, ValueError, "source"),
    ({"target": None}, ValueError, "target"),
    ({"storage_order": 2}, ValueError, "storage_order"),
    ({"storage_order": float("nan")}, ValueError, "storage_order"),
    ({"input_shape": (2, 4, 6, 6)}, ValueError, "input_shape"),
    ({"input_shape": (2, 3, 6)}, ValueError, "input_shape"),
    ({"input_shape": (2, 3, 6.5, 6)}, TypeError, "input_shape"),
    ({"input_shape": "abcd"}, TypeError, "input_shape"),
    pytest.param({"input_shape": None}, TypeError, "input_shape"),
    pytest.param({"input_shape": 5}, TypeError, "input_shape"),
    pytest.param({"input_shape": (2, 3, 2**64, 6)}, OverflowError, "input_shape"),
    pytest.param({"indices": "minus2"}, IndexError, "indices"),
    pytest.param({"indices": "plane"}, IndexError, "indices"),
    pytest.param({"indices": "uint64"}, (IndexError, TypeError), "indices"),
    pytest.param({"input_shape": (2, 3, 0, 6)}, ValueError, "input_shape"),
    pytest.param({"input_shape": (2, 3, -6, 6)}, ValueError, "input_shape"),
    pytest.param({"storage_order": np.array([0, 1])}, ValueError, "storage_order"),
], ids=lambda v: repr(v) if not isinstance(v, dict) else ",".join(f"{k}={v[k]!r}" for k in v))
def test_convert_indices_arguments(kwargs, error, arg):
    i, shape = _indices_2d()
    kw = {"indices": i, "input_shape": shape}
    kw.update(kwargs)
    special = {"float": i.astype(np.float64), "bool": i.astype(bool), "object": i.astype(object),
               "0d": np.int64(3), "unbatched": i[0], "minus2": np.where(i == i.flat[0], -2, i),
               "plane": np.full_like(i, 36), "uint64": np.full(i.shape, 2**63 + 5, np.uint64)}
    if isinstance(kw["indices"], str):
        kw["indices"] = special[kw["indices"]]
    _raises(error, _msg("convert_indices", arg), lambda: fastpool.convert_indices(**kw),
            repr(kwargs)[:60])


@pytest.mark.parametrize("kwargs, error, arg", [
    ({"op": "median"}, ValueError, "op"),
    ({"op": None}, ValueError, "op"),
    ({"rank": 0}, ValueError, "rank"),
    ({"rank": 4}, ValueError, "rank"),
    ({"rank": 2.5}, ValueError, "rank"),
    ({"rank": np.float32(2.0)}, ValueError, "rank"),
    ({"rank": np.array([2, 2])}, ValueError, "rank"),
    ({"rank": "2"}, ValueError, "rank"),
    ({"input_shape": "abcd"}, TypeError, "input_shape"),
    ({"input_shape": (2, 3, -1, 6)}, ValueError, "input_shape"),
    ({"input_shape": (2, 3, 6.0, 6)}, TypeError, "input_shape"),
    ({"input_shape": (2, 3, 6, 6, 6, 6, 6)}, ValueError, "rank"),
    ({"kernel_size": float("nan")}, TypeError, "kernel_size"),
    ({"kernel_size": True}, TypeError, "kernel_size"),
    ({"stride": float("nan")}, TypeError, "stride"),
    ({"op": "adaptive", "output_size": 0}, ValueError, "output_size"),
    ({"op": "adaptive", "output_size": 2.5}, TypeError, "output_size"),
    ({"op": "fractional", "output_ratio": float("nan")}, ValueError, "output_ratio"),
    ({"op": "unpool", "output_size": (float("nan"), 6)}, TypeError, "output_size"),
    pytest.param({"input_shape": None}, TypeError, "input_shape"),
    pytest.param({"input_shape": 5}, TypeError, "input_shape"),
    pytest.param({"input_shape": (2**64, 3, 6, 6)}, OverflowError, "input_shape"),
    ({"kernel_size": np.array(2)}, None, "kernel_size"),  # a 0-d integer array is an int
    pytest.param({"op": "adaptive", "output_size": 2**64}, OverflowError, "output_size"),
    pytest.param({"op": "unpool", "kernel_size": 2**62}, OverflowError, "kernel_size"),
    pytest.param({"op": "global", "input_shape": (2**64, 3, 6, 6)}, OverflowError,
                 "input_shape"),
], ids=lambda v: repr(v) if not isinstance(v, dict) else ",".join(f"{k}={v[k]!r}" for k in v))
def test_pool_output_shape_arguments(kwargs, error, arg):
    kw = {"input_shape": (2, 3, 6, 6), "kernel_size": 2}
    if kwargs.get("op") in ("adaptive", "global"):
        kw.pop("kernel_size")
    if kwargs.get("op") == "fractional":
        kw["output_size"] = None
    kw.update(kwargs)
    if error is None:
        plain = {k: v.item() if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        assert fastpool.pool_output_shape(**kw) == fastpool.pool_output_shape(**plain)
        return
    _raises(error, _msg("pool_output_shape", arg), lambda: fastpool.pool_output_shape(**kw),
            repr(kwargs)[:60])


def test_bad_inputs_table_names_real_tests():
    """Every test that tests/BAD_INPUTS.md cites exists, so the table cannot drift from
    the tests that pin its rows."""
    here = Path(__file__).resolve().parent
    table = (here / "BAD_INPUTS.md").read_text()
    cited = set(re.findall(r"`(test_\w+)`", table))
    assert len(cited) > 40, cited
    defined = set()
    for path in here.glob("test_*.py"):
        defined |= set(re.findall(r"^def (test_\w+)\(", path.read_text(), re.M))
    assert not cited - defined, f"BAD_INPUTS.md cites tests that do not exist: {cited - defined}"
