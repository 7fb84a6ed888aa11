"""The `muvi` command line, run for real in subprocesses (exit codes, files left, Ctrl-C)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from tests import media_factory as mf

REPO = Path(__file__).resolve().parents[2]
TESTVIDEO = REPO / ".." / "shared" / "media" / "testvideo.mp4"


def muvi(*args, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "muvi_plugin", *map(str, args)]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def read_back(path: Path) -> tuple[int, int]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return sum(frame.samples for frame in container.decode(stream)), stream.rate


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return mf.make_video(tmp_path_factory.mktemp("media") / "clip.mp4", seconds=3.0, audio=None)


def test_score_real_footage_writes_exactly_the_range(debug_bundle, tmp_path):
    run = muvi(
        "score", TESTVIDEO, "--start", 3, "--end", 13.5, "--bundle", debug_bundle, "--steps", 4, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    out = tmp_path / "testvideo.muvi.wav"  # default: in the current folder
    assert read_back(out) == (252_000, 24_000)
    assert run.stdout.count("\n") == 1 and run.stdout.startswith(f"{out}: 10.50 s of music")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["testvideo.muvi.wav"]


def test_score_without_out_never_replaces_an_earlier_take(debug_bundle, video, tmp_path):
    first = muvi("score", video, "--bundle", debug_bundle, "--steps", 2, "--seed", 1, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    take = tmp_path / "clip.muvi.wav"
    before = take.read_bytes()
    second = muvi("score", video, "--bundle", debug_bundle, "--steps", 2, "--seed", 2, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith(f"{tmp_path / 'clip.muvi-2.wav'}: ")
    assert take.read_bytes() == before, "the first take is kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.muvi-2.wav", "clip.muvi.wav"]


def test_score_to_flac_with_a_video_copy(debug_bundle, video, tmp_path):
    before = video.read_bytes()
    run = muvi(
        "score", video, "--end", 2, "--seed", 5, "--steps", 2, "--cfg", 2.5, "--loudness", "off",
        "--bundle", debug_bundle, "--out", tmp_path / "music.flac", "--mux", tmp_path / "copy.mp4",
        "--device", "cpu", "--threads", 1, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert read_back(tmp_path / "music.flac") == (48_000, 24_000)
    with av.open(str(tmp_path / "copy.mp4")) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
    assert video.read_bytes() == before
    assert "seed 5, 2 steps, guidance 2.5" in run.stdout


def test_a_given_tempo_is_planned_and_recorded(debug_bundle, tmp_path):
    """testvideo.mp4 0-7 s has two hard cuts (1.0 s, 6.0 s): a 100 BPM plan puts the first on a downbeat."""
    args = (
        "score",
        TESTVIDEO,
        "--end",
        7,
        "--steps",
        1,
        "--bundle",
        debug_bundle,
        "--out",
        tmp_path / "a.wav",
    )
    run = muvi(*args, "--tempo", 100, "--report", tmp_path / "r.json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    record = json.loads((tmp_path / "r.json").read_text())
    plan = record["tempo_plan"]
    assert record["tempo"] == 100.0 and plan["tempo"] == 100.0 and plan["given"] is True
    assert "tempo plan 100 BPM (given): " in run.stdout
    assert plan["hits"][0]["time"] == pytest.approx(1.0, abs=0.1) and plan["hits"][0]["on_beat"]
    assert plan["beats"][1] - plan["beats"][0] == pytest.approx(0.6)
    free = muvi(*args, "--report", tmp_path / "free.json", cwd=tmp_path)
    assert free.returncode == 0, free.stderr
    record = json.loads((tmp_path / "free.json").read_text())
    assert record["tempo"] is None and 60 <= record["tempo_plan"]["tempo"] <= 180
    assert record["tempo_plan"]["given"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", 5, "--end", 9], "range 5-9 s is outside the media"),
        (["--start", 1, "--end", 1], "empty range 1-1 s"),
        (["--seed", -3], "seed must be an integer from 0 to"),
        (["--tempo", 300], "tempo must be a finite number from 60 to 180 BPM, got 300"),
        (["--tempo", "nan"], "tempo must be a finite number from 60 to 180 BPM, got nan"),
        (["--out", "music.mp3"], "unsupported audio format"),
        (["--mux", "copy.avi"], "unsupported container"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_file(debug_bundle, video, tmp_path, args, message):
    run = muvi("score", video, "--bundle", debug_bundle, *args, cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("muvi: error: ") and message in run.stderr
    assert list(tmp_path.iterdir()) == []


def test_no_video_stream_and_missing_bundle(debug_bundle, tmp_path):
    sound = mf.make_audio_only(tmp_path / "sound.m4a")
    run = muvi("score", sound, "--bundle", debug_bundle, cwd=tmp_path)
    assert (run.returncode, run.stderr) == (2, f"muvi: error: {sound}: no video stream\n")
    run = muvi("score", sound, "--bundle", tmp_path / "nowhere", cwd=tmp_path)
    assert (run.returncode, run.stderr) == (
        2,
        f"muvi: error: {tmp_path / 'nowhere'}: no such bundle folder or .zip\n",
    )
    assert [p.name for p in tmp_path.iterdir()] == ["sound.m4a"]


def test_bundle_info_and_verify(debug_bundle, tmp_path):
    info = muvi("bundle", "info", debug_bundle, cwd=tmp_path)
    assert info.returncode == 0 and "muvi-debug" in info.stdout and "25 steps" in info.stdout
    ok = muvi("bundle", "verify", debug_bundle, cwd=tmp_path)
    assert ok.returncode == 0 and "7 graphs match" in ok.stdout
    copy = shutil.copytree(debug_bundle, tmp_path / "copy")
    data = bytearray((copy / "adaptor.onnx").read_bytes())
    data[100] ^= 0xFF
    (copy / "adaptor.onnx").write_bytes(bytes(data))
    bad = muvi("bundle", "verify", copy, cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stderr.startswith(f"muvi: error: {copy / 'adaptor.onnx'}: checksum mismatch")
    assert muvi("bundle", "verify", tmp_path / "nowhere", cwd=tmp_path).returncode == 2


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_cancels_cleanly_and_leaves_no_file(signum, debug_bundle, tmp_path_factory, tmp_path):
    # The most steps allowed over several windows: sampling lasts long enough to be interrupted.
    video = mf.make_video(tmp_path_factory.mktemp("long") / "long.mp4", seconds=90.0, fps=2.0, audio=None)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "muvi_plugin", "score", str(video), "--steps", "200", "--bundle"]
    process = subprocess.Popen(
        [*command, str(debug_bundle)], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        # Wait for sampling to start: the progress bar names the stage.
        seen = ""
        deadline = time.monotonic() + 60
        while "dit" not in seen and time.monotonic() < deadline:
            seen += process.stderr.read(1)
        assert "dit" in seen
        process.send_signal(signum)  # SIGTERM used to kill muvi on the spot
        _, rest = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130
    assert "muvi: cancelled; nothing was written" in rest and "Traceback" not in rest
    assert list(tmp_path.iterdir()) == []
