"""What every muvi command line shares: option parsers, Ctrl-C and SIGTERM as cancel, the progress bar,
subcommands added by other packages.

`muvi_plugin.cli` (`muvi`), `muvi_plugin.timeline.cli` (`muvi timeline`, `muvi batch`) and the front ends'
own commands (`editor_integrations.resolve.cli`: `muvi resolve`, `muvi-resolve`) parse options and report
progress the same way through these helpers; none of them is private to one command.

Subcommands from other packages: a package above the runtime (docs/architecture.md) declares an entry point
in the group `muvi.commands`, e.g. in its pyproject.toml

    [project.entry-points."muvi.commands"]
    resolve = "editor_integrations.resolve.cli:add_command"

naming a function `add_command(commands)` that adds one subparser to `muvi`'s subcommands and sets
`run=HANDLER` on it (`parser.set_defaults(run=...)`); `muvi` calls `HANDLER(args)` and maps its errors to
exit codes like its own commands'. So `muvi resolve ...` works without the runtime importing the
integration (imports point one way).
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import IO

COMMANDS_GROUP = "muvi.commands"

AddCommand = Callable[[argparse._SubParsersAction], None]


def loudness(text: str) -> float:
    """`--loudness`: LUFS between -70 and 0, or 'off' (NaN)."""
    if text.lower() == "off":
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LUFS (e.g. -16) or 'off', got {text!r}") from None
    if not -70.0 <= value <= 0.0:
        raise argparse.ArgumentTypeError(f"loudness must be between -70 and 0 LUFS, got {value:g}")
    return value


def add_timeline_options(parser: argparse.ArgumentParser) -> None:
    """The range and settings options of every command that scores a timeline."""
    ranges = parser.add_argument_group("what to score (default: the timeline's in/out, else all of it)")
    ranges.add_argument(
        "--range",
        dest="ranges",
        action="append",
        default=[],
        metavar="START-END",
        help="timecode 01:00:10:00-01:00:20:00 (absolute), frames 240-480 or seconds 10s-20.5s; repeatable",
    )
    ranges.add_argument(
        "--markers", default=None, metavar="NAME", help="every range marked by markers of NAME"
    )
    ranges.add_argument("--marker-color", default=None, metavar="COLOUR", help="... or of this colour")
    ranges.add_argument("--whole", action="store_true", help="the whole timeline")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the bundle's)")
    parser.add_argument("--cfg", type=float, default=None, help="guidance scale (default: the bundle's)")
    parser.add_argument(
        "--search-root",
        dest="search_roots",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="folder to look for moved media in; repeatable",
    )
    parser.add_argument(
        "--missing",
        choices=("error", "black"),
        default="error",
        help="missing media: fail or black",
    )
    parser.add_argument("--edl-rate", type=float, default=None, help="frame rate of EDL inputs (default 24)")
    parser.add_argument("--bundle", type=Path, default=None, help="bundle folder or .zip (default: built in)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads per graph")
    parser.add_argument(
        "--loudness", type=loudness, default=None, metavar="LUFS", help="target LUFS or 'off'"
    )


@contextmanager
def cancel_signals(*, stdin: bool = False) -> Iterator[threading.Event]:
    """A cancel flag set by Ctrl-C (SIGINT) or SIGTERM, and with `stdin` when stdin reaches its end.

    The job stops at its next check and the atomic writers leave nothing; a second signal interrupts at
    once (KeyboardInterrupt). `stdin` is for `--progress json` (`muvi_plugin.host`): a host cancels by
    closing muvi's stdin, which works on every OS. Signal handlers need the main thread: elsewhere only
    stdin is watched.
    """
    cancel = threading.Event()
    if stdin and sys.stdin is not None:
        threading.Thread(target=_set_at_end, args=(sys.stdin, cancel), daemon=True).start()
    if threading.current_thread() is not threading.main_thread():
        yield cancel
        return

    def handler(signum, frame) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()

    numbers = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
    previous = {number: signal.signal(number, handler) for number in numbers}
    try:
        yield cancel
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def _set_at_end(stream: IO[str], cancel: threading.Event) -> None:
    try:
        source = getattr(stream, "buffer", stream)
        while source.read1(4096) if hasattr(source, "read1") else source.read(4096):
            pass  # whatever a host writes is ignored; only the end matters
    except (OSError, ValueError):
        pass
    cancel.set()


@contextmanager
def progress_bar() -> Iterator[Callable[[str, float], None]]:
    """A `progress(stage, fraction)` callback drawing one tqdm bar on stderr."""
    from tqdm import tqdm

    with tqdm(
        total=100, file=sys.stderr, unit="%", bar_format="{desc:<8} {percentage:3.0f}%|{bar}| {elapsed}"
    ) as bar:

        def progress(stage: str, fraction: float) -> None:
            bar.set_description_str(stage, refresh=False)
            bar.update(round(100 * fraction) - bar.n)

        yield progress


def unused_name(path: Path) -> Path:
    """`path` if nothing is there yet, else the first free `<stem>-2<suffix>`, `<stem>-3<suffix>`, ...

    For outputs muvi names itself (`muvi score` without `--out`: `NAME.muvi.wav`, then `NAME.muvi-2.wav`):
    a second take never silently replaces the first, as an editor's render or capture does not.
    """
    count = 2
    candidate = path
    while candidate.exists() or candidate.is_symlink():
        candidate = path.with_name(f"{path.stem}-{count}{path.suffix}")
        count += 1
    return candidate


def discovered_commands() -> list[AddCommand]:
    """The `add_command` functions of every installed `muvi.commands` entry point, one per name.

    A plugin that fails to import is left out with a warning line: it must not break `muvi score`.
    """
    found: dict[str, AddCommand] = {}
    for point in entry_points(group=COMMANDS_GROUP):
        if point.name in found:
            continue  # the same distribution seen twice on sys.path
        try:
            found[point.name] = point.load()
        except Exception as error:  # an optional front end whose dependencies are missing
            print(f"muvi: warning: command {point.name!r} not loaded: {error}", file=sys.stderr)
    return list(found.values())


def add_commands(commands: argparse._SubParsersAction, adders: Iterable[AddCommand]) -> None:
    """Let each of `adders` add its subcommand to `commands`."""
    for add in adders:
        add(commands)
