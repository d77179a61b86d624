#!/usr/bin/env python
"""Run fastpool's benchmark suite (issue #4) and record its results in bench/README.md.

The suite is the one ``fastpool bench`` runs (:mod:`fastpool._bench`), with the
same options: fastpool against every installed peer (PyTorch NCHW and
channels_last, ONNX Runtime, JAX, TensorFlow) and the NumPy reference, at each
thread count, with the summary and a verdict per target.  This script also writes
the Markdown, under a heading with the date, between the results markers of
``bench/README.md`` (replacing the previous results: older runs live in git
history, or keep them with ``--json``).

    python bench/run.py                      # full shapes, threads 1 and all cores
    python bench/run.py --quick              # small shapes, about a minute
    python bench/run.py --json out.json      # also every sample, ratio and verdict
    python bench/run.py --plot speedup.png   # also a bar chart of the speed-ups

Extra option: ``--readme FILE`` writes the results into another file than
``bench/README.md`` (it is created, markers included, if missing).
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path
from typing import Any

from fastpool import _bench_threads
from fastpool._bench import format_markdown, main

README = Path(__file__).resolve().with_name("README.md")
BEGIN = "<!-- results:begin (written by bench/run.py; do not edit by hand) -->"
END = "<!-- results:end -->"


def results_section(report: dict[str, Any]) -> str:
    """The README section of one run: a dated heading, then the suite's Markdown."""
    date = datetime.datetime.fromisoformat(report["date"])
    heading = f"### Results, {date:%Y-%m-%d %H:%M} UTC ({report['mode']} run)"
    section = f"{heading}\n\n{format_markdown(report, title=False)}"
    if "thread_scenarios" in report:
        section += "\n" + _bench_threads.format_markdown(report["thread_scenarios"])
    return section


def write_results(readme: Path, section: str) -> None:
    """Put ``section`` between the results markers of ``readme``, replacing what was there."""
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    begin, end = text.find(BEGIN), text.find(END)
    if begin < 0 or end < begin:
        text = text.rstrip("\n") + ("\n\n" if text else "") + f"{BEGIN}\n{END}\n"
        begin, end = text.find(BEGIN), text.find(END)
    head, tail = text[: begin + len(BEGIN)], text[end:]
    readme.write_text(f"{head}\n\n{section.rstrip()}\n\n{tail}", encoding="utf-8")


def run(argv: list[str]) -> int:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--readme", type=Path, default=README)
    ours, rest = pre.parse_known_args(argv)

    def record(report: dict[str, Any], markdown: str) -> None:
        write_results(ours.readme, results_section(report))
        print(f"bench/run.py: results written to {ours.readme}", file=sys.stderr)

    return main(rest, prog="python bench/run.py", on_report=record)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
