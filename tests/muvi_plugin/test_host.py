"""The host protocol, `muvi score --progress json`, and its client `ScoreProcess`: real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from muvi_plugin.api import ScoreReport
from muvi_plugin.errors import Cancelled, MuviError
from muvi_plugin.host import EXIT_BAD_INPUT, EXIT_CANCELLED, PROTOCOL, ScoreProcess
from tests import media_factory as mf

REPO = Path(__file__).resolve().parents[2]
COMMAND = (sys.executable, "-m", "muvi_plugin")
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return mf.make_video(tmp_path_factory.mktemp("media") / "clip.mp4", seconds=3.0, audio=None)


def start(*args, cwd: Path) -> subprocess.Popen:
    argv = [*COMMAND, "score", *map(str, args), "--progress", "json"]
    pipe = subprocess.PIPE
    return subprocess.Popen(argv, cwd=cwd, env=ENV, stdin=pipe, stdout=pipe, stderr=pipe, text=True)


def finish(process: subprocess.Popen) -> tuple[str, str]:
    """stdout and stderr once muvi has ended, stdin kept open meanwhile (closing it would cancel)."""
    assert process.stdout is not None and process.stderr is not None and process.stdin is not None
    stdout, stderr = process.stdout.read(), process.stderr.read()
    process.wait(timeout=120)
    process.stdin.close()
    return stdout, stderr


def test_progress_lines_then_a_result_line_with_the_record(debug_bundle, video, tmp_path):
    out, report = tmp_path / "take.wav", tmp_path / "take.json"
    process = start(video, "--end", 2, "--seed", 3, "--steps", 3, "--bundle", debug_bundle, "--out", out,
                    "--report", report, cwd=tmp_path)  # fmt: skip
    stdout, stderr = finish(process)
    assert process.returncode == 0, stderr
    events = [json.loads(line) for line in stdout.splitlines()]  # every stdout line is one JSON object
    *progress, result = events
    assert {e["event"] for e in progress} == {"progress"}
    assert progress[0] == {"event": "progress", "stage": "load", "fraction": 0.0}
    assert {"decode", "dit", "vocoder", "done"} <= {e["stage"] for e in progress}
    fractions = [e["fraction"] for e in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert result["event"] == "result" and result["protocol"] == PROTOCOL
    assert (result["out"], result["report"], result["mux"]) == (str(out), str(report), None)
    assert result["record"] == json.loads(report.read_text())  # the same record as --report writes
    record = ScoreReport.from_dict(result["record"])
    assert (record.seed, record.steps, record.end) == (3, 3, 2.0) and out.is_file()


def test_an_error_is_one_line_naming_the_file_and_nothing_is_written(debug_bundle, video, tmp_path):
    process = start(video, "--start", 5, "--end", 9, "--bundle", debug_bundle, "--out", tmp_path / "t.wav",
                    cwd=tmp_path)  # fmt: skip
    stdout, _ = finish(process)
    assert process.returncode == EXIT_BAD_INPUT
    error = json.loads(stdout.splitlines()[-1])
    assert error["event"] == "error" and error["exit_code"] == EXIT_BAD_INPUT
    assert str(video) in error["message"] and "outside the media" in error["message"]
    assert "\n" not in error["message"] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("how", ["sigterm", "stdin closed"])
@pytest.mark.parametrize("when", ["load", "dit"])
def test_cancel_leaves_nothing_and_exits_with_the_cancel_code(how, when, debug_bundle, video, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    process = start(video, "--steps", 200, "--bundle", debug_bundle, "--out", out / "take.wav",
                    "--report", out / "take.json", "--mux", out / "copy.mp4", cwd=tmp_path)  # fmt: skip
    assert process.stdout is not None and process.stdin is not None
    seen = []
    for line in process.stdout:
        seen.append(json.loads(line))
        if seen[-1].get("stage") == when:
            break
    if how == "sigterm":
        process.send_signal(signal.SIGTERM)
    else:
        process.stdin.close()
    rest = process.stdout.read()
    process.wait(timeout=120)
    assert process.returncode == EXIT_CANCELLED, process.stderr.read() if process.stderr else ""
    assert json.loads(rest.splitlines()[-1]) == {"event": "cancelled"}
    assert list(out.iterdir()) == [], "no output and no temporary file"


def test_a_host_that_stopped_reading_still_cancels_cleanly(debug_bundle, video, tmp_path):
    # The host closed muvi's stdout (it went away): muvi's next lines go nowhere, it still exits cleanly.
    out = tmp_path / "t.wav"
    process = start(video, "--steps", 200, "--bundle", debug_bundle, "--out", out, cwd=tmp_path)
    assert process.stdout is not None and process.stdin is not None and process.stderr is not None
    assert json.loads(process.stdout.readline())["stage"] == "load"
    process.stdout.close()
    process.stdin.close()
    assert process.wait(timeout=120) == EXIT_CANCELLED
    assert "Traceback" not in process.stderr.read() and list(tmp_path.iterdir()) == []


def test_the_client_returns_the_take_and_reports_progress(debug_bundle, video, tmp_path):
    seen: list[tuple[str, float]] = []
    job = ScoreProcess(
        [video, "--end", 1.5, "--steps", 2, "--bundle", debug_bundle, "--out", tmp_path / "t.wav"],
        command=COMMAND,
        env=ENV,
        on_progress=lambda stage, fraction: seen.append((stage, fraction)),
    )
    take = job.wait()
    assert take.out == tmp_path / "t.wav" and take.out.is_file() and take.files == [take.out]
    assert take.record["steps"] == 2 and take.record["end"] == 1.5
    assert seen[0] == ("load", 0.0) and seen[-1] == ("done", 1.0) and job.returncode == 0


def test_the_client_cancels_cleanly_and_raises_cancelled(debug_bundle, video, tmp_path):
    cancel = threading.Event()
    job = ScoreProcess(
        [video, "--steps", 200, "--bundle", debug_bundle, "--out", tmp_path / "t.wav"],
        command=COMMAND,
        env=ENV,
        on_progress=lambda stage, fraction: stage == "dit" and cancel.set(),
    )
    with pytest.raises(Cancelled):
        job.wait(cancel=cancel)
    assert job.returncode == EXIT_CANCELLED and list(tmp_path.iterdir()) == []


def test_a_cancel_after_the_take_finished_removes_its_files(debug_bundle, video, tmp_path):
    job = ScoreProcess(
        [video, "--end", 1, "--steps", 1, "--bundle", debug_bundle, "--out", tmp_path / "t.wav"],
        command=COMMAND,
        env=ENV,
    )
    job.process.wait(timeout=120)
    job.cancel()  # too late to stop muvi: the finished take is removed instead
    with pytest.raises(Cancelled):
        job.result()
    assert list(tmp_path.iterdir()) == []


def test_the_client_raises_the_error_line(video, tmp_path):
    job = ScoreProcess([video, "--bundle", tmp_path / "no-such-bundle"], command=COMMAND, env=ENV)
    with pytest.raises(MuviError, match="no-such-bundle") as caught:
        job.wait()
    assert "\n" not in str(caught.value) and job.returncode == EXIT_BAD_INPUT


def test_the_client_imports_no_numpy():
    # Resolve's Python cannot install numpy: the client must import without it.
    code = "import sys, muvi_plugin.host; print('numpy' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"
