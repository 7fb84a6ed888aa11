import json
import math

import numpy as np
import pytest

from training.metrics.report import NotComputed, json_ready, plot_timeline, write_report


def _strict_load(path):
    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_missing_numbers_become_null_with_the_reason():
    ready = json_ready(
        {
            "fad": NotComputed("not computed: no VGGish weights given (--vggish-weights)"),
            "bhs": math.nan,
            "loudness_lufs": -math.inf,
            "peak": np.float32(0.5),
            "count": np.int64(3),
            "ok": np.bool_(True),
            "rates": [0.5, math.nan, np.float64(1.0)],
            "nested": {"sim": NotComputed("no video"), "sim_note": "kept as given"},
        }
    )
    assert ready == {
        "fad": None,
        "fad_note": "not computed: no VGGish weights given (--vggish-weights)",
        "bhs": None,
        "bhs_note": "undefined (NaN)",
        "loudness_lufs": None,
        "loudness_lufs_note": "not finite (-inf)",
        "peak": 0.5,
        "count": 3,
        "ok": True,
        "rates": [0.5, None, 1.0],
        "nested": {"sim": None, "sim_note": "kept as given"},
    }
    assert type(ready["count"]) is int and type(ready["peak"]) is float


def test_the_report_is_strict_json_written_atomically(tmp_path):
    path = tmp_path / "out" / "report.json"
    write_report(path, {"fd": math.inf, "files": [{"name": "a", "bcs": 104.2}]})
    assert _strict_load(path) == {
        "fd": None,
        "fd_note": "not finite (inf)",
        "files": [{"name": "a", "bcs": 104.2}],
    }
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]


def test_a_failed_write_leaves_the_old_report_and_no_temporary_file(tmp_path):
    path = tmp_path / "report.json"
    write_report(path, {"bcs": 1.0})
    with pytest.raises(TypeError):
        write_report(path, {"bcs": object()})
    assert _strict_load(path) == {"bcs": 1.0}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_plot_timeline_writes_a_png(tmp_path):
    import matplotlib.image

    rate = 22_050
    wave = 0.3 * np.sin(2 * np.pi * 440 * np.arange(2 * rate) / rate).astype(np.float32)
    path = plot_timeline(
        tmp_path / "plots" / "clip.png",
        wave=np.stack([wave, wave]),
        sample_rate=rate,
        title="clip.wav",
        beats=np.array([0.5, 1.0, 1.5]),
        onsets=np.array([0.5, 1.5]),
        reference_beats=np.array([0.52, 1.02]),
        cuts=np.array([1.0]),
        motion=np.array([]),
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width = matplotlib.image.imread(path).shape[:2]
    assert (width, height) == (960, 480)  # 12 x 6 inches at 80 dpi
    assert [p.name for p in path.parent.iterdir()] == ["clip.png"]
