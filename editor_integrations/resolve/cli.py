"""`muvi resolve install` and `muvi resolve score-otio` (also `muvi-resolve install|score-otio`).

    muvi resolve install [--menu Edit|Utility] [--folder DIR] [--dry-run]
    muvi resolve score-otio TIMELINE.otio --out SCORED.otio [same options as `muvi timeline score`]

The runtime does not import this package (docs/architecture.md, "Packages"): `muvi` finds `add_command`
through the `muvi.commands` entry point declared in pyproject.toml (`muvi_plugin.console`), and the console
script `muvi-resolve` (`main`) runs the same command with the same exit codes where that entry point is not
installed. Argument parsing over `install` and `muvi_plugin.timeline` (README.md in this folder).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from muvi_plugin.console import add_timeline_options, cancel_signals, progress_bar


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add `resolve install` and `resolve score-otio` to `muvi`'s subcommands (a `muvi.commands` entry)."""
    resolve = commands.add_parser("resolve", help="DaVinci Resolve: install the menu script, score .otio")
    actions = resolve.add_subparsers(dest="action", required=True)
    install = actions.add_parser(
        "install", help="put the muvi script into Resolve's Workspace > Scripts menu"
    )
    install.add_argument("--menu", choices=("Edit", "Utility"), default="Edit", help="the Scripts submenu")
    install.add_argument("--folder", type=Path, default=None, help="a Scripts folder instead of the OS's")
    install.add_argument("--dry-run", action="store_true", help="only print where the script would go")
    otio = actions.add_parser(
        "score-otio", help="score a timeline exported from Resolve as .otio (every edition)"
    )
    otio.add_argument("timeline", type=Path, help="File > Export > Timeline... as OpenTimelineIO")
    otio.add_argument(
        "--out", type=Path, required=True, help="the new .otio, for File > Import > Timeline..."
    )
    add_timeline_options(otio)
    resolve.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run a parsed `muvi resolve ...`; errors propagate to `muvi`'s `main`, which reports them."""
    if args.action == "install":
        from editor_integrations.resolve.install import install

        where = install(menu=args.menu, folder=args.folder, dry_run=args.dry_run)
        verb = "would install" if args.dry_run else "installed"
        print(f"muvi: {verb} the Resolve script at {where} (Workspace > Scripts > {args.menu} > muvi)")
        return 0
    from editor_integrations.resolve.otio_route import choose_ranges
    from muvi_plugin.timeline import cli

    choose_ranges(args)
    with cancel_signals() as cancel:
        return cli.score(args, cancel=cancel, progress_bar=progress_bar)


def main(argv: Sequence[str] | None = None) -> int:
    """`muvi-resolve ARGS`: the same as `muvi resolve ARGS`; returns the exit code."""
    import sys

    from muvi_plugin.cli import main as muvi

    return muvi(["resolve", *(sys.argv[1:] if argv is None else argv)], commands_from=(add_command,))
