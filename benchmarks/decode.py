"""Time decoding the model's frames (10 FPS at 96x96) from a video: the old reader against today's.

`new` is `muvi_plugin.media.read_video_frames` as it is. `old` is the same call decoding and converting
as muvi did before issue 20 (`old_decoding` below, patched in only for this comparison): every picture
decoded, a fresh libswscale context for every converted frame, the whole picture scaled to cover the
target and the overflow cut away in numpy. `decode all` decodes every picture of the range and converts
none. The three run interleaved in one process, `--repeats` times each; the table shows
the median and the fastest run, and `diff` is the mean absolute difference of the new frames from the old
ones (0-255 scale).

    ffmpeg -i ../shared/media/bbb_opening.webm -an -vf scale=1920:1080 -c:v libx264 -preset veryfast \\
        -crf 20 -pix_fmt yuv420p /tmp/bbb_1080p.mp4
    python -m benchmarks.decode --video ../shared/media/bbb_opening.webm ../shared/media/testvideo.mp4 \\
        /tmp/bbb_1080p.mp4 --end 30 --repeats 5 --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import statistics
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import av
import numpy as np

from benchmarks.sections import replace_section
from muvi_plugin import media

SECTION = "## Decoding"
SIZE = (96, 96)
FPS = 10.0


def old_scaled(reformatter: object, frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    """The scaling before issue 20: `frame.reformat` makes a fresh libswscale context (threads: auto)."""
    return frame.reformat(width=width, height=height, format="rgb24", interpolation="BILINEAR").to_ndarray()


def every_packet(packets: Iterator[av.Packet], stream: object, **_: object) -> Iterator[av.Packet]:
    return packets


@contextmanager
def old_decoding() -> Iterator[None]:
    """`muvi_plugin.media` decoding as before issue 20 (d2d3b6d): every picture decoded, no shared
    libswscale context, the whole picture scaled to cover the target and the overflow cut away in numpy."""
    with (
        mock.patch.object(media, "_scaled", old_scaled),
        mock.patch.object(media, "_centre", lambda *_: None),
        mock.patch.object(media, "_unseen_dropped", every_packet),
    ):
        yield


def pictures_decoded(path: Path, end: float) -> int:
    """How many pictures of [0, end) the new reader hands to the decoder."""
    dropping = media._unseen_dropped
    counted: list[int] = []

    def counting(packets: Iterator[av.Packet], stream: Any, **kwargs: Any) -> Iterator[av.Packet]:
        for packet in dropping(packets, stream, **kwargs):
            if packet.size and packet.pts is not None and float(packet.pts * packet.time_base) < end:
                counted.append(packet.size)
            yield packet

    with mock.patch.object(media, "_unseen_dropped", counting):
        read(path, end)
    return len(counted)


def decode_all(path: Path, end: float) -> int:
    """Decode every frame of [0, end) as `read_video_frames` does (threaded), converting none."""
    count = 0
    with av.open(os.fspath(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= end:
                break
            count += 1
    return count


def read(path: Path, end: float) -> np.ndarray:
    return media.read_video_frames(path, start=0.0, end=end, fps=FPS, size=SIZE)


def bench(path: Path, *, end: float, repeats: int) -> dict:
    info = media.probe(path)
    end = min(end, info.video_end - 0.05)
    runs: dict[str, list[float]] = {"decode all": [], "old": [], "new": []}
    frames: dict[str, np.ndarray] = {}
    for _ in range(repeats):
        for name in runs:
            start = time.perf_counter()
            if name == "decode all":
                total = decode_all(path, end)
            elif name == "old":
                with old_decoding():
                    frames[name] = read(path, end)
            else:
                frames[name] = read(path, end)
            runs[name].append(time.perf_counter() - start)
        print(path.name, {k: round(v[-1], 3) for k, v in runs.items()}, flush=True)
    diff = np.abs(frames["old"].astype(np.int16) - frames["new"].astype(np.int16))
    codec = f"{info.width}x{info.height} {_codec(path)} {info.fps:.3g} fps"
    return {
        "video": path.name,
        "source": codec,
        "seconds": end,
        "frames": len(frames["new"]),
        "runs": runs,
        "diff": float(diff.mean()),
        "pictures": (pictures_decoded(path, end), total),
    }


def _codec(path: Path) -> str:
    with av.open(os.fspath(path)) as container:
        return container.streams.video[0].codec_context.name


def markdown(results: list[dict], *, command: str, date: str, load: list[float]) -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    intro = (
        f"Measured {date} on {cpu}, {os.cpu_count()} cores, PyAV {av.__version__} (FFmpeg "
        f"{av.ffmpeg_version_info}), "
        f"Python {platform.python_version()}, with `{command}`. The CPU was shared with other jobs: load "
        f"average {load[0]:.1f} at the start and {load[1]:.1f} at the end, on 2 cores, so every time is "
        f"inflated and the fastest run is the better estimate. Each source is read from 0 s at {FPS:g} FPS "
        f'and {SIZE[0]}x{SIZE[1]} (`fit="crop"`), what the embedded model sees; `new` is '
        f"`read_video_frames` now, `old` the same call decoding and converting as before issue 20 (every "
        f"picture decoded, a libswscale context per frame, the whole picture scaled then cropped), "
        f"`decode all` decodes every picture of the range and converts none. Seconds are median / fastest "
        f"of the runs; `pictures decoded` counts the pictures of [0, end) the new reader hands to the "
        f"decoder, out of all of them."
    )
    lines = [SECTION, "", *textwrap.wrap(intro, width=110, break_on_hyphens=False), ""]
    lines += [
        "| source | video | range s | frames out | runs | decode all | old | new | new / old (fastest) "
        "| pictures decoded | mean abs diff |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        med = {k: statistics.median(v) for k, v in r["runs"].items()}
        low = {k: min(v) for k, v in r["runs"].items()}
        decoded, total = r["pictures"]
        lines.append(
            f"| `{r['video']}` | {r['source']} | {r['seconds']:.1f} | {r['frames']} "
            f"| {len(r['runs']['new'])} "
            f"| {med['decode all']:.2f} / {low['decode all']:.2f} | {med['old']:.2f} / {low['old']:.2f} "
            f"| {med['new']:.2f} / {low['new']:.2f} | {low['new'] / low['old']:.2f} "
            f"| {decoded} / {total} | {r['diff']:.2f} |"
        )
    lines += ["", *textwrap.wrap(NOTES, width=110, break_on_hyphens=False)]
    return "\n".join(lines) + "\n"


NOTES = (
    "A 1080p source is not among the shared clips: `/tmp/bbb_1080p.mp4` is the same film at 1080p, made "
    "for the run (never kept in the repository) with `ffmpeg -i ../shared/media/bbb_opening.webm -an -vf "
    "scale=1920:1080 -c:v libx264 -preset veryfast -crf 20 -pix_fmt yuv420p /tmp/bbb_1080p.mp4`. A source "
    "shorter than `--end` is read whole (`range s`). "
    "What the new reader saves: (1) in H.264, pictures that are neither shown at one of the "
    "requested times nor referred to by another picture (`nal_ref_idc` 0) are not decoded at all; "
    "the frames are bit-identical to decoding every picture (`tests/muvi_plugin/test_media.py`). VP8"
    " (`bbb_opening.webm`) has no such pictures, so every one is decoded. (2) One libswscale context"
    ' for the whole read instead of one per frame. (3) With `fit="crop"`, only the kept centre of a '
    "4:2:0 picture is scaled and converted, straight to the output size (BILINEAR filter, as "
    "before). Frames now differ from the old ones by about half an output pixel of centring (the old"
    " path cut the overflow at a whole scaled pixel, off centre by up to half of one; the new one "
    "cuts the source at even pixels around its centre), which shows as a mean difference of a few "
    'levels, on sharp edges; frames without a crop (`fit="pad"`, or a source already of the target\'s'
    " shape) are bit-identical to the old ones. What is left is the codec decoding the reference "
    "pictures, which no reader can skip."
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.decode", description=__doc__.split("\n")[0])
    p.add_argument("--video", type=Path, nargs="+", required=True, help="sources to read")
    p.add_argument("--end", type=float, default=30.0, help="seconds read from each (default 30)")
    p.add_argument("--repeats", type=int, default=3, help="runs of each path (default 3)")
    p.add_argument("--write", type=Path, help="put the results in this file's 'Decoding' section")
    args = p.parse_args(argv)
    for video in args.video:
        if not video.is_file():
            p.error(f"{video}: no such video")
    load = [os.getloadavg()[0]]
    results = [bench(video, end=args.end, repeats=args.repeats) for video in args.video]
    load.append(os.getloadavg()[0])
    command = "python -m benchmarks.decode " + shlex.join(argv if argv is not None else sys.argv[1:])
    text = markdown(
        results,
        command=command,
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        load=load,
    )
    print(text)
    if args.write:
        replace_section(args.write, SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
