"""Replacing one `## ` section of `docs/benchmarks.md`, leaving every other section as it is."""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

INTRO = (
    "# Benchmarks\n\n"
    "Measured speeds of muvi on the machines named in each section. Every number comes from a script under\n"
    "`benchmarks/` (see its README); each section says the exact command, the machine and the date.\n"
)


def replace_section(path: Path, heading: str, section: str) -> None:
    """Put `section` (starting with the `heading` line) in place of the file's `heading` section, or append.

    The file is created (with `INTRO`) when missing; it is re-read just before writing, so benchmarks that
    ran side by side do not undo each other's sections.
    """
    text = path.read_text() if path.exists() else INTRO
    start = text.find(heading + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + section + (text[end:] if end >= 0 else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def invocation(module: str, argv: Sequence[str] | None) -> str:
    """The command line that ran benchmark `module` (`argv` as given to its main; None: this process's)."""
    return f"python -m {module} " + shlex.join(sys.argv[1:] if argv is None else argv)


def measured(load: Sequence[float]) -> str:
    """'Measured DATE on MACHINE, N cores (load average A at the start, B at the end)'."""
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"Measured {when} on {platform.machine()}, {os.cpu_count()} cores (load average {load[0]:.1f} at the "
        f"start, {load[1]:.1f} at the end)"
    )
