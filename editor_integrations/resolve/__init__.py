"""DaVinci Resolve glue: score the timeline's In/Out from inside Resolve, and the OTIO route (README.md).

The modules that run inside Resolve (`host`, `frames`, `runner`, `place`, `session`, `ui`, `run`) import
only the standard library and `muvi_plugin.host` (the protocol's client, standard library only): Resolve's
own Python cannot `pip install` numpy or ONNX Runtime, so the music is made by `muvi score --progress json`
in muvi's own interpreter, out of process.
"""
