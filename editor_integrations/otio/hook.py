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
from muvi_plugin.timeline.score import TimelineSettings, plan_timeline, score_plan
from muvi_plugin.timeline.writing import audio_folder_for


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
    settings = TimelineSettings(
        ranges=(arguments["muvi_range"],) if arguments.get("muvi_range") else (),
        marker_name=_optional(arguments, "muvi_markers", str),
        marker_color=_optional(arguments, "muvi_marker_color", str),
        whole=bool(arguments.get("muvi_whole")),
        seed=_optional(arguments, "muvi_seed", int) or 0,
        steps=_optional(arguments, "muvi_steps", int),
        guidance=_optional(arguments, "muvi_cfg", float),
        missing=arguments.get("muvi_missing", "error"),
        base=rules.base,
        search_roots=rules.search_roots,
    )
    # `score_timeline` in two steps: a bad range or missing media fails before the bundle loads.
    plan = plan_timeline(in_timeline, settings, Path(audio_dir))
    scorer = load_bundle(_optional(arguments, "muvi_bundle", str), device=arguments.get("muvi_device", "cpu"))
    return score_plan(scorer, plan).timeline


__all__ = ["hook_function"]
