#!/usr/bin/env python
"""Write the type stubs of fastpool's generated public functions.

``fastpool`` and ``fastpool.dask`` make their per-rank functions at import
time from one template each (so a rule and its docstring are written once);
type checkers and IDEs cannot see those, so the package ships
``fastpool/__init__.pyi`` and ``fastpool/dask.pyi``, written by this script
from the installed package's own signatures and docstrings:

    python scripts/stubs.py            # rewrite the two stubs in the source tree
    python scripts/stubs.py --check    # exit 1 if they differ from what it would write

Run it (outside the repository root, against an installed fastpool) after
changing a public signature or docstring; ``tests/test_typing.py`` fails while
the shipped stubs are out of date.  Parameter types follow the parameter's
name (one table below), return types the function's documented result.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from pathlib import Path

HEADER = '''\
# Type stubs for {module}, written by scripts/stubs.py from the package's own
# signatures and docstrings: do not edit; rerun the script.
'''

# Parameter types by name, for the parameters the runtime leaves unannotated.
ARRAY = "ArrayLike"
PARAM_TYPES = {
    "x": ARRAY, "y": "ArrayLike | None", "grad_output": ARRAY, "indices": ARRAY,
    "weight": ARRAY, "bias": ARRAY, "centroids": ARRAY, "alpha": "ArrayLike | float",
    "samples": "ArrayLike | None",
    "kernel_size": "_Size", "stride": "_Size | None", "dilation": "_Size",
    "padding": "_Padding", "output_size": "_OutputSize", "output_ratio": "float | Sequence[float] | None",
    "levels": "int | Sequence[int]", "kernel_sizes": "int | Sequence[int]",
    "input_shape": "Sequence[int]", "norm_type": "float",
    "num_threads": "int | None", "out": "NDArray[Any] | None",
    "indices_out": "NDArray[Any] | None", "index_dtype": "DTypeLike", "dtype": "DTypeLike",
    "nan_policy": 'Literal["propagate", "omit"]',
    "seed": "int | np.random.Generator | np.random.SeedSequence | None",
    "divisor_override": "int | None", "eps": "float", "even": "str", "mode": "str",
    "variant": "str", "order": "str | Sequence[str]", "source": "str", "target": "str",
    "storage_order": "int", "spatial_rank": "int", "rank": "int", "in_size": "int",
    "out_size": "int", "file": "IO[str] | None", "factor": "int | Sequence[int]",
    "method": "str", "store": "Any", "levels_list": "Sequence[Any]",
}
DASK_PARAM_TYPES = {"x": "Any", "out": "Any", "levels": "Any"}

_ALIASES = '''\
_Size = int | Sequence[int]
_Padding = int | str | Sequence[int | tuple[int, int]]
_OutputSize = int | Sequence[int | None] | None
'''

# Documented results that are not one array.
RETURNS = {
    "show_config": "None",
    "get_include": "str", "get_library_dir": "str", "get_cmake_dir": "str",
    "get_pkgconfig_dir": "str",
    "pool_output_shape": "tuple[int, ...]",
    "adaptive_windows": "tuple[NDArray[np.int64], NDArray[np.int64]]",
    "netvlad_backward": "tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]",
    "mixed_pool2d_backward": "NDArray[Any] | tuple[NDArray[Any], NDArray[Any]]",
    "bilinear_pool_backward": "NDArray[Any] | tuple[NDArray[Any], NDArray[Any]]",
    "pyramid": "list[Any]",
    "to_zarr": "Any",
}


def _param_type(module: str, p: inspect.Parameter) -> str:
    if p.kind is p.VAR_POSITIONAL or p.kind is p.VAR_KEYWORD:
        return "Any"
    if module == "fastpool.dask" and p.name in DASK_PARAM_TYPES:
        return DASK_PARAM_TYPES[p.name]
    if p.default is True or p.default is False:
        return "bool"
    ann = p.annotation
    if ann is not inspect.Parameter.empty and ann not in ("Any", Any_):
        return str(ann).replace("np.ndarray", "NDArray[Any]")
    return PARAM_TYPES.get(p.name, "Any")


Any_ = object()  # placeholder so the comparison above reads as intended


def _default(p: inspect.Parameter) -> str:
    return "" if p.default is inspect.Parameter.empty else " = ..."


def _params(module: str, sig: inspect.Signature, override: dict[str, str]) -> str:
    out: list[str] = []
    star = False
    for p in sig.parameters.values():
        t = override.get(p.name) or _param_type(module, p)
        if p.kind is p.VAR_POSITIONAL:
            out.append(f"*{p.name}: {t}")
            star = True
        elif p.kind is p.VAR_KEYWORD:
            out.append(f"**{p.name}: {t}")
        else:
            if p.kind is p.KEYWORD_ONLY and not star:
                out.append("*")
                star = True
            default = _default(p)
            if p.name in override and override[p.name].startswith("Literal[True]"):
                default = ""  # the overload that needs the flag said
            out.append(f"{p.name}: {t}{default}")
    return ", ".join(out)


def _doc(fn) -> str:
    doc = inspect.getdoc(fn)
    if not doc:
        return "    ..."
    body = doc.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    lines = body.split("\n")
    text = "\n".join(("    " + ln) if ln else "" for ln in lines)
    return f'    """{text.lstrip()}\n    """'


def _signature_text(module: str, params: list[tuple[inspect.Parameter, str, bool]]) -> str:
    """Parameters as (parameter, type, has_default), keyword-only ones marked by kind."""
    out, star = [], False
    for p, t, has_default in params:
        if p.kind is p.KEYWORD_ONLY and not star:
            out.append("*")
            star = True
        out.append(f"{p.name}: {t}{' = ...' if has_default else ''}")
    return ", ".join(out)


def _index_overloads(module: str, name: str, sig: inspect.Signature, array: str,
                     doc: str) -> list[str]:
    """Overloads on return_indices: False (or omitted) gives one array, True a
    pair, a plain bool either.  True is spelled twice, as a keyword and (when the
    flag is positional) positionally with every earlier argument given, since a
    parameter without a default cannot follow defaulted ones."""
    pair = f"tuple[{array}, {array}]"
    ps = list(sig.parameters.values())
    typed = [(p, _param_type(module, p), p.default is not p.empty) for p in ps]
    k = next(i for i, p in enumerate(ps) if p.name == "return_indices")

    def flag(t, has_default, kind=None):
        p = ps[k] if kind is None else ps[k].replace(kind=kind)
        return (p, t, has_default)

    variants = [
        (typed[:k] + [flag("Literal[False]", True)] + typed[k + 1:], array),
        ([q for i, q in enumerate(typed) if i != k]
         + [flag("Literal[True]", False, inspect.Parameter.KEYWORD_ONLY)], pair),
    ]
    if ps[k].kind is not ps[k].KEYWORD_ONLY:
        before = [(p, t, False) for p, t, _ in typed[:k]]
        variants.append((before + [flag("Literal[True]", False)] + typed[k + 1:], pair))
    variants.append((typed[:k] + [flag("bool", True)] + typed[k + 1:], f"{array} | {pair}"))
    out = []
    for n, (params, result) in enumerate(variants):
        # keyword-only parameters last, in their order
        params = ([q for q in params if q[0].kind is not q[0].KEYWORD_ONLY]
                  + [q for q in params if q[0].kind is q[0].KEYWORD_ONLY])
        body = f"\n{doc}" if n == 0 else " ..."
        out.append(f"@overload\ndef {name}({_signature_text(module, params)}) -> {result}:{body}")
    return out


def render(module_name: str) -> str:
    mod = importlib.import_module(module_name)
    array = "Any" if module_name == "fastpool.dask" else "NDArray[Any]"
    lines = [HEADER.format(module=module_name),
             "from collections.abc import Sequence",
             "from typing import IO, Any, Literal, overload", "",
             "import numpy as np",
             "from numpy.typing import ArrayLike, DTypeLike, NDArray", ""]
    if module_name == "fastpool":
        lines += ["__version__: str", ""]
    lines += [_ALIASES, f"__all__ = {sorted(mod.__all__)!r}", ""]
    for name in mod.__all__:
        fn = getattr(mod, name)
        if not callable(fn):
            continue
        sig = inspect.signature(fn)
        if "return_indices" in sig.parameters:
            lines += _index_overloads(module_name, name, sig, array, _doc(fn))
            lines.append("")
            continue
        result = RETURNS.get(name, array)
        lines.append(f"def {name}({_params(module_name, sig, {})}) -> {result}:")
        lines.append(_doc(fn))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


TARGETS = {"fastpool": "fastpool/__init__.pyi", "fastpool.dask": "fastpool/dask.pyi"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the stubs in the source tree; exit 1 if they differ")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the source tree (default: this script's repository)")
    args = parser.parse_args(argv)
    stale = []
    for module, rel in TARGETS.items():
        text = render(module)
        path = args.root / rel
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(rel)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)} (run python scripts/stubs.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
