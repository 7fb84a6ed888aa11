"""DaVinci Resolve glue: score the timeline's In/Out from inside Resolve, and the OTIO route (README.md).

The modules that run inside Resolve (`host`, `frames`, `runner`, `place`, `session`, `ui`, `run`) import
only the standard library: Resolve's own Python cannot `pip install` numpy or ONNX Runtime, so the music
is made by the muvi CLI in its own interpreter, out of process.
"""
