"""The bundle writer: manifest contents, checksums, atomic writes, export from checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

import export.bundle as bundle_module
from export.bundle import (
    DEBUG_LATENT_MEAN,
    DEBUG_LATENT_STD,
    CheckpointError,
    bundle_from_checkpoints,
    debug_parts,
    export_bundle,
)
from export.onnx_io import sha256_file
from export.verify import FP32_TOLERANCE, VerificationError
from muvi_plugin.manifest import GRAPH_NAMES, MANIFEST_NAME, Defaults, compute_bundle_id, read_manifest
from muvi_plugin.mel import MelSpec


def test_debug_bundle_manifest(debug_bundle):
    manifest = read_manifest(debug_bundle)
    assert sorted(p.name for p in Path(debug_bundle).iterdir()) == sorted(
        [MANIFEST_NAME, *(f"{g}.onnx" for g in GRAPH_NAMES)]
    )
    for name, spec in manifest.graphs.items():
        assert spec.file == f"{name}.onnx"
        assert spec.sha256 == sha256_file(Path(debug_bundle) / spec.file)
    assert manifest.bundle_id == compute_bundle_id(manifest) and manifest.bundle_id.startswith(
        "muvi-debug-fp32-"
    )
    assert (manifest.precision, manifest.opset, manifest.exporter) == (
        "fp32",
        17,
        "torch.onnx.export(dynamo=False)",
    )
    assert manifest.audio.n_mels == MelSpec().n_mels and manifest.audio.hop_length == MelSpec().hop_length
    assert manifest.latent.rate == 10.0 and manifest.latent.downsample == 8
    np.testing.assert_allclose(manifest.latent.mean, DEBUG_LATENT_MEAN, rtol=1e-6)
    np.testing.assert_allclose(manifest.latent.std, DEBUG_LATENT_STD, rtol=1e-6)
    assert (manifest.video.image_size, manifest.video.clip_frames, manifest.video.grid) == (32, 16, (4, 4))
    assert manifest.defaults == Defaults()
    provenance = manifest.provenance
    assert provenance["code_version"] and provenance["exported_with"]["onnxruntime"] == ort.__version__
    report = provenance["verification"]
    assert set(report) == set(GRAPH_NAMES)
    for entry in report.values():
        assert entry["max_abs_error"] <= FP32_TOLERANCE.atol + FP32_TOLERANCE.rtol * entry["peak"]


def test_export_is_reproducible(debug_bundle, tmp_path):
    again = bundle_module.build_debug_bundle(tmp_path / "again", seed=0)
    assert read_manifest(again).bundle_id == read_manifest(debug_bundle).bundle_id
    other = bundle_module.build_debug_bundle(tmp_path / "other", seed=1, verify=False)
    assert read_manifest(other).bundle_id != read_manifest(debug_bundle).bundle_id
    assert read_manifest(other).provenance["verification"] == "skipped"


def _fail_verification(*args, **kwargs):
    raise VerificationError("dit_velocity: max abs error too large")


def test_failed_export_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(bundle_module, "verify_graphs", _fail_verification)
    with pytest.raises(VerificationError):
        export_bundle(debug_parts(seed=0), tmp_path / "b", name="x", provenance={})
    assert list(tmp_path.iterdir()) == []


def test_existing_bundle_is_kept_unless_overwrite(tmp_path, monkeypatch):
    out = export_bundle(debug_parts(seed=0), tmp_path / "b", name="first", provenance={}, verify=False)
    with pytest.raises(FileExistsError, match="already exists"):
        export_bundle(debug_parts(seed=0), out, name="second", provenance={}, verify=False)
    monkeypatch.setattr(bundle_module, "verify_graphs", _fail_verification)
    with pytest.raises(VerificationError):  # a failed overwrite leaves the old bundle whole
        export_bundle(debug_parts(seed=0), out, name="second", provenance={}, overwrite=True)
    assert read_manifest(out).name == "first"
    monkeypatch.undo()
    export_bundle(debug_parts(seed=0), out, name="second", provenance={}, verify=False, overwrite=True)
    assert read_manifest(out).name == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]  # no temporary folder left over


def test_bundle_from_checkpoints(checkpoints, tmp_path):
    out = bundle_from_checkpoints(
        v2m=checkpoints["v2m"], vocoder=checkpoints["vocoder"], out_dir=tmp_path / "b"
    )
    manifest = read_manifest(out)
    assert manifest.name == "muvi-debug"
    ckpts = manifest.provenance["checkpoints"]
    assert ckpts["v2m"]["sha256"] == sha256_file(checkpoints["v2m"])
    assert (ckpts["v2m"]["stage"], ckpts["v2m"]["step"], ckpts["v2m"]["data"]) == (
        "v2m",
        7,
        {"data": "/data/v2m"},
    )
    assert ckpts["vocoder"]["stage"] == "vocoder"
    # The graphs carry the checkpoints' weights: the decoder equals the seed-3 model, not a fresh one.
    parts = debug_parts(seed=3)
    latent = torch.randn(1, 8, 5, generator=torch.Generator().manual_seed(0))
    sess = ort.InferenceSession(str(out / "vae_decoder.onnx"), providers=["CPUExecutionProvider"])
    (mel,) = sess.run(None, {"latent": latent.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(mel, parts["vae"].decode(latent).numpy(), rtol=1e-4, atol=1e-5)


def test_wrong_checkpoint_names_the_file_and_what_is_missing(checkpoints, tmp_path):
    with pytest.raises(CheckpointError) as error:
        bundle_from_checkpoints(
            v2m=checkpoints["vae"], vocoder=checkpoints["vocoder"], out_dir=tmp_path / "b"
        )
    message = str(error.value)
    assert (
        str(checkpoints["vae"]) in message
        and "dit, visual_encoder, adaptor" in message
        and "'vae'" in message
    )
    with pytest.raises(CheckpointError, match="lacks the model parts vocoder"):
        bundle_from_checkpoints(v2m=checkpoints["v2m"], vocoder=checkpoints["v2m"], out_dir=tmp_path / "b")
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        bundle_from_checkpoints(
            v2m=tmp_path / "nope.ckpt", vocoder=checkpoints["vocoder"], out_dir=tmp_path / "b"
        )
    assert not (tmp_path / "b").exists()


def test_manifest_json_is_the_schema(debug_bundle):
    data = json.loads((Path(debug_bundle) / MANIFEST_NAME).read_text())
    assert data["schema_version"] == 1 and data["graphs"]["adaptor"]["inputs"][1]["name"] == "n_out"
