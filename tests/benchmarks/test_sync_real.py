"""benchmarks/sync_real.py end to end on a rendered clip with known cuts, scored by the debug bundle."""

import json

import pytest

from benchmarks import sync_real
from tests.training.metrics.conftest import CUT_FRAMES, FPS, write_shot_video


def test_the_table_has_every_clip_the_pooled_row_and_sane_baselines(debug_bundle, tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    write_shot_video(media / "shots.mp4")
    (media / "notes.txt").write_text("not a video")
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Other\n\nkept\n")
    argv = [
        "--media",
        str(media),
        "--bundle",
        str(debug_bundle),
        "--write",
        str(doc),
        "--json",
        str(tmp_path / "r.json"),
    ]
    assert sync_real.main(argv) == 0
    text = doc.read_text()
    assert "## Other\n\nkept\n" in text and sync_real.SECTION in text
    (row,) = json.loads((tmp_path / "r.json").read_text())
    assert row["clip"] == "shots.mp4" and row["kinds"]["cut"] == len(CUT_FRAMES)
    # Clicks on the events hit every one of them, far above the shifted clicks; random clicks are chance.
    clicks = row["sync"]["clicks on events"]
    assert clicks["hit_rate"] == 1.0 and clicks["shifted_mean"] < 0.5
    cut_times = [t for t, k in zip(clicks["event_times_s"], clicks["event_kinds"], strict=True) if k == "cut"]
    assert all(abs(t - (f - 0.5) / FPS) < 1e-3 for t, f in zip(cut_times, CUT_FRAMES, strict=True))
    assert 0.4 < row["sync"]["random clicks"]["ratio"] < 2.5
    assert "| **pooled** (1 clips) |" in text and "| shots.mp4 | 6.0 |" in text
    assert "Pooled, the music hits " in text


def test_the_wilson_interval():
    assert sync_real.wilson(9, 15) == pytest.approx((0.357, 0.802), abs=1e-3)
    assert sync_real.wilson(0, 5)[0] == 0.0 and sync_real.wilson(5, 5)[1] == 1.0
