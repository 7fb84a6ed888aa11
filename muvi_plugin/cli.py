"""`muvi`: score a video range from the command line, and inspect or verify bundles.

    muvi score VIDEO [--start S] [--end S] [--seed N] [--steps N] [--cfg X] [--tempo BPM] [--style REF]
                     [--bundle DIR] [--out FILE] [--mux OUT.mp4] [--device auto|cpu|cuda]
                     [--loudness LUFS|off] [--threads N] [--report REPORT.json] [--progress bar|json]
    muvi bundle info [DIR]
    muvi bundle verify [DIR]
    muvi timeline score TIMELINE [--range START-END ...|--markers NAME|--whole] --out NEW.otio [...]
    muvi batch TIMELINE... --out-dir DIR [--jobs N] [...]
    muvi panel [VIDEO]                       (the PySide6 window; needs the `panel` extra)
    muvi resolve ...                         (and other commands installed packages add: `muvi.commands`)

(The timeline commands are documented in `muvi_plugin.timeline.cli` and `muvi_plugin/timeline/README.md`;
`muvi resolve` comes from `editor_integrations.resolve.cli` through the `muvi.commands` entry point, see
`muvi_plugin.console`.)

Argument parsing over `muvi_plugin.api` (`_parsed_args` + `main`). Exit codes: 0 done; 1 a bundle that
fails verification (or, with `--progress json`, an unexpected failure); 2 bad input (one line on stderr, no
traceback); 130 cancelled (Ctrl-C, SIGTERM, or stdin closed under `--progress json`). Outputs are written
atomically, so a failure or a cancel leaves no partial file. `--progress json` is the host protocol
(`muvi_plugin.host`, docs/hosts.md): progress, the result and errors as JSON lines on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from muvi_plugin import __version__
from muvi_plugin.console import (
    AddCommand,
    add_commands,
    cancel_signals,
    discovered_commands,
    loudness,
    progress_bar,
    unused_name,
)
from muvi_plugin.host import EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_FAILED, PROTOCOL

if TYPE_CHECKING:
    from muvi_plugin.api import ScoreResult
    from muvi_plugin.host import JsonEvents

EXIT_VERIFY_FAILED = EXIT_FAILED


def _parsed_args(
    argv: Sequence[str] | None = None, commands_from: Iterable[AddCommand] | None = None
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="muvi", description="Music for video, with a muvi model bundle.")
    parser.add_argument("--version", action="version", version=f"muvi {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    score = commands.add_parser("score", help="write music for a video range")
    score.add_argument("video", type=Path, help="the video file")
    score.add_argument("--start", type=float, default=0.0, help="range start in seconds (default 0)")
    score.add_argument("--end", type=float, default=None, help="range end in seconds (default: the end)")
    score.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    score.add_argument("--steps", type=int, default=None, help="sampler steps (default: the bundle's)")
    score.add_argument("--cfg", type=float, default=None, help="guidance scale (default: the bundle's)")
    score.add_argument(
        "--tempo",
        type=float,
        default=None,
        metavar="BPM",
        help="the range's tempo plan, 60-180 BPM (default: chosen from the picture); recorded in the report, "
        "not yet followed by the model",
    )
    score.add_argument("--style", type=Path, default=None, help="reference audio whose style to continue")
    score.add_argument("--style-start", type=float, default=0.0, help="where the style prompt starts (s)")
    score.add_argument("--bundle", type=Path, default=None, help="bundle folder or .zip (default: built in)")
    score.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output .wav or .flac (default: ./<video stem>.muvi.wav, or .muvi-2.wav, ... if taken)",
    )
    score.add_argument(
        "--mux",
        type=Path,
        default=None,
        help="also write a copy of the whole video with the music from --start (.mp4 .m4v .mov .mkv)",
    )
    score.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    score.add_argument(
        "--loudness",
        type=loudness,
        default=None,
        metavar="LUFS",
        help="target integrated loudness, or 'off' (default: the bundle's, usually -16)",
    )
    score.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads per graph")
    score.add_argument(
        "--report",
        type=Path,
        default=None,
        help="also write the take's report (seed, bundle id, ...) as JSON",
    )
    score.add_argument(
        "--progress",
        choices=("bar", "json"),
        default="bar",
        help="bar: a progress bar on stderr; json: the host protocol, one JSON event a line on stdout, "
        "cancelled by closing stdin (docs/hosts.md)",
    )

    bundle = commands.add_parser("bundle", help="inspect a model bundle")
    actions = bundle.add_subparsers(dest="action", required=True)
    for name, text in (("info", "summarise the manifest"), ("verify", "check every graph's sha256")):
        action = actions.add_parser(name, help=text)
        action.add_argument("path", type=Path, nargs="?", default=None, help="bundle (default: built in)")
    panel = commands.add_parser("panel", help="open the desktop panel (needs: pip install 'muvi[panel]')")
    panel.add_argument("video", type=Path, nargs="?", default=None, help="a video to open")
    from muvi_plugin.timeline.cli import add_parsers

    add_parsers(commands)
    add_commands(commands, discovered_commands() if commands_from is None else commands_from)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, *, commands_from: Iterable[AddCommand] | None = None) -> int:
    """Run the `muvi` command line; returns the exit code.

    `commands_from`: the `add_command` functions of the extra subcommands; None for the installed
    `muvi.commands` entry points (`muvi_plugin.console`).
    """
    from muvi_plugin.api import ERRORS, Cancelled
    from muvi_plugin.errors import ChecksumError
    from muvi_plugin.host import JsonEvents

    args = _parsed_args(argv, commands_from)
    events = JsonEvents() if getattr(args, "progress", None) == "json" else None

    def failed(message: str, code: int) -> int:
        print(f"muvi: {message}", file=sys.stderr)
        if events is not None:
            events.failure(message.removeprefix("error: "), code)
        return code

    try:
        if getattr(args, "run", None) is not None:  # a subcommand another package added
            return args.run(args)
        if args.command == "score":
            return _score(args, events)
        if args.command in ("timeline", "batch"):
            return _timeline(args)
        if args.command == "panel":
            return _panel(args)
        if args.action == "info":
            return _info(args.path)
        return _verify(args.path)
    except Cancelled:
        return failed("cancelled; nothing was written", EXIT_CANCELLED)
    except KeyboardInterrupt:
        return failed("interrupted; nothing was written", EXIT_CANCELLED)
    except ChecksumError as error:
        return failed(f"error: {error}", EXIT_VERIFY_FAILED if args.command == "bundle" else EXIT_BAD_INPUT)
    except ERRORS as error:
        return failed(f"error: {error}", EXIT_BAD_INPUT)
    except Exception as error:
        if events is None:
            raise  # a bug: the traceback says where
        traceback.print_exc()
        return failed(f"error: unexpected {type(error).__name__}: {error}", EXIT_FAILED)


def _score(args: argparse.Namespace, events: JsonEvents | None = None) -> int:
    """`muvi score`; with `events` (`--progress json`) progress, the result and errors are JSON lines."""
    from muvi_plugin.api import MuviError, ScoreRequest, load_bundle
    from muvi_plugin.audio_io import AUDIO_FORMATS, MUX_FORMATS
    from muvi_plugin.guard import bundle_inputs, check_outputs, input_problem
    from muvi_plugin.media import MediaError

    # A name muvi picks never replaces an earlier take (NAME.muvi-2.wav, ...); --out is the user's choice.
    out = args.out if args.out is not None else unused_name(Path.cwd() / f"{args.video.stem}.muvi.wav")
    # Check what can be checked before the model loads and the work starts.
    if out.suffix.lower() not in AUDIO_FORMATS:
        raise MuviError(f"{out}: unsupported audio format (use {' or '.join(AUDIO_FORMATS)})")
    if args.mux is not None and args.mux.suffix.lower() not in MUX_FORMATS:
        raise MuviError(f"{args.mux}: unsupported container for muxing (use one of {', '.join(MUX_FORMATS)})")
    request = ScoreRequest(
        video=args.video,
        start=args.start,
        end=args.end,
        seed=args.seed,
        steps=args.steps,
        guidance=args.cfg,
        style=args.style,
        style_start=args.style_start,
        loudness=args.loudness,  # NaN: off
        tempo=args.tempo,
    )
    request.validate()
    _check_threads(args.threads)
    for path in (args.video, args.style):  # a FIFO or a folder is refused before anything opens it
        if path is not None and (problem := input_problem(path)) is not None:
            raise MediaError(path, problem)
    # Every output before any work: none is an input, all can be written; else nothing is written.
    check_outputs(
        {"--out": out, "--mux": args.mux, "--report": args.report},
        inputs=[("video", args.video), ("style reference", args.style), *bundle_inputs(args.bundle)],
    )
    # SIGINT, SIGTERM (and for a host, stdin closing) cancel from here on: the job stops, nothing is left.
    with cancel_signals(stdin=events is not None) as cancel:
        if events is not None:
            events.progress("load", 0.0)
        scorer = load_bundle(args.bundle, device=args.device, threads=args.threads)
        scorer.settings(request)  # bad input fails here, in one line, before a progress bar is drawn
        with nullcontext(events.progress) if events is not None else progress_bar() as progress:
            result = scorer.score(request, progress=progress, cancel=cancel)
        written = _write_take(result, args, out, cancel)
    if events is not None:
        events.emit("result", protocol=PROTOCOL, **written, record=result.report.to_dict())
        return 0
    r, m = result.report, result.report.mastering
    plan = r.tempo_plan
    tempo = (
        f", tempo plan {plan.tempo:g} BPM{' (given)' if plan.given else ''}: "
        f"{plan.on_beat} of {len(plan.hits)} visual events on beats"
        if plan is not None
        else ""
    )
    levels = (
        f", {m.loudness_lufs:.1f} LUFS, {m.true_peak_dbtp:.1f} dBTP"
        if m is not None and m.loudness_lufs is not None and m.true_peak_dbtp is not None
        else ""
    )
    print(
        f"{out}: {result.duration:.2f} s of music for {r.video} {r.start:g}-{r.end:g} s "
        f"(seed {r.seed}, {r.steps} steps, guidance {r.guidance:g}, {len(r.windows)} window(s), "
        f"{r.provider.removesuffix('ExecutionProvider')}, {r.seconds['total']:.1f} s, "
        f"RTF {r.realtime_factor:.2f}{levels}{tempo})"
        + (f"; video copy: {args.mux}" if args.mux is not None else "")
    )
    return 0


def _write_take(result: ScoreResult, args: argparse.Namespace, out: Path, cancel) -> dict[str, Path | None]:
    """The music, the report and the video copy: all of them or none (a failure or a cancel removes the
    ones already written; each is atomic, so none is ever half-written). Returns what was written."""
    from muvi_plugin.api import Cancelled
    from muvi_plugin.atomic import write_text
    from muvi_plugin.audio_io import mux_into_copy

    written: list[Path] = []
    try:
        written.append(result.write(out))
        if args.report is not None:  # the take's provenance, for scripts and hosts that want a file
            written.append(write_text(args.report, json.dumps(result.report.to_dict(), indent=2)))
        if args.mux is not None:
            start = result.report.start
            written.append(mux_into_copy(args.video, result.audio, result.sample_rate, args.mux, start=start))
        if cancel.is_set():  # asked while writing: the job did not complete
            raise Cancelled()
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return {"out": out, "mux": args.mux, "report": args.report}


def _check_threads(threads: int | None) -> None:
    from muvi_plugin import limits

    if threads is not None:
        limits.integer("--threads", threads, limits.THREADS)


def _panel(args: argparse.Namespace) -> int:
    try:
        from muvi_plugin.panel.app import run
    except ImportError as error:  # PySide6 is an extra: the runtime installs into editors without it
        print(f"muvi: error: the panel needs PySide6 (pip install 'muvi[panel]'): {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return run(args.video)


def _timeline(args: argparse.Namespace) -> int:
    from muvi_plugin.timeline import cli

    if args.command == "batch":
        try:
            return cli.batch(args)
        except KeyboardInterrupt:
            print("muvi: interrupted; finished ranges are kept, run it again to resume", file=sys.stderr)
            return EXIT_CANCELLED
    with cancel_signals() as cancel:
        return cli.score(args, cancel=cancel, progress_bar=progress_bar)


def _info(path: Path | None) -> int:
    from muvi_plugin.bundle import default_bundle_path, read_bundle_manifest
    from muvi_plugin.manifest import compute_bundle_id

    m = read_bundle_manifest(path)
    d, v, a, z = m.defaults, m.video, m.audio, m.latent
    lines = [
        ("bundle", str(path if path is not None else default_bundle_path())),
        ("name", m.name),
        ("id", m.bundle_id or compute_bundle_id(m)),
        ("precision", f"{m.precision}, opset {m.opset}, {m.exporter}"),
        ("audio", f"{a.sample_rate} Hz, hop {a.hop_length}, {a.n_mels} mel bands"),
        ("latent", f"{z.channels} channels, {z.rate:g} frames/s"),
        (
            "video",
            f"{v.fps:g} fps, {v.image_size}x{v.image_size}, clips of {v.clip_frames} frames, "
            f"{v.grid[0]}x{v.grid[1]} patches of {v.feature_dim}{', CLS' if v.has_cls else ''}",
        ),
        (
            "defaults",
            f"{d.steps} steps, guidance {d.guidance:g}, windows of {d.max_window_seconds:g} s with "
            f"{d.context_seconds:g} s context and {d.crossfade_seconds:g} s crossfade, style prompt up to "
            f"{d.style_seconds:g} s, {d.loudness_lufs:g} LUFS",
        ),
        ("graphs", ", ".join(f"{name}: {g.file}" for name, g in m.graphs.items())),
    ]
    lines += [
        (f"{key}", _short(value)) for key, value in sorted(m.provenance.items()) if key != "verification"
    ]
    width = max(len(key) for key, _ in lines)
    for key, value in lines:
        print(f"{key:<{width}}  {value}")
    return 0


def _short(value: object, limit: int = 100) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _verify(path: Path | None) -> int:
    from muvi_plugin.bundle import default_bundle_path, verify_bundle

    manifest = verify_bundle(path)
    where = path if path is not None else default_bundle_path()
    print(f"{where}: ok, {len(manifest.graphs)} graphs match their sha256 ({manifest.bundle_id})")
    return 0
