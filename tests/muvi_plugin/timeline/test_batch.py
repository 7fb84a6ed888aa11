"""The batch's job manifest is written whole or not at all (it used to leave its temporary file behind)."""

from __future__ import annotations

import json

import pytest

from muvi_plugin.timeline.batch import _write_json


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("cannot print this")


def test_a_failed_manifest_write_keeps_the_old_one_and_leaves_nothing(tmp_path):
    manifest = tmp_path / "muvi-batch.json"
    _write_json(manifest, {"version": 1, "jobs": {}})
    before = manifest.read_bytes()
    # json.dump fails half-way through (the default=str fallback raises on this value).
    with pytest.raises(RuntimeError, match="cannot print"):
        _write_json(manifest, {"version": 1, "jobs": {"a": {"status": "done"}, "b": _Unprintable()}})
    assert manifest.read_bytes() == before and json.loads(before)["version"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["muvi-batch.json"], "no temporary file left behind"
