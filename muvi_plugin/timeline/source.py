"""Reading timelines and finding their media (relinking).

Any format an installed OTIO adapter reads works: `.otio`, `.otioz`, `.otiod` from the core, EDL, FCP 7 XML
and FCPXML from `opentimelineio-plugins` and `otio-fcpx-xml-adapter`. A clip's media is looked for, in
order: where its reference points (a path or a `file://` URL); relative to the timeline's folder; then in
each search root, under the file name and under each shorter tail of its path (`roots/B/clip.mov` for
`/old/disk/A/B/clip.mov`), so a project moved between machines relinks by pointing at its new folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

import opentimelineio as otio

from muvi_plugin.errors import MuviError
from muvi_plugin.guard import input_problem
from muvi_plugin.media import MediaError


@dataclass(frozen=True)
class Relinker:
    """The relinking rules for one timeline.

    Attributes:
        base: The timeline's folder (relative references are relative to it), or None.
        search_roots: Folders to look in when a reference's own path does not exist.
    """

    base: Path | None = None
    search_roots: tuple[Path, ...] = field(default_factory=tuple)

    def find(self, url: str) -> Path | None:
        """The existing file `url` (a path or a `file://` URL) stands for, or None."""
        text = otio.url_utils.filepath_from_url(url) if url.startswith("file:") else url
        if not text:
            return None
        pure = PureWindowsPath(text) if ("\\" in text or PureWindowsPath(text).drive) else PurePosixPath(text)
        candidates = [Path(text)] if pure.is_absolute() else []
        if not pure.is_absolute() and self.base is not None:
            candidates.append(self.base / Path(*pure.parts))
        parts = [p for p in pure.parts if p not in (pure.anchor, "/", "\\")]
        for root in self.search_roots:
            # Longest tail first: `root/A/B/clip.mov` is a better match than `root/clip.mov`.
            candidates += [Path(root, *parts[i:]) for i in range(len(parts))]
        return next((path for path in candidates if path.is_file()), None)

    def candidates_note(self) -> str:
        where = [f"the timeline's folder {self.base}"] if self.base is not None else []
        where += [os.fspath(root) for root in self.search_roots]
        return "looked next to it" + (f", in {', '.join(where)}" if where else "")


def read_timeline(
    path: str | os.PathLike, *, adapter: str | None = None, edl_rate: float | None = None
) -> otio.schema.Timeline:
    """Read a timeline with OTIO's adapters (chosen by extension unless `adapter` names one).

    Args:
        path: The timeline file.
        adapter: An OTIO adapter name; None to choose by extension.
        edl_rate: The frame rate of an EDL (EDLs do not say; OTIO's reader assumes 24).

    Raises:
        MuviError: No such file, not a regular file (a FIFO, a device, a folder), no adapter for it, or
            the adapter cannot read it (named).
    """
    path = Path(path)
    # A FIFO or a device would block or never end: refused before opening (an .otiod is a folder).
    problem = input_problem(path, folder_ok=path.suffix.lower() == ".otiod")
    if problem == "no such file":
        raise MuviError(f"{path}: no such timeline file")
    if problem is not None:
        raise MuviError(f"{path}: {problem}")
    try:
        name = adapter or otio.adapters.from_filepath(os.fspath(path)).name
        arguments = {"rate": edl_rate} if edl_rate is not None and name == "cmx_3600" else {}
        result = otio.adapters.read_from_file(os.fspath(path), adapter_name=name, **arguments)
    except Exception as error:  # adapters raise anything from ValueError to their own exception types
        raise MuviError(f"{path}: cannot read the timeline ({type(error).__name__}: {error})") from error
    if isinstance(result, otio.schema.SerializableCollection):
        timelines = list(result.find_children(descended_from_type=otio.schema.Timeline))
        if len(timelines) != 1:
            raise MuviError(f"{path}: holds {len(timelines)} timelines; muvi scores one timeline per file")
        result = timelines[0]
    if not isinstance(result, otio.schema.Timeline):
        raise MuviError(f"{path}: holds a {type(result).__name__}, not a timeline")
    return result


def media_path(clip: otio.schema.Clip, relinker: Relinker, *, image: int = 0) -> Path:
    """The file holding `clip`'s picture (for an image sequence, image number `image`, counted from 0).

    Raises:
        MediaError: The media is missing (named with the clip and where muvi looked).
    """
    url = media_url(clip, image)
    if url is None:
        raise MediaError(clip.name or "<unnamed clip>", f"clip {clip.name!r} has no media reference")
    found = relinker.find(url)
    if found is None:
        raise MediaError(url, f"media of clip {clip.name!r} not found ({relinker.candidates_note()})")
    return found


def media_url(clip: otio.schema.Clip, image: int = 0) -> str | None:
    """Where `clip`'s reference points (image number `image` of a sequence); None without a reference."""
    ref = clip.media_reference
    if isinstance(ref, otio.schema.ImageSequenceReference):
        return ref.target_url_for_image_number(image)
    if isinstance(ref, otio.schema.ExternalReference):
        return ref.target_url
    return None


def is_generated(clip: otio.schema.Clip) -> bool:
    """A generator (solid colour, bars): no file to read; muvi treats it as black."""
    return isinstance(clip.media_reference, otio.schema.GeneratorReference)


def timeline_rate(timeline: otio.schema.Timeline) -> float:
    """The timeline's frame rate: its global start time's, else its first video clip's, else 24."""
    if timeline.global_start_time is not None:
        return timeline.global_start_time.rate
    for clip in timeline.find_clips():
        if clip.source_range is not None:
            return clip.source_range.duration.rate
    return timeline.duration().rate or 24.0


__all__ = ["Relinker", "is_generated", "media_path", "media_url", "read_timeline", "timeline_rate"]
