"""The one atomic writer: whole or nothing, for files and folders, whatever stops the block."""

from __future__ import annotations

import pytest

from muvi_plugin.atomic import atomic_path, write_bytes, write_text


def test_a_file_appears_whole_and_replaces_the_old_one(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.") and tmp.suffix == ".json"
        tmp.write_text("new")
        assert target.read_text() == "old"  # not yet
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["out.json"]
    assert write_text(target, "text ✓") == target and target.read_text(encoding="utf-8") == "text ✓"
    assert write_bytes(target, b"\x00\x01") == target and target.read_bytes() == b"\x00\x01"


@pytest.mark.parametrize("stop", [RuntimeError("boom"), KeyboardInterrupt()])
def test_any_failure_leaves_the_old_file_and_no_temporary(tmp_path, stop):
    target = tmp_path / "out.wav"
    target.write_bytes(b"old")
    with pytest.raises(type(stop)), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise stop
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["out.wav"]


def test_folders_replace_folders_whole(tmp_path):
    target = tmp_path / "bundle"
    target.mkdir()
    (target / "old.onnx").write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "half.onnx").write_text("half")
        raise RuntimeError
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"] and (target / "old.onnx").exists()
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "new.onnx").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.onnx"] and [p.name for p in tmp_path.iterdir()] == [
        "bundle"
    ]


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"), atomic_path(tmp_path / "nowhere" / "x.txt"):
        pass
