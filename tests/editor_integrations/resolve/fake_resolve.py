"""`FakeResolve`: a stand-in for DaVinci Resolve's scripting API, following its documented semantics.

Resolve cannot run here. This fake implements the calls `editor_integrations.resolve.host` declares, with
Resolve's frame bases (docs/hosts.md, "DaVinci Resolve"): `GetMarkInOut` and `AddMarker` are relative to the
timeline start (mark keys absent when unset); render `MarkIn`/`MarkOut` and `AppendToTimeline`'s
`recordFrame` are absolute. `ImportMedia` re-importing a file into the same bin returns the old item.
Rendering really writes a small video of the range (tests/media_factory.py) so the real muvi CLI can
score it; like the Deliver page, starting a render clobbers the In/Out marks. `drift` makes every
placement land that many frames off, as Resolve's rounding sometimes does.

Drop-frame rates ("29.97 DF", "59.94 DF") report the bare rate in `timelineFrameRate` and "1" in
`timelineDropFrameTimecode`; drop frame renames timecodes only, so frames count as at the non-drop rate
(01:00:00;00 is absolute frame 107892 at 29.97 DF). Track locks (`GetIsTrackLocked`/`SetTrackLock`):
Resolve refuses edits on a locked track, so `AppendToTimeline` onto one places nothing and `DeleteClips`
of its items fails. `lock_new_tracks` makes `AddTrack` give a locked track (Resolve's documentation
does not say when that happens; it exercises the unlock-and-relock path), `append_fails` makes every
`AppendToTimeline` place nothing (an unreadable file, a full disk), as Resolve does: an empty list.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from tests import media_factory as mf

RATES = {
    "24": Fraction(24),
    "25": Fraction(25),
    "29.97": Fraction(30000, 1001),
    "23.976": Fraction(24000, 1001),
    "59.94": Fraction(60000, 1001),
    "29.97 DF": Fraction(30000, 1001),
    "59.94 DF": Fraction(60000, 1001),
}


@dataclass(eq=False)
class FakeMediaPoolItem:
    path: str

    def GetName(self) -> str:
        return Path(self.path).name


@dataclass(eq=False)
class FakeFolder:
    name: str
    subfolders: list[FakeFolder] = field(default_factory=list)
    clips: list[FakeMediaPoolItem] = field(default_factory=list)

    def GetName(self) -> str:
        return self.name

    def GetSubFolderList(self) -> list[FakeFolder]:
        return list(self.subfolders)


@dataclass(eq=False)
class FakeTimelineItem:
    name: str
    start: int  # absolute
    duration: int
    media: FakeMediaPoolItem | None = None

    def GetName(self) -> str:
        return self.name

    def GetStart(self) -> int:
        return self.start

    def GetDuration(self) -> int:
        return self.duration

    def GetEnd(self) -> int:
        return self.start + self.duration


class FakeTimeline:
    """A timeline from `start_frame` (absolute) for `frames` frames with one video clip over all of it."""

    def __init__(
        self, *, name: str, start_frame: int, frames: int, rate: str, lock_new_tracks: bool = False
    ) -> None:
        self.name, self.start_frame, self.frames, self.rate = name, start_frame, frames, rate
        self.lock_new_tracks = lock_new_tracks
        self.locked: set[tuple[str, int]] = set()  # (track type, 1-based index)
        self.lock_changes: list[tuple[str, int, bool]] = []
        self.marks: dict[str, dict[str, int]] = {}
        self.tracks: dict[str, list[list[FakeTimelineItem]]] = {
            "video": [[FakeTimelineItem("V1 clip", start_frame, frames)]],
            "audio": [[FakeTimelineItem("A1 clip", start_frame, frames)]],
        }
        self.track_types: dict[str, list[str]] = {"video": [""], "audio": ["stereo"]}
        self.markers: dict[int, dict[str, Any]] = {}

    def GetName(self) -> str:
        return self.name

    def GetStartFrame(self) -> int:
        return self.start_frame

    def GetEndFrame(self) -> int:
        return self.start_frame + self.frames

    def GetSetting(self, name: str) -> str:
        rate, _, drop = self.rate.partition(" ")
        settings = {"timelineFrameRate": rate, "timelineDropFrameTimecode": "1" if drop == "DF" else "0"}
        return settings.get(name, "")

    def GetIsTrackLocked(self, track_type: str, index: int) -> bool:
        return (track_type, index) in self.locked

    def SetTrackLock(self, track_type: str, index: int, lock: bool) -> bool:
        if not 1 <= index <= len(self.tracks[track_type]):
            return False
        (self.locked.add if lock else self.locked.discard)((track_type, index))
        self.lock_changes.append((track_type, index, lock))
        return True

    def DeleteTrack(self, track_type: str, index: int) -> bool:
        if not 1 <= index <= len(self.tracks[track_type]) or (track_type, index) in self.locked:
            return False
        del self.tracks[track_type][index - 1]
        del self.track_types[track_type][index - 1]
        self.locked = {(t, i - 1 if t == track_type and i > index else i) for t, i in self.locked}
        return True

    def GetMarkInOut(self) -> dict[str, dict[str, int]]:
        return copy.deepcopy(self.marks)

    def SetMarkInOut(self, mark_in: int, mark_out: int, type: str = "all") -> bool:
        for kind in ("video", "audio") if type == "all" else (type,):
            self.marks[kind] = {"in": mark_in, "out": mark_out}
        return True

    def ClearMarkInOut(self, type: str = "all") -> bool:
        for kind in ("video", "audio") if type == "all" else (type,):
            self.marks.pop(kind, None)
        return True

    def AddTrack(self, track_type: str, sub_track_type: str = "") -> bool:
        self.tracks[track_type].append([])
        self.track_types[track_type].append(sub_track_type)
        if self.lock_new_tracks:
            self.locked.add((track_type, len(self.tracks[track_type])))
        return True

    def GetTrackCount(self, track_type: str) -> int:
        return len(self.tracks[track_type])

    def GetItemListInTrack(self, track_type: str, index: int) -> list[FakeTimelineItem]:
        return list(self.tracks[track_type][index - 1])

    def DeleteClips(self, items: list[FakeTimelineItem], ripple: bool = False) -> bool:
        for kind, index in self.locked:
            if any(item is gone for item in self.tracks[kind][index - 1] for gone in items):
                return False  # nothing is deleted when any clip sits on a locked track
        for track in (*self.tracks["video"], *self.tracks["audio"]):
            track[:] = [item for item in track if all(item is not gone for gone in items)]
        return True

    def AddMarker(
        self, frame_id: int, color: str, name: str, note: str, duration: int, custom_data: str = ""
    ) -> bool:
        if frame_id in self.markers or not 0 <= frame_id < self.frames:
            return False  # Resolve refuses a second marker on a frame, and frames off the timeline
        self.markers[frame_id] = {
            "color": color,
            "name": name,
            "note": note,
            "duration": duration,
            "customData": custom_data,
        }
        return True

    def snapshot(self) -> list[tuple[str, int, str, int, int]]:
        """Every clip as (track type, track, name, start, duration): to show existing clips unchanged."""
        return [
            (kind, index, item.name, item.start, item.duration)
            for kind, tracks in self.tracks.items()
            for index, track in enumerate(tracks, 1)
            for item in track
        ]


class FakeMediaPool:
    def __init__(self, timeline: FakeTimeline, *, drift: int = 0, append_fails: bool = False) -> None:
        self.root = FakeFolder("Master")
        self.current = self.root
        self.timeline, self.drift, self.append_fails = timeline, drift, append_fails

    def GetRootFolder(self) -> FakeFolder:
        return self.root

    def AddSubFolder(self, folder: FakeFolder, name: str) -> FakeFolder:
        new = FakeFolder(name)
        folder.subfolders.append(new)
        return new

    def SetCurrentFolder(self, folder: FakeFolder) -> bool:
        self.current = folder
        return True

    def ImportMedia(self, paths: list[str]) -> list[FakeMediaPoolItem]:
        items = []
        for path in paths:
            if not os.path.isfile(path):
                continue  # Resolve skips what it cannot read
            old = [clip for clip in self.current.clips if clip.path == path]
            if not old:
                self.current.clips.append(FakeMediaPoolItem(path))
            items.append(old[0] if old else self.current.clips[-1])
        return items

    def AppendToTimeline(self, clip_infos: list[dict[str, Any]]) -> list[FakeTimelineItem]:
        placed: list[FakeTimelineItem] = []
        if self.append_fails:
            return placed
        for info in clip_infos:
            kind = "audio" if info.get("mediaType") == 2 else "video"
            if (kind, info["trackIndex"]) in self.timeline.locked:
                continue  # Resolve places nothing on a locked track
            track = self.timeline.tracks[kind][info["trackIndex"] - 1]
            item = info["mediaPoolItem"]
            frames = info["endFrame"] - info["startFrame"] + 1  # endFrame is inclusive
            new = FakeTimelineItem(item.GetName(), info["recordFrame"] + self.drift, frames, item)
            track.append(new)
            placed.append(new)
        return placed


class FakeProject:
    """Render jobs that write the range's picture, after `render_polls` polls of `IsRenderingInProgress`."""

    def __init__(self, timeline: FakeTimeline | None, pool: FakeMediaPool, *, render_polls: int = 2) -> None:
        self.timeline, self.pool, self.render_polls = timeline, pool, render_polls
        self.settings: dict[str, Any] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.rendered: list[dict[str, Any]] = []  # the settings of each finished render
        self._running: str | None = None
        self._polls = 0

    def GetName(self) -> str:
        return "Fake project"

    def GetMediaPool(self) -> FakeMediaPool:
        return self.pool

    def GetCurrentTimeline(self) -> FakeTimeline | None:
        return self.timeline

    def SetCurrentRenderFormatAndCodec(self, fmt: str, codec: str) -> bool:
        return (fmt, codec) == ("mp4", "H264")

    def SetRenderSettings(self, settings: dict[str, Any]) -> bool:
        self.settings.update(settings)
        return True

    def AddRenderJob(self) -> str:
        job = f"job-{len(self.jobs) + 1}"
        self.jobs[job] = {"settings": dict(self.settings), "JobStatus": "Ready", "CompletionPercentage": 0}
        return job

    def StartRendering(self, job_ids: list[str]) -> bool:
        (self._running,) = job_ids
        self._polls = 0
        self.jobs[self._running]["JobStatus"] = "Rendering"
        assert self.timeline is not None
        self.timeline.ClearMarkInOut("all")  # like switching to the Deliver page
        return True

    def StopRendering(self) -> None:
        if self._running is not None:
            self.jobs[self._running]["JobStatus"] = "Cancelled"
            self._running = None

    def IsRenderingInProgress(self) -> bool:
        if self._running is None:
            return False
        self._polls += 1
        job = self.jobs[self._running]
        job["CompletionPercentage"] = min(100, 100 * self._polls // (self.render_polls + 1))
        if self._polls > self.render_polls:
            self._write(job["settings"])
            job["JobStatus"], job["CompletionPercentage"] = "Complete", 100
            self._running = None
            return False
        return True

    def _write(self, settings: dict[str, Any]) -> None:
        """The picture of frames MarkIn..MarkOut (absolute, inclusive) as a small real video."""
        timeline = self.timeline
        assert timeline is not None and settings["SelectAllFrames"] is False
        first, last = settings["MarkIn"], settings["MarkOut"]
        assert timeline.start_frame <= first <= last < timeline.GetEndFrame(), "render marks are absolute"
        rate = RATES[timeline.rate]
        frames = last - first + 1
        mf.write_media(
            Path(settings["TargetDir"]) / f"{settings['CustomName']}.mp4",
            frame_times=np.arange(frames) / float(rate),
            rate=rate,
            frame=lambda k: mf.pattern_frame((first - timeline.start_frame + k) % 256),
        )
        self.rendered.append(dict(settings))

    def GetRenderJobStatus(self, job_id: str) -> dict[str, Any]:
        job = self.jobs[job_id]
        return {"JobStatus": job["JobStatus"], "CompletionPercentage": job["CompletionPercentage"]}

    def DeleteRenderJob(self, job_id: str) -> bool:
        return self.jobs.pop(job_id, None) is not None


class FakeProjectManager:
    def __init__(self, project: FakeProject | None) -> None:
        self.project = project

    def GetCurrentProject(self) -> FakeProject | None:
        return self.project


class FakeResolve:
    """`FakeResolve(rate="25", start_frame=90000, frames=75)`: one project with one open timeline."""

    def __init__(
        self,
        *,
        rate: str = "24",
        start_frame: int = 86400,
        frames: int = 48,
        drift: int = 0,
        project: bool = True,
        timeline: bool = True,
        lock_new_tracks: bool = False,
        append_fails: bool = False,
    ) -> None:
        self.timeline = FakeTimeline(
            name="Edit 1", start_frame=start_frame, frames=frames, rate=rate, lock_new_tracks=lock_new_tracks
        )
        self.pool = FakeMediaPool(self.timeline, drift=drift, append_fails=append_fails)
        self.project = FakeProject(self.timeline if timeline else None, self.pool)
        self.manager = FakeProjectManager(self.project if project else None)

    def GetProjectManager(self) -> FakeProjectManager:
        return self.manager
