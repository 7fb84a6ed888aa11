"""Coverage-guided fuzzing (atheris, libFuzzer) of muvi's readers: media, bundle manifests, timelines.

    python tools/fuzz.py --target media --seconds 300 [--runs N] [--out DIR]
    python tools/fuzz.py --target manifest --replay tests/data/fuzz/manifest/*   # no atheris needed

Each target takes the bytes of one file and runs the runtime's reader on it the way a front end does. A
bad input must end in muvi's own error (`muvi_plugin.errors.MuviError`: one line naming the file and the
problem); anything else is a *crash*: another exception (a traceback for the user), a signal, a hang past
`--timeout`, or memory past `--rss-limit-mb`. Exceptions are caught and recorded by the target so a run
goes on past them; each distinct crash (exception type and the innermost muvi line) keeps its first input
under `OUT/crashes/`. The run prints one line: executions, seconds, distinct crashes.

- `media`: `muvi_plugin.media` (PyAV): probe, then up to 1 s of frames and of audio, and one still image.
- `manifest`: a bundle folder holding the bytes as `manifest.json`, read and verified
  (`muvi_plugin.bundle.verify_bundle`); half the inputs are structured: the embedded bundle's manifest
  with fuzzed values put at fuzzed places (and its id re-stamped or not), so the fuzzer gets past the
  JSON parser into the schema and its checks.
- `timeline`: `muvi_plugin.timeline` as `muvi timeline score` opens one: read (the adapter chosen by
  content: OTIO JSON, `.otioz`, FCP 7 XML, FCPXML, else an EDL), the ranges it offers (whole, in/out,
  markers), the picture builder over its first seconds (missing media shown black).

Coverage guidance sees the Python code of `muvi_plugin` (instrumented on import); FFmpeg and OTIO's C++
core run uninstrumented. Seeds are made on the fly (tiny media of several containers and codecs, the
embedded manifest, OTIO's sample timelines in tests/data/otio, an EDL and both FCP XMLs) plus every
regression input under tests/data/fuzz/TARGET/.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGETS = ("media", "manifest", "timeline")
REGRESSIONS = REPO / "tests" / "data" / "fuzz"

# ---------------------------------------------------------------------------------------------- targets


def _scratch() -> Path:
    """One private folder per process for the file under test (a fresh name per target)."""
    global _SCRATCH
    if _SCRATCH is None:
        _SCRATCH = Path(tempfile.mkdtemp(prefix="muvi-fuzz-"))
    return _SCRATCH


_SCRATCH: Path | None = None


def media_target(data: bytes) -> None:
    """Probe and decode `data` as a media file (`muvi_plugin.media`)."""
    from muvi_plugin import media

    path = _scratch() / "input.mp4"
    path.write_bytes(data)
    info = media.probe(path)
    if info.has_video:
        start = max(0.0, info.video_start)
        end = min(info.video_end, start + 1.0)
        if end > start:
            media.read_video_frames(path, start=start, end=end, fps=5.0, size=(32, 24))
        media.read_image(path, size=(16, 16), fit="pad")
    if info.has_audio:
        start = max(0.0, info.audio_start)
        end = min(info.audio_end, start + 1.0)
        if round((end - start) * 8000) > 0:
            media.read_audio(path, start=start, end=end, sample_rate=8000, channels=2)


def manifest_target(data: bytes) -> None:
    """Read and verify a bundle folder whose `manifest.json` holds `data`."""
    from muvi_plugin.bundle import verify_bundle

    folder = _scratch() / "bundle"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    (folder / "manifest.json").write_bytes(data)
    verify_bundle(folder)


def timeline_target(data: bytes) -> None:
    """Open `data` as a timeline as `muvi timeline score` does: read, choose ranges, build the picture."""
    from muvi_plugin.timeline.picture import TimelinePicture
    from muvi_plugin.timeline.ranges import in_out, marker_ranges, whole
    from muvi_plugin.timeline.source import Relinker, read_timeline

    folder = _scratch() / "timeline"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    path = folder / f"cut{timeline_suffix(data)}"
    path.write_bytes(data)
    timeline = read_timeline(path)
    whole(timeline)
    in_out(timeline)
    items = [timeline.tracks, *timeline.tracks.find_children()]
    names = {marker.name for item in items for marker in getattr(item, "markers", ())}
    for name in sorted(names)[:3]:
        marker_ranges(timeline, name=name)
    picture = TimelinePicture(timeline, relinker=Relinker(base=folder), missing="black", name=str(path))
    end = min(picture.duration, 2.0)
    if end > 0:
        picture.check_media(0.0, end)
        picture.frames(0.0, min(end, 0.5), fps=4.0, size=(8, 8))


def timeline_suffix(data: bytes) -> str:
    """The extension that picks OTIO's adapter for `data`, chosen by content as a user's file would be."""
    head = data[:400].lstrip()
    if head.startswith(b"PK"):
        return ".otioz"
    if head.startswith(b"{"):
        return ".otio"
    if b"<fcpxml" in head:
        return ".fcpxml"
    if head.startswith(b"<"):
        return ".xml"
    return ".edl"


TARGET_FUNCTIONS: dict[str, Callable[[bytes], None]] = {
    "media": media_target,
    "manifest": manifest_target,
    "timeline": timeline_target,
}
SUFFIXES = {"media": lambda data: ".mp4", "manifest": lambda data: ".json", "timeline": timeline_suffix}


def file_of(target: str, data: bytes) -> bytes:
    """The file a fuzzer's input stands for: itself, or for `manifest` inputs starting with byte 1, the
    embedded manifest mutated as the rest of the bytes say (what is kept as a regression case)."""
    return _structured_manifest(data) if target == "manifest" and data[:1] == b"\x01" else data


def crash_of(target: str, data: bytes) -> tuple[str, str] | None:
    """Run one input; None when it ends well (no error, or a `MuviError`), else the crash's signature
    (`Type at file:line (function)`, the innermost line of muvi's code) and its message."""
    from muvi_plugin.errors import MuviError

    try:
        TARGET_FUNCTIONS[target](data)
    except MuviError as error:
        message = str(error)
        if not message or "\n" in message:  # muvi's errors are one line naming the file and the problem
            return "MuviError not on one line", message[:300]
        return None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # noqa: BLE001 - anything but muvi's own error is the finding
        frames = traceback.extract_tb(error.__traceback__)
        ours = [f for f in frames if "muvi_plugin" in f.filename] or frames[-1:]
        where = f" at {Path(ours[-1].filename).name}:{ours[-1].lineno} ({ours[-1].name})" if ours else ""
        return f"{type(error).__name__}{where}", str(error)[:300]
    return None


# --------------------------------------------------------------------------- structured manifest inputs

_VALUES: list[object] = [
    None,
    True,
    0,
    -1,
    1,
    2**63,
    -(2**70),
    0.0,
    -0.0,
    1e308,
    float("nan"),
    float("inf"),
    float("-inf"),
    "",
    "x",
    "../../etc/passwd",
    "/abs/path.onnx",
    "encoder.onnx",
    "fp16",
    "float32",
    [],
    [1, 2],
    {},
    {"name": "x", "dtype": "float32", "shape": []},
    [{"name": "x"}],
    "\x00",
    "é" * 3,
]


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON value (key paths), the value itself first."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _structured_manifest(data: bytes) -> bytes:
    """The embedded manifest with values replaced, keys removed or added where `data` says."""
    import atheris  # only fuzzing runs build structured inputs from raw bytes

    from muvi_plugin.bundle import default_bundle_path
    from muvi_plugin.manifest import compute_bundle_id

    fdp = atheris.FuzzedDataProvider(data[1:])
    manifest = json.loads((default_bundle_path() / "manifest.json").read_text(encoding="utf-8"))
    for _ in range(fdp.ConsumeIntInRange(1, 4)):
        places = _paths(manifest)[1:]
        place = places[fdp.ConsumeIntInRange(0, len(places) - 1)]
        parent = manifest
        for key in place[:-1]:
            parent = parent[key]
        action = fdp.ConsumeIntInRange(0, 3)
        if action == 0 and isinstance(parent, dict):
            del parent[place[-1]]
        elif action == 1:
            parent[place[-1]] = fdp.ConsumeUnicodeNoSurrogates(12)
        elif action == 2:
            parent[place[-1]] = fdp.ConsumeFloat() if fdp.ConsumeBool() else fdp.ConsumeInt(9)
        else:
            # A copy: a shared list placed twice could later be put inside itself (a cycle), and edits
            # to it would leak into later inputs (a fuzzer needs each input to mean one thing).
            parent[place[-1]] = copy.deepcopy(_VALUES[fdp.ConsumeIntInRange(0, len(_VALUES) - 1)])
    if fdp.ConsumeBool():  # re-stamped, as a tool that rewrites the manifest would: past the id check
        manifest.pop("bundle_id", None)
        manifest["bundle_id"] = compute_bundle_id(manifest)
    return json.dumps(manifest).encode()


# ------------------------------------------------------------------------------------------------ seeds


def write_seeds(target: str, folder: Path) -> int:
    """Small valid inputs of `target` (and the kept regression inputs) into `folder`; returns how many."""
    folder.mkdir(parents=True, exist_ok=True)
    seeds: dict[str, bytes] = {}
    if target == "media":
        seeds.update(_media_seeds())
    elif target == "manifest":
        real = (REPO / "muvi_plugin" / "default_bundle" / "manifest.json").read_bytes()
        seeds["manifest.json"] = real
        for byte in range(4):
            seeds[f"structured-{byte}"] = b"\x01" + bytes([byte]) * 16
    else:
        for sample in sorted((REPO / "tests" / "data" / "otio").glob("*.otio")):
            if sample.stat().st_size < 10_000:
                seeds[sample.name] = sample.read_bytes()
        seeds.update(_timeline_seeds())
    for kept in sorted((REGRESSIONS / target).glob("*")):
        if kept.is_file() and kept.name != "README.md":
            seeds[f"kept-{kept.name}"] = kept.read_bytes()
    for name, data in seeds.items():
        (folder / name).write_bytes(data)
    return len(seeds)


def _media_seeds() -> dict[str, bytes]:
    import numpy as np

    from tests import media_factory as mf

    seeds = {}
    with tempfile.TemporaryDirectory() as scratch:
        made = {
            "tiny.mp4": lambda p: mf.make_video(p, seconds=0.4, size=(32, 24)),
            "rotated.mov": lambda p: mf.make_video(p, seconds=0.3, size=(24, 16), rotation=90, audio=None),
            "tiny.mkv": lambda p: mf.write_media(
                p,
                frame_times=np.arange(3) / 10,
                size=(16, 16),
                audio=mf.sine(220.0, seconds=0.3),
                audio_codec="pcm_s16le",
            ),
            "sound.wav": lambda p: mf.write_media(
                p, audio=mf.sine(330.0, seconds=0.2), audio_codec="pcm_s16le"
            ),  # noqa: E501
            "late.mp4": lambda p: mf.write_media(p, frame_times=0.2 + np.arange(2) / 10, size=(16, 16)),
            "still.png": lambda p: mf.make_image(p, size=(16, 16)),
        }
        for name, make in made.items():
            path = Path(scratch, name)
            make(path)
            seeds[name] = path.read_bytes()
    return seeds


def _timeline_seeds() -> dict[str, bytes]:
    edl = (
        "TITLE: fuzz\nFCM: NON-DROP FRAME\n\n"
        "001  AX       V     C        00:00:00:00 00:00:02:00 01:00:00:00 01:00:02:00\n"
        "* FROM CLIP NAME: a.mov\n\n"
        "002  AX       V     C        00:00:01:00 00:00:03:00 01:00:02:00 01:00:04:00\n"
        "* FROM CLIP NAME: b.mov\n* LOC: 01:00:02:12 RED     hit\n"
    )
    seeds = {"cut.edl": edl.encode()}
    import opentimelineio as otio

    RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
    clip = otio.schema.Clip(
        name="a",
        media_reference=otio.schema.ExternalReference(
            target_url="a.mov", available_range=TR(RT(0, 25), RT(50, 25))
        ),
        source_range=TR(RT(0, 25), RT(25, 25)),
    )
    clip.markers.append(otio.schema.Marker(name="hit", marked_range=TR(RT(5, 25), RT(0, 25))))
    timeline = otio.schema.Timeline(
        name="fuzz", tracks=[otio.schema.Track(children=[clip])], global_start_time=RT(90000, 25)
    )
    timeline.metadata["Resolve_OTIO"] = {"mark_in": "01:00:00:05", "mark_out": "01:00:00:20"}
    for adapter, suffix in (("fcp_xml", ".xml"), ("fcpx_xml", ".fcpxml"), ("otio_json", ".otio")):
        try:
            seeds[f"cut{suffix}"] = otio.adapters.write_to_string(timeline, adapter_name=adapter).encode()
        except Exception:  # noqa: BLE001 - an adapter that is not installed gives no seed
            continue
    with tempfile.TemporaryDirectory() as scratch:
        policy = otio.adapters.file_bundle_utils.MediaReferencePolicy.AllMissing  # no media on disk here
        otio.adapters.write_to_file(timeline, str(Path(scratch, "cut.otioz")), media_policy=policy)
        seeds["cut.otioz"] = Path(scratch, "cut.otioz").read_bytes()
    return seeds


# ----------------------------------------------------------------------------------------- fuzzing run


def _worker(args: argparse.Namespace) -> None:
    """The fuzzing process: atheris over `crash_of`, stats into OUT/stats.json as it goes."""
    import atheris

    with atheris.instrument_imports(include=["muvi_plugin"]):
        import muvi_plugin.bundle
        import muvi_plugin.manifest
        import muvi_plugin.media
        import muvi_plugin.timeline.picture
        import muvi_plugin.timeline.ranges
        import muvi_plugin.timeline.source  # noqa: F401

    out = Path(args.out)
    crashes_dir = out / "crashes"
    crashes_dir.mkdir(parents=True, exist_ok=True)
    stats: dict = {"target": args.target, "executions": 0, "crashes": {}, "memory": {}}
    last_write, peak = [0.0], [_peak_rss_mb()]

    def save() -> None:
        (out / "stats.json").write_text(json.dumps(stats, indent=1))
        last_write[0] = time.monotonic()

    def one(data: bytes) -> None:
        stats["executions"] += 1
        data = file_of(args.target, data)
        found = crash_of(args.target, data)
        if found is not None and found[0] not in stats["crashes"]:
            digest = hashlib.sha1(data).hexdigest()[:12]
            name = f"{args.target}-{digest}{SUFFIXES[args.target](data)}"
            (crashes_dir / name).write_bytes(data)
            stats["crashes"][found[0]] = {"input": name, "message": found[1]}
            print(f"fuzz: new crash {found[0]}: {found[1]} -> {name}", file=sys.stderr, flush=True)
            save()
        elif _peak_rss_mb() - peak[0] >= MEMORY_STEP_MB:
            # Not a crash, but worth a look: one small input that makes the process grow this much.
            grown, peak[0] = _peak_rss_mb() - peak[0], _peak_rss_mb()
            name = f"{args.target}-{hashlib.sha1(data).hexdigest()[:12]}{SUFFIXES[args.target](data)}"
            (out / "memory").mkdir(exist_ok=True)
            (out / "memory" / name).write_bytes(data)
            stats["memory"][name] = {"grew_mb": grown, "bytes": len(data)}
            print(
                f"fuzz: +{grown} MB peak memory after {name} ({len(data)} bytes)", file=sys.stderr, flush=True
            )
            save()
        elif time.monotonic() - last_write[0] > 2.0:
            save()

    libfuzzer = [
        sys.argv[0],
        str(out / "corpus"),
        f"-max_total_time={args.seconds}",
        f"-timeout={args.timeout}",
        f"-rss_limit_mb={args.rss_limit_mb}",
        f"-artifact_prefix={out}/",
        "-print_final_stats=1",
        f"-seed={args.seed}",
        "-max_len=65536",
    ]
    if args.runs:
        libfuzzer.append(f"-runs={args.runs}")
    save()
    atheris.Setup(libfuzzer, one)
    atheris.Fuzz()


MEMORY_STEP_MB = 200  # one input raising the peak memory this much is kept under OUT/memory/


def _peak_rss_mb() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # KiB on Linux


def fuzz(args: argparse.Namespace) -> dict:
    """Seed, run the fuzzing process, and gather what it found; returns the report."""
    out = Path(args.out)
    corpus = out / "corpus"
    seeded = write_seeds(args.target, corpus)
    command = [
        sys.executable,
        os.fspath(Path(__file__).resolve()),
        "--worker",
        "--target",
        args.target,
        "--out",
        os.fspath(out),
        "--seconds",
        str(args.seconds),
        "--runs",
        str(args.runs or 0),
        "--timeout",
        str(args.timeout),
        "--rss-limit-mb",
        str(args.rss_limit_mb),
        "--seed",
        str(args.seed),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.fspath(REPO), os.environ.get("PYTHONPATH", "")])}
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    (out / "libfuzzer.log").write_text(done.stdout + done.stderr)
    stats = json.loads((out / "stats.json").read_text()) if (out / "stats.json").exists() else {"crashes": {}}
    runs = re.findall(r"Done (\d+) runs in", done.stderr)
    executions = int(runs[-1]) if runs else stats.get("executions", 0)
    crashes = dict(stats.get("crashes", {}))
    # A signal, a hang or memory past the limit stops libFuzzer, which keeps the input as an artifact.
    for artifact in sorted(out.glob("*-*")):
        if artifact.is_file() and artifact.name.split("-")[0] in ("crash", "timeout", "oom", "leak"):
            kind = artifact.name.split("-")[0]
            crashes[f"{kind} (libFuzzer stopped, exit {done.returncode})"] = {
                "input": f"../{artifact.name}",
                "message": kind,
            }
    return {
        "target": args.target,
        "executions": executions,
        "seconds": round(seconds, 1),
        "seeds": seeded,
        "corpus": len(list(corpus.iterdir())),
        "crashes": crashes,
        "memory": stats.get("memory", {}),
        "exit": done.returncode,
    }


def replay(target: str, files: list[Path]) -> int:
    """Run the target on each file without atheris; prints and counts the crashes."""
    crashed = 0
    for path in files:
        found = crash_of(target, path.read_bytes())
        print(f"{path}: ok" if found is None else f"{path}: CRASH {found[0]}: {found[1]}")
        crashed += found is not None
    return crashed


def _parsed_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", choices=TARGETS, required=True)
    parser.add_argument("--seconds", type=int, default=60, help="fuzzing budget in seconds (default 60)")
    parser.add_argument("--runs", type=int, default=0, help="stop after this many executions (0: no limit)")
    parser.add_argument("--out", type=Path, help="corpus, crashes and logs (default: a new temporary folder)")
    parser.add_argument("--timeout", type=int, default=20, help="seconds one input may take (default 20)")
    parser.add_argument("--rss-limit-mb", type=int, default=3072, help="memory limit (default 3072 MB)")
    parser.add_argument("--seed", type=int, default=1, help="libFuzzer's random seed (default 1)")
    parser.add_argument("--replay", type=Path, nargs="+", help="run these inputs once, without atheris")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seconds < 1 or args.runs < 0 or args.timeout < 1 or not math.isfinite(args.seconds):
        parser.error("--seconds and --timeout must be at least 1, --runs at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parsed_args(argv)
    if args.replay:
        return 1 if replay(args.target, args.replay) else 0
    if args.worker:
        _worker(args)
        return 0
    if args.out is None:
        args.out = Path(tempfile.mkdtemp(prefix=f"muvi-fuzz-{args.target}-"))
    args.out.mkdir(parents=True, exist_ok=True)
    report = fuzz(args)
    print(
        f"fuzz {report['target']}: {report['executions']} executions in {report['seconds']} s "
        f"({report['seeds']} seeds, corpus {report['corpus']}), {len(report['crashes'])} distinct crash(es)"
    )
    for name, grown in report["memory"].items():
        where = args.out / "memory" / name
        print(f"  memory: +{grown['grew_mb']} MB peak after {where} ({grown['bytes']} bytes)")
    for found, seen in report["crashes"].items():
        print(f"  {found}: {seen['message']}\n    input: {args.out / 'crashes' / seen['input']}")
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    return 1 if report["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
