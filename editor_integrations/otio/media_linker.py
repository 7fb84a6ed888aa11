"""`muvi_relink`: OTIO media linker applying muvi's relinking rules (`muvi_plugin.timeline.source`).

    otioconvert -i cut.edl -o cut.otio -m muvi_relink -M base=/projects/cut -M search_roots=/mnt/media

Arguments (`media_linker_argument_map`): `base`, the folder relative references are relative to;
`search_roots`, folders to look in (a list, or one string of `os.pathsep`-separated folders). A reference
that is found points at the file's absolute path; one that is not is left as it was.
"""

from __future__ import annotations

import os
from pathlib import Path

import opentimelineio as otio

from muvi_plugin.timeline.source import Relinker


def relinker(argument_map: dict | None) -> Relinker:
    """The rules the argument map asks for."""
    arguments = dict(argument_map or {})
    roots = arguments.get("search_roots") or []
    if isinstance(roots, str):
        roots = [root for root in roots.split(os.pathsep) if root]
    base = arguments.get("base")
    return Relinker(base=Path(base) if base else None, search_roots=tuple(Path(root) for root in roots))


def link_media_reference(in_clip: otio.schema.Clip, media_linker_argument_map: dict | None = None):
    """The clip's media reference, pointing at the file muvi's rules find (unchanged if none)."""
    reference = in_clip.media_reference
    if not isinstance(reference, otio.schema.ExternalReference):
        return reference
    found = relinker(media_linker_argument_map).find(reference.target_url)
    if found is None:
        return reference
    return otio.schema.ExternalReference(
        target_url=otio.url_utils.url_from_filepath(os.fspath(found.resolve())),
        available_range=reference.available_range,
        metadata=reference.metadata,
    )
