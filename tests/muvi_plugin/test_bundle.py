"""Bundle loading: checksums, zips, providers, and the manifest's contract with the graphs."""

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from muvi_plugin import bundle as bundle_module
from muvi_plugin.bundle import CPU, open_bundle, read_bundle_manifest, verify_bundle
from muvi_plugin.errors import BundleError, ChecksumError
from muvi_plugin.manifest import GRAPH_NAMES, compute_bundle_id


def copy_bundle(source: Path, dest: Path, **manifest_changes) -> Path:
    shutil.copytree(source, dest)
    if manifest_changes:
        path = dest / "manifest.json"
        data = json.loads(path.read_text())
        data.update(manifest_changes)
        path.write_text(json.dumps(restamped(data)))
    return dest


def restamped(data: dict) -> dict:
    """A manifest edited on purpose, with the id its new content gives (as an export would stamp it)."""
    return {**data, "bundle_id": compute_bundle_id(data)}


def flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def zip_folder(folder: Path, archive: Path, *, top: str | None) -> Path:
    with zipfile.ZipFile(archive, "w") as z:
        for file in sorted(folder.iterdir()):
            z.write(file, f"{top}/{file.name}" if top else file.name)
    return archive


def test_open_verifies_and_opens_every_graph_on_the_cpu(debug_bundle):
    bundle = open_bundle(debug_bundle, device="cpu", threads=1)
    assert set(bundle.sessions) == set(GRAPH_NAMES)
    assert bundle.provider == CPU and bundle.device == "cpu" and bundle.notes == ()
    assert all(s.get_providers() == [CPU] for s in bundle.sessions.values())
    assert bundle.bundle_id == bundle.manifest.bundle_id and bundle.bundle_id.startswith("muvi-debug")
    assert verify_bundle(debug_bundle).bundle_id == bundle.bundle_id


@pytest.mark.parametrize("graph", ["dit_velocity", "vocoder"])
def test_a_changed_byte_is_refused_naming_the_file(debug_bundle, tmp_path, graph):
    copy = copy_bundle(debug_bundle, tmp_path / "bundle")
    file = copy / read_bundle_manifest(copy).graphs[graph].file
    flip_one_byte(file)
    for check in (verify_bundle, open_bundle):
        with pytest.raises(ChecksumError, match=f"{file}: checksum mismatch"):
            check(copy)


def test_a_missing_graph_is_refused_naming_the_file(debug_bundle, tmp_path):
    copy = copy_bundle(debug_bundle, tmp_path / "bundle")
    (copy / "encoder.onnx").unlink()
    with pytest.raises(ChecksumError, match=r"encoder\.onnx: graph file missing"):
        verify_bundle(copy)


@pytest.mark.parametrize("top", [None, "muvi-debug"])
def test_a_zip_of_a_bundle_loads_and_a_corrupt_one_is_refused(debug_bundle, tmp_path, top):
    archive = zip_folder(debug_bundle, tmp_path / "bundle.zip", top=top)
    bundle = open_bundle(archive, device="cpu")
    assert bundle.path == archive and set(bundle.sessions) == set(GRAPH_NAMES)
    copy = copy_bundle(debug_bundle, tmp_path / "corrupt")
    flip_one_byte(copy / "vae_decoder.onnx")
    bad = zip_folder(copy, tmp_path / "bad.zip", top=top)
    member = f"{top}/vae_decoder.onnx" if top else "vae_decoder.onnx"
    with pytest.raises(ChecksumError, match=f"bad.zip:{member}: checksum mismatch"):
        open_bundle(bad)


def test_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="no such bundle"):
        open_bundle(tmp_path / "nothing")
    with pytest.raises(BundleError, match=r"manifest\.json: no manifest"):
        open_bundle(tmp_path)
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(BundleError, match="neither a folder nor a .zip"):
        open_bundle(tmp_path / "junk.zip")
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(BundleError, match="unreadable manifest"):
        open_bundle(tmp_path)


def test_no_embedded_default_bundle_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(bundle_module, "default_bundle_path", lambda: tmp_path / "default_bundle")
    with pytest.raises(BundleError, match="no embedded default bundle in this install; pass a bundle folder"):
        open_bundle()


def test_graph_names_must_match_the_manifest(debug_bundle, tmp_path):
    copy = copy_bundle(debug_bundle, tmp_path / "bundle")
    data = json.loads((copy / "manifest.json").read_text())
    data["graphs"]["vocoder"]["outputs"][0]["name"] = "audio"
    (copy / "manifest.json").write_text(json.dumps(restamped(data)))
    with pytest.raises(BundleError, match=r"vocoder\.onnx: graph 'vocoder' has inputs"):
        open_bundle(copy)


def test_devices(debug_bundle, tmp_path):
    import onnxruntime

    has_cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    bundle = open_bundle(debug_bundle, device="auto")
    if not has_cuda:
        assert bundle.provider == CPU
        assert bundle.notes == ("no CUDA provider in this onnxruntime; running on the CPU",)
        with pytest.raises(BundleError, match="CUDA was asked for.*onnxruntime-gpu"):
            open_bundle(debug_bundle, device="cuda")
    fp16 = copy_bundle(debug_bundle, tmp_path / "fp16", precision="fp16")
    with pytest.raises(BundleError, match="fp16 bundle runs only with CUDA"):
        open_bundle(fp16, device="cpu")
    with pytest.raises(BundleError, match="device must be one of"):
        open_bundle(debug_bundle, device="gpu")
    with pytest.raises(BundleError, match="threads must be at least 1"):
        open_bundle(debug_bundle, threads=0)
