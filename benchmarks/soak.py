"""Soak: many consecutive scores in one process, its resident memory and open files along the way.

One `Scorer` (the embedded bundle, `muvi_plugin.api.load_bundle()`, on the CPU) scores `--scores` ranges of
`--seconds` seconds one after the other from real footage, walking through the file (range `i` starts at
`(i * seconds) mod (duration - seconds)`, seed `i`), as an editor that keeps muvi loaded would. It prints
the resident set size (`VmRSS`) and the number of open file descriptors at the start (bundle loaded, no score
yet), after the first score, after 50 and after the last, and the memory growth per score between 50 and the
end. `--threads 8` then has 8 threads share the one scorer, each scoring its own ranges, and checks that every
result equals the serial score of the same request bit for bit.

Run from the repository root (runtime only: it never imports torch):
    python -m benchmarks.soak                                   # 500 scores of 2 s, to stdout
    python -m benchmarks.soak --scores 500 --threads 8 --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.sections import replace_section

SECTION = "## Soak"
FOOTAGE = Path(__file__).resolve().parents[1] / ".." / "shared" / "media" / "traffic_camera.mp4"
CAUSES = (
    "What bounds it: decoding read each frame's display matrix through PyAV's `frame.side_data`, which is "
    "cached on the frame and points back at it; that reference cycle kept every decoded frame, and with it "
    "the decoder's buffer pool, alive until Python's rare full garbage collection: most of the growth "
    "issue 19 reported over the first 100 scores. `muvi_plugin.media` now builds its own side-data view, "
    "which holds no cycle. ONNX Runtime's CPU arena grew in powers of two and never shrank (a slow creep "
    "over hundreds of scores); `muvi_plugin.bundle` turns it off (memory patterns stay on), at no measurable "
    "cost in speed. What is left is the graphs, the runtime and one score's working set, which grows "
    "with the range up to the longest window (`max_window_seconds` in the manifest) and not with the "
    "number of scores."
)
CHECKPOINTS = (1, 50)  # scores after which the state is printed, besides the start and the end


def rss_mib() -> float:
    """This process's resident set size now (`VmRSS`), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def open_files() -> int:
    """Open file descriptors of this process."""
    return len(os.listdir("/proc/self/fd"))


def requests(video: Path, *, count: int, seconds: float, duration: float, first: int = 0) -> list:
    """`count` requests of `seconds` each, walking through the video, seeds `first`, `first + 1`..."""
    from muvi_plugin.api import ScoreRequest

    span = max(duration - seconds, 0.0)
    out = []
    for i in range(first, first + count):
        start = round((i * seconds) % span, 3) if span > 0 else 0.0
        out.append(ScoreRequest(video, start=start, end=start + seconds, seed=i))
    return out


def soak(scorer, video: Path, *, scores: int, seconds: float) -> dict:
    """Score `scores` ranges in a row; the state at the start, at each checkpoint and at the end."""
    from muvi_plugin import media

    duration = media.probe(video).duration
    rows = [{"after": 0, "rss_mib": rss_mib(), "open_files": open_files(), "seconds": 0.0}]
    began = time.perf_counter()
    for n, request in enumerate(requests(video, count=scores, seconds=seconds, duration=duration), 1):
        scorer.score(request)
        if n in CHECKPOINTS or n == scores:
            row = {"after": n, "rss_mib": rss_mib(), "open_files": open_files()}
            row["seconds"] = time.perf_counter() - began
            rows.append(row)
            print(
                f"after {n:4d} scores: RSS {row['rss_mib']:7.1f} MiB, {row['open_files']} open files, "
                f"{row['seconds']:.0f} s",
                flush=True,
            )
    return {"rows": rows, "duration": duration}


def threads_check(scorer, video: Path, *, threads: int, seconds: float, duration: float) -> dict:
    """`threads` threads share `scorer`, two requests each; every result must equal its serial score."""
    todo = requests(video, count=2 * threads, seconds=seconds, duration=duration, first=10_000)
    serial = [scorer.score(r).audio for r in todo]
    results: list = [None] * len(todo)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(k, len(todo), threads):
                results[i] = scorer.score(todo[i]).audio
        except BaseException as error:  # reported below, with the others
            errors.append(error)

    began = time.perf_counter()
    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    took = time.perf_counter() - began
    if errors:
        raise errors[0]
    same = sum(np.array_equal(a, b) for a, b in zip(serial, results, strict=True))
    print(
        f"{threads} threads, {len(todo)} scores: {same} of {len(todo)} bit-identical to serial, {took:.0f} s",
        flush=True,
    )
    return {"threads": threads, "scores": len(todo), "identical": same, "seconds": took}


def machine() -> dict[str, str]:
    import onnxruntime

    def field(path: str, key: str) -> str:
        lines = Path(path).read_text().splitlines()
        return next((line.split(":", 1)[1].strip() for line in lines if line.startswith(key)), "unknown")

    return {
        "cpu": field("/proc/cpuinfo", "model name"),
        "cores": str(os.cpu_count()),
        "ram": f"{int(field('/proc/meminfo', 'MemTotal').split()[0]) / 2**20:.0f} GiB",
        "onnxruntime": onnxruntime.__version__,
        "python": platform.python_version(),
    }


def markdown(result: dict, *, command: str, date: str, info: dict[str, str]) -> str:
    rows = result["soak"]["rows"]
    intro = (
        f"`{command}` on {date}: {info['cpu']}, {info['cores']} cores, {info['ram']} RAM, ONNX Runtime "
        f"{info['onnxruntime']}, Python {info['python']}, load average {result['load'][0]:.1f} at the start "
        f"and {result['load'][1]:.1f} at the end (the machine is shared). One process, the embedded bundle "
        f"on the CPU, {result['scores']} consecutive scores of {result['seconds']:g} s "
        f"of `{result['video']}` (`benchmarks/soak.py`); RSS is `VmRSS`, open files count `/proc/self/fd`."
    )
    lines = [
        SECTION,
        "",
        *textwrap.wrap(intro, width=110, break_on_hyphens=False),
        "",
        "| after scores | RSS (MiB) | open files | seconds |",
        "|---:|---:|---:|---:|",
    ]
    lines += [f"| {r['after']} | {r['rss_mib']:.1f} | {r['open_files']} | {r['seconds']:.0f} |" for r in rows]
    at = {r["after"]: r for r in rows}
    last = rows[-1]
    if 50 in at and last["after"] > 50:
        growth = (last["rss_mib"] - at[50]["rss_mib"]) / (last["after"] - 50)
        lines += ["", f"Growth from score 50 to {last['after']}: {growth:+.3f} MiB per score."]
    lines += ["", *textwrap.wrap(CAUSES, width=110, break_on_hyphens=False)]
    check = result.get("threads")
    if check:
        threads = (
            f"Threads: {check['threads']} threads sharing the scorer made {check['scores']} scores, "
            f"{check['identical']} of them bit-identical to the serial score of the same request."
        )
        lines += ["", *textwrap.wrap(threads, width=110, break_on_hyphens=False)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n")[0])
    p.add_argument("--scores", type=int, default=500, help="consecutive scores (default 500)")
    p.add_argument("--seconds", type=float, default=2.0, help="length of each scored range (default 2)")
    p.add_argument("--video", type=Path, default=FOOTAGE, help="footage (default: the traffic clip)")
    p.add_argument("--threads", type=int, default=0, help="also check N threads sharing the scorer")
    p.add_argument("--write", type=Path, help="put the results in this file's 'Soak' section")
    args = p.parse_args(argv)
    if args.scores < 1 or args.seconds <= 0:
        p.error("--scores must be at least 1 and --seconds positive")
    if not args.video.is_file():
        p.error(f"{args.video}: no such video")
    from muvi_plugin.api import load_bundle

    load = [os.getloadavg()[0]]
    scorer = load_bundle(device="cpu")
    result: dict = {"scores": args.scores, "seconds": args.seconds, "video": args.video.name}
    result["soak"] = soak(scorer, args.video, scores=args.scores, seconds=args.seconds)
    if args.threads:
        result["threads"] = threads_check(
            scorer,
            args.video,
            threads=args.threads,
            seconds=args.seconds,
            duration=result["soak"]["duration"],
        )
    load.append(os.getloadavg()[0])
    result["load"] = load
    if args.write:
        command = "python -m benchmarks.soak " + shlex.join(argv if argv is not None else sys.argv[1:])
        text = markdown(
            result, command=command.strip(), date=datetime.date.today().isoformat(), info=machine()
        )
        replace_section(args.write, SECTION, text)
    check = result.get("threads")
    return 1 if check and check["identical"] != check["scores"] else 0


if __name__ == "__main__":
    sys.exit(main())
