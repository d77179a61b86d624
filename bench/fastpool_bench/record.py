"""Run the benchmark suite and record its results in a Markdown file (``bench/README.md``).

The suite is the one ``fastpool bench`` runs (:mod:`fastpool_bench.suite`), with the
same options: fastpool against every installed peer (PyTorch NCHW and
channels_last, ONNX Runtime, JAX, TensorFlow) and the NumPy reference, at each
thread count, with the summary and a verdict per target, then the thread
scenarios.  This module also writes the Markdown, under a heading with the date,
between the results markers of the file (replacing the previous results: older
runs live in git history, or keep them with ``--json``).  The file is created,
markers included, if missing.

``bench/run.py`` in the repository runs :func:`main` on ``bench/README.md``;
``python -m fastpool_bench.record --readme FILE [options]`` writes another file.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastpool_bench import thread_scenarios
from fastpool_bench.suite import format_markdown
from fastpool_bench.suite import main as suite_main

__all__ = ["BEGIN", "END", "main", "results_section", "write_results"]

BEGIN = "<!-- results:begin (written by bench/run.py; do not edit by hand) -->"
END = "<!-- results:end -->"


def results_section(report: dict[str, Any]) -> str:
    """The README section of one run: a dated heading, then the suite's Markdown."""
    date = datetime.datetime.fromisoformat(report["date"])
    heading = f"### Results, {date:%Y-%m-%d %H:%M} UTC ({report['mode']} run)"
    section = f"{heading}\n\n{format_markdown(report, title=False)}"
    if "thread_scenarios" in report:
        section += "\n" + thread_scenarios.format_markdown(report["thread_scenarios"])
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


def main(argv: Sequence[str] | None = None, *, readme: Path | None = None,
         prog: str = "python -m fastpool_bench.record") -> int:
    """Run the suite with ``argv`` (the suite's options, plus ``--readme FILE``, which
    defaults to ``readme``) and write its results into that file; the suite's exit status."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--readme", type=Path, default=readme)
    ours, rest = pre.parse_known_args(argv)
    if ours.readme is None and not {"-h", "--help", "--list"} & set(rest):
        print(f"{prog}: needs --readme FILE (the file to write the results into)",
              file=sys.stderr)
        return 2
    label = prog.split()[-1]

    def record(report: dict[str, Any], markdown: str) -> None:
        write_results(ours.readme, results_section(report))
        print(f"{label}: results written to {ours.readme}", file=sys.stderr)

    return suite_main(rest, prog=prog, on_report=record)


if __name__ == "__main__":
    sys.exit(main())
