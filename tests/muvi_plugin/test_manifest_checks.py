"""A manifest.json from anywhere: every value of the wrong type or out of its range is one named error.

The fuzz run (tools/fuzz.py, docs/reliability.md) found tracebacks for a string in latent.std, a number as
a graph's file and `"graphs": 1`; these are the neighbours it points at: a bundle that loads must also run
(no zero rate, hop or std to divide by later).
"""

from __future__ import annotations

import json

import pytest

from muvi_plugin.bundle import default_bundle_path, read_bundle_manifest
from muvi_plugin.errors import BundleError
from muvi_plugin.manifest import compute_bundle_id


def edited(tmp_path, place: tuple, value: object):
    manifest = json.loads((default_bundle_path() / "manifest.json").read_text(encoding="utf-8"))
    parent = manifest
    for key in place[:-1]:
        parent = parent[key]
    parent[place[-1]] = value
    manifest["bundle_id"] = compute_bundle_id({k: v for k, v in manifest.items() if k != "bundle_id"})
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("place", "value", "message"),
    [
        (("name",), 5, "manifest.name must be a string, got 5"),
        (("opset",), True, "manifest.opset must be an integer, got true"),
        (("audio", "hop_length"), 0, "audio.hop_length must be at least 1, got 0"),
        (("audio", "f_max"), 0.0, "audio.f_max must be over 0, got 0.0"),
        (("audio", "sample_rate"), "24000", 'audio.sample_rate must be an integer, got "24000"'),
        (("latent", "rate"), 0.0, "latent.rate must be over 0, got 0.0"),
        (("latent", "std"), [1.0, 0.0, 1, 1, 1, 1, 1, 1], "latent.std must be over 0 (it divides), got 0.0"),
        (("video", "grid"), [6], "video.grid must be a list of 2 integers, got [6]"),
        (("video", "grid"), [0, 6], "video.grid must be two integers of at least 1, got [0, 6]"),
        (("video", "fps"), float("nan"), "video.fps must be a finite number, got NaN"),
        (("defaults",), [], "defaults must be an object, got []"),
        (("graphs", "vocoder", "inputs"), "mel", "graphs.vocoder: graph 'vocoder.onnx': inputs and outputs"),
        (("graphs", "encoder", "outputs", 0, "shape"), [1.5], "tensor.shape must be a list of integers or"),
        (("provenance",), "x", "provenance must be an object"),
    ],
)
def test_wrong_values_are_named_errors(tmp_path, place, value, message):
    with pytest.raises(BundleError) as caught:
        read_bundle_manifest(edited(tmp_path, place, value))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_embedded_manifest_passes_every_check():
    assert read_bundle_manifest(None).latent.rate == 10.0
