"""Reading timelines and finding their media (relinking).

Any format an installed OTIO adapter reads works: `.otio`, `.otioz`, `.otiod` from the core, EDL, FCP 7 XML
and FCPXML from `opentimelineio-plugins` and `otio-fcpx-xml-adapter`. A clip's media is looked for, in
order: where its reference points (a path or a `file://` URL); relative to the timeline's folder; then in
each search root, under the file name and under each shorter tail of its path (`roots/B/clip.mov` for
`/old/disk/A/B/clip.mov`), so a project moved between machines relinks by pointing at its new folder.
"""

from __future__ import annotations

import json
import math
import os
import re
import zipfile
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
        _check_otio_json(path, name)
        result = otio.adapters.read_from_file(os.fspath(path), adapter_name=name, **arguments)
    except MuviError:
        raise
    except Exception as error:  # adapters raise anything from ValueError to their own exception types
        raise MuviError(
            f"{path}: cannot read the timeline ({type(error).__name__}: {_one_line(error)})"
        ) from error
    if isinstance(result, otio.schema.SerializableCollection):
        timelines = list(result.find_children(descended_from_type=otio.schema.Timeline))
        if len(timelines) != 1:
            raise MuviError(f"{path}: holds {len(timelines)} timelines; muvi scores one timeline per file")
        result = timelines[0]
    if not isinstance(result, otio.schema.Timeline):
        raise MuviError(f"{path}: holds a {type(result).__name__}, not a timeline")
    _check_lengths(result, path)
    return result


_BARE_INF = re.compile(r"(?<![A-Za-z0-9_])Inf(?![A-Za-z0-9_])")


class _NotTimeline(Exception):
    """A JSON document OTIO's reader would crash on (see `_check_otio_json`)."""


# Fields of OTIO objects that hold OTIO objects: one (or null), a list of them, or a name -> object map.
_ONE_OBJECT = ("media_reference", "tracks")
_OBJECT_LIST = ("children", "effects", "markers")
_OBJECT_MAP = ("media_references",)
# OTIO's value types read as plain values: only their own fields.
_VALUE_FIELDS = {
    "RationalTime": {"rate", "value"},
    "TimeRange": {"start_time", "duration"},
    "TimeTransform": {"offset", "scale", "rate"},
}
_SCHEMA = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\.[1-9][0-9]*")


def _checked_object(pairs: list[tuple[str, object]]) -> dict:
    """One JSON object as read: no key twice; in an OTIO object, fields meant for OTIO objects hold them."""
    keys = [key for key, _ in pairs]
    found = dict(pairs)
    what = f"{str(found.get('OTIO_SCHEMA', 'object')).split('.')[0]} {found.get('name', '')!r}"
    twice = next((key for key in keys if keys.count(key) > 1), None)
    if twice is not None:
        raise _NotTimeline(f"{what} holds the key {twice!r} twice")
    if "OTIO_SCHEMA" in found:
        schema = found["OTIO_SCHEMA"]
        if not (isinstance(schema, str) and _SCHEMA.fullmatch(schema)):
            raise _NotTimeline(f"{what}: OTIO_SCHEMA {schema!r} is not NAME.VERSION")
        extra = set(found) - {"OTIO_SCHEMA"} - _VALUE_FIELDS.get(schema.split(".")[0], set(found))
        if extra:
            raise _NotTimeline(f"{schema} holds fields it does not have: {', '.join(sorted(extra))}")
        for key, value in found.items():
            if key in _ONE_OBJECT:
                held = [] if value is None else [value]
            elif key in _OBJECT_LIST:
                held = value if isinstance(value, list) else [value]
            elif key in _OBJECT_MAP:
                held = list(value.values()) if isinstance(value, dict) else [value]
            else:
                continue
            if not all(isinstance(item, dict) and "OTIO_SCHEMA" in item for item in held):
                raise _NotTimeline(f"{what}: its {key!r} holds something that is not an OTIO object")
    return found


def _check_otio_json(path: Path, adapter: str) -> None:
    """Refuse an OTIO JSON document that OTIO's own reader would crash the process on.

    OpenTimelineIO 0.18.1's C++ JSON reader dies with SIGSEGV (no exception, the whole program gone) on an
    object holding one key twice with object values (a clip with two `"media_reference"` keys), and on a
    plain JSON object holding an OTIO object where an OTIO object belongs (a clip's `media_reference`
    `{"x": {"OTIO_SCHEMA": "Foo.1"}}`), a value type holding fields it does not have (a RationalTime with
    `"children"`), a document that is no OTIO object; all found by fuzzing (tests/data/fuzz/timeline/).
    Python's JSON reader checks the `.otio` (or the `content.otio` of an `.otioz` or `.otiod`) first, for
    these shapes (OTIO's own files never have them); it also names where a syntax error is.
    """
    try:
        if adapter == "otio_json":
            data = path.read_bytes()
        elif adapter == "otiod" and (path / "content.otio").is_file():
            data = (path / "content.otio").read_bytes()
        elif adapter == "otioz" and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                data = archive.read("content.otio")
        else:
            return
    except (OSError, KeyError, zipfile.BadZipFile, RuntimeError, NotImplementedError):
        return  # no content.otio, an encrypted or odd zip: OTIO's reader says what is wrong
    try:
        try:
            document = json.loads(data, object_pairs_hook=_checked_object)
        except json.JSONDecodeError:
            # OTIO's reader (RapidJSON with kParseNanAndInfFlag) also takes `Inf`, which Python's does not
            # (OTIO's sample big_int.otio holds one); inside a string the change keeps it a string.
            text = data.decode("utf-8") if isinstance(data, bytes) else data
            document = json.loads(_BARE_INF.sub("Infinity", text), object_pairs_hook=_checked_object)
        if not (isinstance(document, dict) and "OTIO_SCHEMA" in document):
            raise _NotTimeline("the document is not an OTIO object (no OTIO_SCHEMA at its top)")
    except _NotTimeline as error:
        raise MuviError(f"{path}: cannot read the timeline ({error})") from None
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise MuviError(f"{path}: cannot read the timeline (not valid JSON: {_one_line(error)})") from None


def _check_lengths(timeline: otio.schema.Timeline, path: Path) -> None:
    """Every item has a finite, non-negative length, so ranges and the picture can be computed.

    OTIO reads a clip without a source range whose media has no available range, or a length of NaN, and
    fails only when asked for a duration (CannotComputeAvailableRangeError, deep in scoring).
    """
    items = list(timeline.tracks.find_children())
    held = [item for item in items if not isinstance(item, otio.core.Composition)]
    holders = [item for item in items if isinstance(item, otio.core.Composition)]
    # Clips first, then what holds them: the message names the item at fault, not the stack above it.
    for item in [*held, *holders, timeline.tracks]:
        what = f"{type(item).__name__.lower()} {item.name!r}"
        try:
            length = item.duration()
        except Exception as error:  # OTIOError and its kinds, ValueError from odd values
            raise MuviError(f"{path}: {what} has no length ({_one_line(error)})") from None
        if not (
            math.isfinite(length.value)
            and math.isfinite(length.rate)
            and length.rate > 0
            and length.value >= 0
        ):
            raise MuviError(
                f"{path}: {what} has an invalid length ({length.value:g} at rate {length.rate:g})"
            )


def _one_line(error: BaseException) -> str:
    """An exception's message on one line (pybind11's and OTIO's run over several), at most 200 characters."""
    text = " ".join(str(error).split())
    return text if len(text) <= 200 else text[:199] + "…"


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
