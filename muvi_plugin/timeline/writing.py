"""The new timeline: a copy of the input with the music on new audio tracks named after muvi.

docs/hosts.md, "Writing a score back that survives": per scored range a Gap up to its start, then a Clip
referencing the audio file, whose available range is in the timeline's rate (FCP 7 XML refuses a
sample-rate range), with the generation settings in `metadata["muvi"]` and a marker spanning the range.
Overlapping ranges go on further tracks (`muvi`, `muvi 2`, ...). `.otio` is lossless; another format is
written only if it reads back with the music track in it (EDL keeps only the first track: refused).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import opentimelineio as otio

from muvi_plugin import guard
from muvi_plugin.atomic import atomic_path
from muvi_plugin.errors import MuviError
from muvi_plugin.timeline.ranges import ScoreRange

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
TRACK_NAME = "muvi"
AUDIO_FOLDER_SUFFIX = ".audio"
# Output formats by extension; each must keep the music track (checked by reading the file back).
ADAPTERS = {
    ".otio": "otio_json",
    ".otioz": "otioz",
    ".otiod": "otiod",
    ".xml": "fcp_xml",
    ".fcpxml": "fcpx_xml",
}
REFUSED = {
    ".edl": "EDL (CMX 3600) keeps only the first video track, so the music track would be lost; write .otio "
    "(lossless), .xml (FCP 7) or .fcpxml",
}


def audio_folder_for(out: str | os.PathLike) -> Path:
    """Where the music of a new timeline goes: `<out without its extension>.audio/` beside it.

    The one naming rule of `muvi timeline score`, `muvi batch`, `muvi resolve score-otio` and the OTIO hook
    (`cut.muvi.otio` -> `cut.muvi.audio/`, `Edit 1 muvi.otio` -> `Edit 1 muvi.audio/`), unless told a folder.
    """
    return Path(out).with_suffix(AUDIO_FOLDER_SUFFIX)


@dataclass(frozen=True)
class ScoredRange:
    """A range and the music made for it.

    Attributes:
        range: The range on the timeline.
        audio: The audio file (exactly the range's length).
        metadata: How it was made (seed, steps, guidance, bundle id, ...), stored on the clip.
    """

    range: ScoreRange
    audio: Path
    metadata: Mapping[str, Any] = field(default_factory=dict)


def music_clip(scored: ScoredRange) -> otio.schema.Clip:
    """The clip for one scored range: the whole audio file, in the timeline's rate."""
    r = scored.range
    whole = TR(RT(0, r.rate), RT(r.frames, r.rate))
    clip = otio.schema.Clip(
        name=f"{TRACK_NAME} {r.name}",
        media_reference=otio.schema.ExternalReference(
            target_url=otio.url_utils.url_from_filepath(os.fspath(Path(scored.audio).resolve())),
            available_range=whole,
        ),
        source_range=whole,
        metadata={TRACK_NAME: dict(scored.metadata)},
    )
    clip.markers.append(
        otio.schema.Marker(
            name=f"{TRACK_NAME} {r.name}", marked_range=whole, color=otio.schema.MarkerColor.GREEN
        )
    )
    return clip


def with_score(timeline: otio.schema.Timeline, scored: Sequence[ScoredRange]) -> otio.schema.Timeline:
    """A copy of `timeline` with the music on new audio tracks (the input is not touched)."""
    new = timeline.deepcopy()
    lanes: list[tuple[otio.schema.Track, int]] = []  # (track, its end in frames)
    for item in sorted(scored, key=lambda s: s.range.start):
        r = item.range
        index = next((i for i, (_, end) in enumerate(lanes) if end <= r.start), None)
        if index is None:
            name = TRACK_NAME if not lanes else f"{TRACK_NAME} {len(lanes) + 1}"
            lanes.append((otio.schema.Track(name=name, kind=otio.schema.TrackKind.Audio), 0))
            index = len(lanes) - 1
        track, end = lanes[index]
        if r.start > end:
            track.append(otio.schema.Gap(source_range=TR(RT(0, r.rate), RT(r.start - end, r.rate))))
        track.append(music_clip(item))
        lanes[index] = (track, r.start + r.frames)
    for track, _ in lanes:
        new.tracks.append(track)
    return new


def write_timeline(
    timeline: otio.schema.Timeline, path: str | os.PathLike, *, source: Path | None = None
) -> Path:
    """Write `timeline` to `path` atomically, in the format its extension names.

    Args:
        timeline: The timeline with the music tracks.
        path: `.otio` (lossless), `.otioz`, `.otiod`, `.xml` (FCP 7) or `.fcpxml`.
        source: The input timeline file, which must not be overwritten.

    Raises:
        MuviError: An unsupported or refused format, the input as output, a missing folder, an existing
            folder muvi did not create, or a format that lost the music.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in REFUSED:
        raise MuviError(f"{path}: {REFUSED[suffix]}")
    if suffix not in ADAPTERS:
        raise MuviError(f"{path}: unsupported timeline format (use one of {', '.join(ADAPTERS)})")
    folder_output = ADAPTERS[suffix] == "otiod"
    # Never the input (through links too), never into a missing folder, never over a folder muvi did
    # not create (an `.otiod` is a folder: only one muvi wrote, holding its marker, is replaced).
    guard.check_outputs(
        {"--out": path}, inputs=[("timeline", source)], folders=["--out"] if folder_output else []
    )
    if ADAPTERS[suffix] == "fcp_xml":
        timeline = _for_fcp7(timeline)
    # A file, or a folder for .otiod (an old .otiod is replaced whole).
    with atomic_path(path) as temporary:
        try:
            otio.adapters.write_to_file(timeline, os.fspath(temporary), adapter_name=ADAPTERS[suffix])
            back = otio.adapters.read_from_file(os.fspath(temporary), adapter_name=ADAPTERS[suffix])
        except Exception as error:  # adapters raise their own exception types
            raise MuviError(f"{path}: cannot write it as {ADAPTERS[suffix]} ({error})") from error
        wanted = {
            c.name for t in timeline.audio_tracks() if t.name.startswith(TRACK_NAME) for c in t.find_clips()
        }
        kept = {c.name for c in back.find_clips()}
        if not wanted <= kept:
            raise MuviError(f"{path}: the {ADAPTERS[suffix]} format dropped the music track; write .otio")
        if folder_output:
            guard.mark(temporary)  # muvi made this folder: a later take may replace it
    return path


def _for_fcp7(timeline: otio.schema.Timeline) -> otio.schema.Timeline:
    """A copy the FCP 7 XML writer accepts: it needs a source range on every nested stack or track."""
    copy = timeline.deepcopy()
    for item in copy.tracks.find_children(descended_from_type=otio.core.Composition):
        if item.source_range is None and isinstance(item.parent(), otio.schema.Track):
            item.source_range = item.trimmed_range()
    return copy


__all__ = ["ADAPTERS", "TRACK_NAME", "ScoredRange", "music_clip", "with_score", "write_timeline"]
