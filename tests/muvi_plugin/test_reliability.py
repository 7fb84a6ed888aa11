"""The runtime never touches the user's files, never hangs, and says one clear line (docs/reliability.md).

`muvi score` runs for real in subprocesses; the API and the guard run in process.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from muvi_plugin.api import MuviError, ScoreRequest, load_bundle
from muvi_plugin.bundle import open_bundle, read_bundle_manifest, verify_bundle
from muvi_plugin.errors import BundleError, ChecksumError
from muvi_plugin.manifest import compute_bundle_id
from muvi_plugin.media import MediaError, probe
from tests import media_factory as mf
from tests.muvi_plugin.test_cli import REPO, muvi


@pytest.fixture(scope="module")
def scorer(debug_bundle):
    return load_bundle(debug_bundle, device="cpu", threads=1)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """A 2 s video and a 2 s style reference, in a folder the tests only read."""
    folder = tmp_path_factory.mktemp("reliability")
    mf.make_video(folder / "video.mp4", seconds=2.0, audio=None)
    mf.make_audio_only(folder / "style.m4a", seconds=2.0)
    return folder


def one_line(run) -> str:
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("muvi: error: "), run.stderr
    assert "Traceback" not in run.stderr
    return run.stderr


# --- outputs never overwrite an input ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["clip.wav", "--out", "clip.wav"], "--out is the input video"),  # a video named .wav
        (["counter.mp4", "--style", "style.wav", "--out", "style.wav"], "--out is the input style reference"),
        (["counter.mp4", "--report", "counter.mp4"], "--report is the input video"),
        (["counter.mp4", "--mux", "counter.mp4"], "--mux is the input video"),
        (["counter.mp4", "--style", "style.wav", "--out", "hard.wav"], "--out is the input style reference"),
        (["counter.mp4", "--style", "style.wav", "--out", "soft.wav"], "--out is the input style reference"),
        (["counter.mp4", "--out", "a.wav", "--report", "a.wav"], "--report and --out name the same file"),
    ],
)
def test_outputs_naming_an_input_are_refused(debug_bundle, media, tmp_path, args, message):
    shutil.copy(media / "video.mp4", tmp_path / "clip.wav")
    shutil.copy(media / "video.mp4", tmp_path / "counter.mp4")
    shutil.copy(media / "style.m4a", tmp_path / "style.wav")
    os.link(tmp_path / "style.wav", tmp_path / "hard.wav")
    (tmp_path / "soft.wav").symlink_to(tmp_path / "style.wav")  # hard.wav: a hard link, soft.wav: a symlink
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    run = muvi("score", *args, "--bundle", debug_bundle, "--steps", 1, cwd=tmp_path)
    assert message in one_line(run)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing written, nothing lost


def test_report_into_a_missing_folder_writes_nothing(debug_bundle, media, tmp_path):
    """It was a traceback after scoring, with the music file left behind."""
    shutil.copy(media / "video.mp4", tmp_path / "clip.mp4")
    run = muvi("score", "clip.mp4", "--report", "missing/take.json", "--bundle", debug_bundle, cwd=tmp_path)
    assert "take.json: the folder missing does not exist" in one_line(run)
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


# --- inputs that are not regular files are refused before opening ----------------------------------------


def finishes(call, fifos: list[Path], seconds: float = 20.0) -> BaseException | None:
    """Run `call` in a thread; the error it raised. Fails the test if it blocks (then unblocks it)."""
    box: dict = {}

    def target() -> None:
        try:
            call()
        except BaseException as error:  # noqa: BLE001 - handed back to the test
            box["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        deadline = time.monotonic() + 10
        while thread.is_alive() and time.monotonic() < deadline:
            for fifo in fifos:  # a writer that closes at once: each blocked open returns, reading nothing
                with contextlib.suppress(OSError):  # OSError: no reader waiting on this one
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            thread.join(0.05)
        pytest.fail(f"blocked for {seconds:g} s opening a FIFO")
    return box.get("error")


def test_a_fifo_as_the_video_is_refused_not_a_hang(debug_bundle, tmp_path):
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    run = muvi("score", fifo, "--bundle", debug_bundle, cwd=tmp_path, timeout=60)  # it hung forever
    assert "clip.mp4: a FIFO (named pipe), not a regular file" in one_line(run)


def test_non_regular_inputs_are_refused_before_opening(scorer, debug_bundle, media, tmp_path):
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    style_fifo = tmp_path / "style.wav"
    os.mkfifo(style_fifo)
    bundle = shutil.copytree(debug_bundle, tmp_path / "bundle")
    (bundle / "manifest.json").unlink()
    os.mkfifo(bundle / "manifest.json")
    fifos = [fifo, style_fifo, bundle / "manifest.json"]
    cases = [
        (lambda: probe(fifo), MediaError, "pipe.mp4: a FIFO (named pipe), not a regular file"),
        (lambda: scorer.score(ScoreRequest(fifo)), MediaError, "pipe.mp4: a FIFO"),
        (lambda: scorer.score(ScoreRequest(media / "video.mp4", style=style_fifo, steps=1)), MediaError,
         "style.wav: a FIFO"),  # fmt: skip
        (lambda: open_bundle(bundle), BundleError, "manifest.json: a FIFO"),
        (lambda: scorer.score(ScoreRequest(tmp_path)), MediaError, "a folder, not a regular file"),
        (lambda: probe("/dev/zero"), MediaError, "/dev/zero: a character device, not a regular file"),
    ]
    for call, error, message in cases:
        raised = finishes(call, fifos)
        assert isinstance(raised, error) and message in str(raised), (message, raised)


# --- every setting has a range ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"steps": 100000}, "steps must be an integer from 1 to 200, got 100000"),
        ({"guidance": -5.0}, "guidance must be a finite number from 0 to 20, got -5"),
        ({"guidance": 1e30}, "guidance must be a finite number from 0 to 20, got 1e+30"),
        ({"start": float("nan"), "end": 1.0}, "start must be a finite number of seconds, got nan"),
        ({"end": float("inf")}, "end must be a finite number of seconds, got inf"),
        ({"seed": 2**64}, "seed must be an integer from 0 to 9,223,372,036,854,775,807"),
        ({"seed": True}, "seed must be an integer"),
        ({"style_start": -1.0}, "style start must not be negative"),
    ],
)
def test_settings_out_of_range_are_refused_by_the_api(scorer, media, change, message):
    with pytest.raises(MuviError) as caught:
        scorer.settings(ScoreRequest(media / "video.mp4", **change))
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steps", 100000], "steps must be an integer from 1 to 200, got 100000"),
        (["--cfg", "-5"], "guidance must be a finite number from 0 to 20, got -5"),
        (["--start", "nan", "--end", "1"], "start must be a finite number of seconds, got nan"),
        (["--threads", 100000], "--threads must be an integer from 1 to 1,024"),
    ],
)
def test_settings_out_of_range_are_one_line_on_the_command_line(debug_bundle, media, tmp_path, args, message):
    run = muvi("score", media / "video.mp4", "--bundle", debug_bundle, *args, cwd=tmp_path)
    assert message in one_line(run) and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("steps", 100000, "defaults: steps must be an integer from 1 to 200"),
        ("true_peak_dbtp", 3.0, "defaults: true_peak_dbtp must be a finite number from -20 to 0"),
    ],
)
def test_bundle_defaults_out_of_range_are_refused(debug_bundle, tmp_path, key, value, message):
    copy = shutil.copytree(debug_bundle, tmp_path / "bundle")
    data = json.loads((copy / "manifest.json").read_text())
    data["defaults"][key] = value
    data["bundle_id"] = compute_bundle_id(data)
    (copy / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match=message):
        read_bundle_manifest(copy)


# --- a bundle's id is checked ----------------------------------------------------------------------------


def test_an_edited_manifest_no_longer_carries_the_models_id(debug_bundle, tmp_path):
    """Defaults removed from manifest.json: it reported the original id, so two models shared one."""
    copy = shutil.copytree(debug_bundle, tmp_path / "bundle")
    original = read_bundle_manifest(debug_bundle).bundle_id
    data = json.loads((copy / "manifest.json").read_text())
    del data["defaults"]
    (copy / "manifest.json").write_text(json.dumps(data))
    for check in (read_bundle_manifest, verify_bundle, open_bundle):
        with pytest.raises(ChecksumError, match=f"bundle id {original} does not match the manifest's"):
            check(copy)
    run = muvi("bundle", "verify", copy, cwd=tmp_path)
    assert run.returncode == 1 and "was edited after export" in run.stderr
    # Stamped again (as an export would), it loads under an id of its own.
    data["bundle_id"] = compute_bundle_id(data)
    (copy / "manifest.json").write_text(json.dumps(data))
    assert open_bundle(copy, device="cpu").bundle_id == data["bundle_id"] != original


def test_the_id_hashes_the_manifest_as_written(debug_bundle):
    """The file's content, not the dataclass with defaults filled in (a field a later muvi adds with a
    default keeps old ids); the exporter's dataclass gives the same id; provenance does not count."""
    data = json.loads((Path(debug_bundle) / "manifest.json").read_text())
    manifest = read_bundle_manifest(debug_bundle)
    assert compute_bundle_id(data) == data["bundle_id"] == compute_bundle_id(manifest)
    assert compute_bundle_id({**data, "provenance": {"notes": "edited"}}) == data["bundle_id"]
    assert compute_bundle_id({**data, "defaults": {**data["defaults"], "steps": 8}}) != data["bundle_id"]


# --- ONNX Runtime writes nothing outside the outputs -----------------------------------------------------


def test_scoring_writes_nothing_under_home_or_the_temporary_folder(debug_bundle, media, tmp_path):
    """ONNX Runtime's telemetry wrote ~/.cache/Microsoft/DeveloperTools/.onnxruntime and $TMPDIR/.ses."""
    home, temporary, work = (tmp_path / name for name in ("home", "tmp", "work"))
    for folder in (home, temporary, work):
        folder.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "ORT_DISABLE_TELEMETRY"}  # a user's
    env.update(HOME=str(home), TMPDIR=str(temporary), PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", "muvi_plugin", "score", str(media / "video.mp4"), "--bundle",
               str(debug_bundle), "--steps", "1"]  # fmt: skip
    run = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert list(home.rglob("*")) == [] and list(temporary.rglob("*")) == []
    assert [p.name for p in work.iterdir()] == ["video.muvi.wav"]


# --- the guard on its own --------------------------------------------------------------------------------


def test_guard_refuses_folders_and_non_regular_outputs(tmp_path):
    from muvi_plugin import guard  # here: the module collects against older code too

    (tmp_path / "folder").mkdir()
    (tmp_path / "new").mkdir()
    os.mkfifo(tmp_path / "pipe.wav")
    with pytest.raises(MuviError, match="is an existing folder; muvi writes a file"):
        guard.check_outputs({"--out": tmp_path / "folder"})
    with pytest.raises(MuviError, match="exists as a FIFO"):
        guard.check_outputs({"--out": tmp_path / "pipe.wav"})
    with pytest.raises(MuviError, match="existing folder muvi did not create"):
        guard.check_outputs({"--out": tmp_path / "folder"}, folders=["--out"])
    guard.mark(tmp_path / "new")
    guard.check_outputs({"--out": tmp_path / "new"}, folders=["--out"])  # muvi's own: may be replaced
    assert list((tmp_path / "folder").iterdir()) == []
