"""muvi as an OpenTimelineIO plugin (found through the `opentimelineio.plugins` entry point).

`plugin_manifest.json` registers the `muvi_relink` media linker (`media_linker.py`: muvi's relinking rules)
and the `muvi_score` hook (`hook.py`), attached to `pre_adapter_write`: a write asked to score
(`-H muvi_score=True` with `otioconvert`) gets the music track added; any other write is left alone.
"""
