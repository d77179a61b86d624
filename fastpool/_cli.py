"""The ``fastpool`` command (also ``python -m fastpool``).

Subcommands:

``fastpool info``
    The version, build flags, OpenMP on/off and default thread count
    (:func:`fastpool.show_config`).
``fastpool bench``
    Time fastpool against PyTorch and the NumPy reference on built-in
    synthetic workloads and print a Markdown table (:mod:`fastpool._bench`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def build_parser(prog: str = "fastpool") -> argparse.ArgumentParser:
    """The ``fastpool`` argument parser with its subcommands."""
    from fastpool import __version__, _bench

    parser = argparse.ArgumentParser(
        prog=prog,
        description="fastpool: fast, exact CPU pooling for CNNs.",
    )
    parser.add_argument("--version", action="version", version=f"fastpool {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "info",
        help="show the version, build flags, OpenMP and default thread count",
        description="Show the version, build flags, OpenMP on/off and default thread count.",
    )
    bench = commands.add_parser(
        "bench",
        help="time fastpool against PyTorch and NumPy on this machine",
        description=_bench.__doc__.split("\n\n")[0].replace("\n", " "),
    )
    _bench.add_arguments(bench)
    bench.set_defaults(bench_parser=bench)
    return parser


def _info() -> int:
    import fastpool

    fastpool.show_config()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fastpool`` command line; returns the exit status."""
    prog = "python -m fastpool" if argv is None and _run_as_module() else "fastpool"
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        if args.command == "info":
            return _info()
        if args.command == "bench":
            from fastpool import _bench

            return _bench.run_command(args, args.bench_parser)
        parser.print_help(sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into a command that stopped reading (``| head``): not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _run_as_module() -> bool:
    return os.path.basename(sys.argv[0]) == "__main__.py"
