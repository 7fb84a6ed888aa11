"""Put a take on the timeline: a dedicated media-pool bin, a new stereo audio track, the exact record frame.

Existing clips are never touched: the take goes on a track muvi adds, and the only clip muvi ever deletes
is one it has just placed one frame off (Resolve can round `recordFrame` by a frame). Resolve refuses
edits on a locked track: when the new track comes up locked it is unlocked for the placement only and
locked again, and the user's locked tracks are left as they are. When Resolve places nothing, the empty
track muvi added is removed again, so a failure leaves the timeline as it was.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from editor_integrations.resolve.frames import FrameRange
from editor_integrations.resolve.host import (
    Folder,
    MediaPool,
    MediaPoolItem,
    ResolveScriptError,
    Timeline,
    TimelineItem,
)

BIN_NAME = "muvi"
MARKER_COLOR = "Green"
_TRIES = 3  # one placement plus up to two corrections of a frame's drift


@dataclass(frozen=True)
class Placement:
    """Where the take landed.

    Attributes:
        item: The new timeline item.
        track: 1-based index of the new audio track.
        record_frame: Its absolute first frame (`GetStart()`).
        frames: Its length (`GetDuration()`).
        corrections: How many times it was re-placed to undo a frame of drift.
        marker: Whether the provenance marker was added (False when one already sits on that frame).
    """

    item: TimelineItem
    track: int
    record_frame: int
    frames: int
    corrections: int
    marker: bool


def takes_bin(pool: MediaPool, name: str = BIN_NAME) -> Folder:
    """The bin `name` under the media pool's root, made if missing."""
    root = pool.GetRootFolder()
    for folder in root.GetSubFolderList() or []:
        if folder.GetName() == name:
            return folder
    folder = pool.AddSubFolder(root, name)
    if folder is None:
        raise ResolveScriptError(f"could not create the media-pool bin {name!r}")
    return folder


def import_take(pool: MediaPool, audio: Path, bin_name: str = BIN_NAME) -> MediaPoolItem:
    """Import `audio` into the takes bin (a re-import of the same file returns the item already there)."""
    pool.SetCurrentFolder(takes_bin(pool, bin_name))
    items = pool.ImportMedia([os.fspath(audio)])
    if not items:
        raise ResolveScriptError(f"DaVinci Resolve could not import {audio}")
    return items[0]


def _append(pool: MediaPool, item: MediaPoolItem, frames: int, track: int, record: int) -> TimelineItem:
    info: dict[str, Any] = {
        "mediaPoolItem": item,
        "startFrame": 0,
        "endFrame": frames - 1,  # inclusive, in the clip's frames
        "mediaType": 2,  # audio only
        "trackIndex": track,
        "recordFrame": record,  # absolute
    }
    placed = pool.AppendToTimeline([info])
    if not placed:
        raise _Refused("DaVinci Resolve refused to place the take on the new audio track")
    return placed[0]


def place_take(
    pool: MediaPool, timeline: Timeline, item: MediaPoolItem, span: FrameRange
) -> tuple[TimelineItem, int, int]:
    """Add a stereo audio track and put `item` at `span`'s absolute In, reading the placement back.

    Returns:
        (timeline item, track index, corrections made).
    """
    if not timeline.AddTrack("audio", "stereo"):
        raise ResolveScriptError("DaVinci Resolve could not add an audio track")
    track = timeline.GetTrackCount("audio")
    target, record = span.absolute_in, span.absolute_in
    with _unlocked(timeline, track):
        try:
            for attempt in range(_TRIES):
                placed = _append(pool, item, span.frames, track, record)
                drift = placed.GetStart() - target
                if drift == 0 and placed.GetDuration() == span.frames:
                    return placed, track, attempt
                if abs(drift) > 1 or attempt == _TRIES - 1:
                    break
                # Our own clip on our own track: delete it and ask again, leaning against the drift seen.
                if not timeline.DeleteClips([placed], False):
                    break
                record -= drift
        except _Refused as refused:
            _remove_empty_track(timeline, track)  # still unlocked here: a locked track cannot be deleted
            raise ResolveScriptError(str(refused)) from None
    raise ResolveScriptError(
        f"the take landed at frame {placed.GetStart()} for {placed.GetDuration()} frames, not at {target} "
        f"for {span.frames}; it is left on audio track {track} for you to check"
    )


class _Refused(ResolveScriptError):
    """Resolve placed nothing."""


@contextmanager
def _unlocked(timeline: Timeline, track: int) -> Iterator[None]:
    """Audio track `track` unlocked inside the block, locked again after it if it was locked before."""
    is_locked = getattr(timeline, "GetIsTrackLocked", None)  # Resolve 18 and later
    if not callable(is_locked) or not is_locked("audio", track):
        yield
        return
    if not timeline.SetTrackLock("audio", track, False):  # type: ignore[attr-defined]
        raise _Refused(f"audio track {track} is locked and DaVinci Resolve would not unlock it")
    try:
        yield
    finally:
        if timeline.GetTrackCount("audio") >= track:  # not when the track was removed again
            timeline.SetTrackLock("audio", track, True)  # type: ignore[attr-defined]


def _remove_empty_track(timeline: Timeline, track: int) -> None:
    """Take away the track muvi added, when nothing landed on it (Resolve 18.5 and later can)."""
    delete = getattr(timeline, "DeleteTrack", None)
    if callable(delete) and not timeline.GetItemListInTrack("audio", track):
        delete("audio", track)


def add_provenance_marker(timeline: Timeline, span: FrameRange, provenance: dict[str, Any]) -> bool:
    """A green marker over the take (frame relative to the timeline start), its provenance in customData;
    the note shows the record's seed and steps."""
    record = provenance.get("report", {})
    note = f"muvi take: seed {record.get('seed')}, {record.get('steps')} steps"
    custom = json.dumps(provenance, sort_keys=True)
    return bool(timeline.AddMarker(span.first, MARKER_COLOR, "muvi", note, span.frames, custom))


__all__ = ["BIN_NAME", "Placement", "add_provenance_marker", "import_take", "place_take", "takes_bin"]
