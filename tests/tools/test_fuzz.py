"""What the fuzz runs of tools/fuzz.py found, kept as regression cases (tests/data/fuzz/), and a smoke run.

Each kept input made the runtime fail with something other than its one-line `MuviError` (a traceback,
or OTIO's reader killing the process with SIGSEGV); each must now be one line on the command line, exit 2.
The fuzzing itself is not part of the suite: only a run of a few dozen inputs checks the harness works.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from muvi_plugin import media
from muvi_plugin.errors import MuviError
from muvi_plugin.timeline.source import read_timeline
from tests.hosts import require

REPO = Path(__file__).resolve().parents[2]
KEPT = REPO / "tests" / "data" / "fuzz"
ENV = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore"}

CASES = [
    # (target, file, what the one line says)
    ("manifest", "latent-mean-text.json", "latent.mean must be a list of finite numbers"),
    ("manifest", "latent-std-text.json", "latent.std must be a list of finite numbers"),
    ("manifest", "graph-file-number.json", "graphs.encoder: graph.file must be a string"),
    ("manifest", "graphs-not-an-object.json", "graphs must be an object, got 1"),
    ("timeline", "media-reference-twice.otio", "cannot read the timeline (Clip 'Clip-001' holds the key"),
    (
        "timeline",
        "media-reference-not-an-object.otio",
        "(TimeRange '': OTIO_SCHEMA 'TimeRange.0' is not NAME.VERSION)",
    ),
    ("timeline", "time-holding-a-clip.otio", "(RationalTime.1 holds fields it does not have: children)"),
    ("timeline", "clip-without-length.otio", "clip 'brokchrd (loop)-HD.mp4' has no length"),
    ("timeline", "clip-of-no-type.fcpxml", "cannot read the timeline (TypeError: __init__(): incompatible"),
]


def muvi(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "muvi_plugin", *map(str, args)]
    return subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("target", "name", "message"), CASES, ids=[c[1] for c in CASES])
def test_every_kept_crash_is_one_line_now(tmp_path, target, name, message):
    kept = KEPT / target / name
    if target == "manifest":
        bundle = tmp_path / "bundle"
        bundle.mkdir()
        (bundle / "manifest.json").write_bytes(kept.read_bytes())
        done = muvi("bundle", "verify", bundle, cwd=tmp_path)
    else:
        done = muvi("timeline", "score", kept, "--out", tmp_path / "new.otio", cwd=tmp_path)
    # Before: a traceback (exit 1), or the process killed by SIGSEGV (exit -11) in OTIO's JSON reader.
    assert done.returncode == 2 and done.stderr.count("\n") == 1, (done.returncode, done.stderr[-2000:])
    assert (
        done.stderr.startswith(f"muvi: error: {kept if target == 'timeline' else bundle}")
        and message in done.stderr
    )
    assert not (tmp_path / "new.otio").exists()


def test_an_audio_stream_of_a_codec_ffmpeg_does_not_know_is_no_audio():
    # Was AttributeError ('AudioStream' object has no attribute 'rate') in probe: a traceback for any use
    # of the file, its decodable video included.
    kept = KEPT / "media" / "audio-of-unknown-codec.mkv"
    info = media.probe(kept)
    assert info.has_video and not info.has_audio and info.duration == pytest.approx(0.3)
    assert media.read_video_frames(kept, start=0, end=0.3, fps=10, size=(8, 8)).shape == (3, 8, 8, 3)
    with pytest.raises(MuviError, match=r"audio-of-unknown-codec.mkv: no decodable audio stream \(a codec"):
        media.read_audio(kept, start=0, end=0.2, sample_rate=8000)


def _adts(path: Path, layout: str, frequency: float) -> bytes:
    """One second of AAC in ADTS (a raw AAC stream: a file of them can change layout midway)."""
    with av.open(str(path), "w", format="adts") as container:
        stream = container.add_stream("aac", rate=48000, layout=layout)
        wave = 0.3 * np.sin(2 * np.pi * frequency * np.arange(48000) / 48000).astype(np.float32)
        wave = np.tile(wave, (1 if layout == "mono" else 2, 1))
        for at in range(0, 48000, 1024):
            chunk = np.ascontiguousarray(wave[:, at : at + 1024])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
            frame.sample_rate, frame.pts = 48000, at
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path.read_bytes()


def test_audio_that_changes_layout_midway_is_read_whole(tmp_path):
    # Found by fuzzing (the kept input's AAC switches from stereo to a corrupt 33-channel layout): the
    # resampler, set up once, raised ValueError ("Frame does not match AudioResampler setup") on any
    # stream that changes layout, as broadcast AAC does between mono, stereo and 5.1.
    switch = tmp_path / "switch.aac"
    switch.write_bytes(_adts(tmp_path / "a.aac", "mono", 440.0) + _adts(tmp_path / "b.aac", "stereo", 660.0))
    audio = media.read_audio(switch, start=0.0, end=1.9, sample_rate=16000)
    assert audio.shape == (30400,) and np.abs(audio[:15000]).max() > 0.2 and np.abs(audio[17000:]).max() > 0.2
    kept = KEPT / "media" / "audio-layout-changes-to-33-channels.mp4"
    with pytest.raises(
        MuviError, match=r"33-channels.mp4: unreadable or truncated file \(Invalid argument\)"
    ):
        media.read_audio(kept, start=0.0, end=0.4, sample_rate=8000)  # no downmix for 33 unknown channels


def test_audio_claiming_2_hz_is_refused_not_resampled_into_gigabytes():
    # Found by fuzzing (the harness keeps inputs that raise the peak memory by 200 MB): a 7 KB file whose
    # header says 2 Hz; resampled to 24 kHz every sample became 12,000, and reading 0.3 s took 657 MB.
    kept = KEPT / "media" / "audio-at-2-hz.mp4"
    script = (
        "from muvi_plugin import media\n"
        "try:\n"
        f"    media.read_audio({str(kept)!r}, start=0.0, end=0.3, sample_rate=24000)\n"
        "except media.MediaError as error:\n"
        "    print(error)\n"
        # VmHWM: this process's peak since exec (ru_maxrss would carry over the forking parent's).
        "peak = [line for line in open('/proc/self/status') if line.startswith('VmHWM:')][0]\n"
        "print(int(peak.split()[1]) // 1024)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=ENV, capture_output=True, text=True, timeout=120
    )
    message, peak_mb = done.stdout.splitlines()
    assert message == f"{kept}: audio at 2 Hz (muvi reads 1000 to 768000 Hz)", done.stderr
    assert int(peak_mb) < 200  # the interpreter, numpy and PyAV: about 50 MB


CLIP = '{"OTIO_SCHEMA": "Clip.1", "name": "c", "media_reference": %s}'
TIMELINE = '{"OTIO_SCHEMA": "Timeline.1", "tracks": {"OTIO_SCHEMA": "Stack.1", "children": [%s]}}'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            TIMELINE % CLIP % '{"x": {"OTIO_SCHEMA": "Foo.1"}}',
            "Clip 'c': its 'media_reference' holds something",
        ),
        (
            TIMELINE % '{"OTIO_SCHEMA": "Clip.1", "name": "c", "name": "d"}',
            "Clip 'd' holds the key 'name' twice",
        ),
        (
            TIMELINE % '{"OTIO_SCHEMA": "RationalTime.1", "rate": 1, "value": 1, "children": []}',
            "fields it does",
        ),
        (TIMELINE % CLIP % '{"OTIO_SCHEMA": "Foo.0"}', "OTIO_SCHEMA 'Foo.0' is not NAME.VERSION"),
        ('{"tracks": {"children": []}}', "the document is not an OTIO object (no OTIO_SCHEMA at its top)"),
        ('{"OTIO_SCHEMA": "Timeline.1", "tracks": Inf', "not valid JSON: Expecting ',' delimiter"),
    ],
)
def test_shapes_that_kill_otios_reader_are_refused_before_it_reads(tmp_path, text, message):
    # One small document per rule of the pre-read; the rules come from the kept inputs that killed
    # OpenTimelineIO 0.18.1's reader (SIGSEGV). The first document kills it by itself.
    path = tmp_path / "cut.otio"
    path.write_text(text)
    with pytest.raises(MuviError, match="cannot read the timeline") as caught:
        read_timeline(path)
    assert message in str(caught.value)


def test_every_kept_input_is_a_case_here():
    kept = sorted(f"{p.parent.name}/{p.name}" for p in KEPT.glob("*/*") if p.name != "README.md")
    listed = [f"{target}/{name}" for target, name, _ in CASES]
    listed += ["media/audio-of-unknown-codec.mkv", "media/audio-layout-changes-to-33-channels.mp4"]
    listed += ["media/audio-at-2-hz.mp4"]
    assert kept == sorted(listed)


def test_replay_runs_each_target_on_the_kept_inputs():
    for target in ("manifest", "timeline", "media"):
        files = sorted((KEPT / target).iterdir())
        command = [
            sys.executable,
            str(REPO / "tools" / "fuzz.py"),
            "--target",
            target,
            "--replay",
            *map(str, files),
        ]
        done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.count(": ok\n") == len(files)


@pytest.mark.parametrize("target", ["manifest", "timeline", "media"])
def test_a_short_fuzz_run_reports_executions(tmp_path, target):
    require("atheris", extra="dev")
    out = tmp_path / "run"
    command = [sys.executable, str(REPO / "tools" / "fuzz.py"), "--target", target, "--runs", "30",
               "--seconds", "60", "--out", str(out)]  # fmt: skip
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)
    report = json.loads((out / "report.json").read_text())
    assert done.returncode == 0 and report["crashes"] == {}, done.stdout + done.stderr[-3000:]
    assert report["executions"] >= 30 and report["seeds"] >= 5
    assert done.stdout.startswith(f"fuzz {target}: {report['executions']} executions in ")
