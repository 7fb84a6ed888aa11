"""`muvi_score`: OTIO hook that scores a timeline as it is written (attached to `pre_adapter_write`).

    otioconvert -i cut.otio -o scored.otio -H muvi_score=True -H muvi_markers=music -H muvi_steps=25

Does nothing unless `muvi_score` is true. Other arguments (all optional): `muvi_bundle`, `muvi_device`
("cpu" by default), `muvi_range` (`START-END`, `muvi_plugin.timeline.ranges`), `muvi_markers`,
`muvi_marker_color`, `muvi_whole`, `muvi_seed`, `muvi_steps`, `muvi_cfg`, `muvi_missing` ("error" or
"black"), `muvi_base` and `muvi_search_roots` (relinking), `muvi_audio_dir` (default: `<output stem>.audio/`
next to the file being written, `muvi_plugin.timeline.writing.audio_folder_for`).
"""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio

from editor_integrations.otio.media_linker import relinker
from muvi_plugin.errors import MuviError
from muvi_plugin.timeline.picture import TimelinePicture
from muvi_plugin.timeline.ranges import select_ranges
from muvi_plugin.timeline.score import TimelineJob, audio_path, score_range
from muvi_plugin.timeline.writing import audio_folder_for, with_score


def _optional(arguments: dict, key: str, kind):
    value = arguments.get(key)
    return None if value is None or value == "" else kind(value)


def hook_function(
    in_timeline: otio.schema.Timeline, argument_map: dict | None = None
) -> otio.schema.Timeline:
    """`in_timeline` plus the music track when `muvi_score` is set, else `in_timeline` itself.

    Raises:
        MuviError: Scoring was asked for without anywhere to put the audio, or it failed (named).
    """
    from muvi_plugin.api import load_bundle

    arguments = dict(argument_map or {})
    if not arguments.get("muvi_score"):
        return in_timeline
    written = arguments.get("_filepath")
    audio_dir = arguments.get("muvi_audio_dir") or (audio_folder_for(written) if written else None)
    if audio_dir is None:
        raise MuviError("muvi_score: give muvi_audio_dir (where the music files go)")
    rules = relinker({"base": arguments.get("muvi_base"), "search_roots": arguments.get("muvi_search_roots")})
    missing = arguments.get("muvi_missing", "error")
    picture = TimelinePicture(in_timeline, relinker=rules, missing=missing, name=in_timeline.name or None)
    ranges = select_ranges(
        in_timeline,
        ranges=[arguments["muvi_range"]] if arguments.get("muvi_range") else [],
        marker_name=_optional(arguments, "muvi_markers", str),
        marker_color=_optional(arguments, "muvi_marker_color", str),
        whole_timeline=bool(arguments.get("muvi_whole")),
    )
    for r in ranges:
        picture.check_media(*r.seconds)
    job = TimelineJob(
        timeline=Path(written or "timeline"),
        out=Path(written or "timeline.otio"),
        seed=_optional(arguments, "muvi_seed", int) or 0,
        steps=_optional(arguments, "muvi_steps", int),
        guidance=_optional(arguments, "muvi_cfg", float),
        missing=missing,
        audio_dir=Path(audio_dir),
    )
    scorer = load_bundle(_optional(arguments, "muvi_bundle", str), device=arguments.get("muvi_device", "cpu"))
    scored = [
        score_range(scorer, picture, r, job=job, path=audio_path(job, index, r))
        for index, r in enumerate(ranges)
    ]
    return with_score(in_timeline, scored)


__all__ = ["hook_function"]
