"""The scoring API end to end, with a real exported debug bundle (no mocked graphs or sessions)."""

import dataclasses
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import av
import numpy as np
import pytest

from muvi_plugin.api import (
    REPORT_SCHEMA,
    Cancelled,
    MediaError,
    MuviError,
    ScoreReport,
    ScoreRequest,
    load_bundle,
)
from muvi_plugin.manifest import compute_bundle_id
from muvi_plugin.mastering import integrated_loudness, true_peak
from muvi_plugin.pipeline import decode_latents, generate
from muvi_plugin.windows import equal_power_fade
from tests import media_factory as mf

REPO = Path(__file__).resolve().parents[2]
TESTVIDEO = REPO / ".." / "shared" / "media" / "testvideo.mp4"
STEPS = 4  # the debug model is untrained: a few steps exercise the same code as 25


def write_wav(path: Path, *, seconds: float) -> Path:
    return mf.write_media(path, audio=mf.sine(330.0, seconds=seconds), audio_codec="pcm_s16le")


@pytest.fixture(scope="module")
def scorer(debug_bundle):
    return load_bundle(debug_bundle, device="cpu", threads=1)


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    """8 s of 64x48 pattern video at 10 FPS with a sine soundtrack."""
    return mf.make_video(tmp_path_factory.mktemp("media") / "video.mp4", seconds=8.0)


@pytest.fixture(scope="module")
def short_windows(debug_bundle, tmp_path_factory) -> Path:
    """The debug bundle with 3 s windows, 1 s of context and a 0.5 s crossfade (same graphs)."""
    copy = shutil.copytree(debug_bundle, tmp_path_factory.mktemp("bundles") / "short-windows")
    data = json.loads((copy / "manifest.json").read_text())
    data["defaults"].update(max_window_seconds=3.0, context_seconds=1.0, crossfade_seconds=0.5)
    data["bundle_id"] = compute_bundle_id(data)  # an edited manifest gets its own id
    (copy / "manifest.json").write_text(json.dumps(data))
    return copy


def test_real_footage_gets_exactly_the_requested_length(scorer):
    stages = []
    result = scorer.score(
        ScoreRequest(TESTVIDEO, start=3.0, end=13.5, steps=STEPS),
        progress=lambda stage, fraction: stages.append((stage, fraction)),
    )
    assert result.audio.shape == (252_000,) and result.audio.dtype == np.float32
    assert result.sample_rate == 24_000 and result.duration == 10.5
    assert np.all(np.isfinite(result.audio)) and np.std(result.audio) > 0
    report = result.report
    assert (report.start, report.end, report.seed, report.steps) == (3.0, 13.5, 0, STEPS)
    assert report.guidance == scorer.bundle.manifest.defaults.guidance
    assert report.bundle_id == scorer.bundle_id and report.provider == "CPUExecutionProvider"
    assert report.windows == ((3.0, 13.5),)
    stages_timed = {"rhythm", "decode", "encoder", "adaptor", "dit", "vae", "vocoder", "master", "total"}
    assert set(report.seconds) == stages_timed
    assert report.seconds["total"] >= sum(v for k, v in report.seconds.items() if k != "total") > 0
    assert report.realtime_factor == pytest.approx(report.seconds["total"] / 10.5)
    assert json.loads(json.dumps(report.to_dict()))["bundle_id"] == scorer.bundle_id
    # Progress: every stage, every sampler step, never backwards, ending at 1.
    fractions = [f for _, f in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert sum(1 for s, _ in stages if s == "dit") >= STEPS
    assert {s for s, _ in stages} >= {"decode", "encoder", "adaptor", "dit", "vae", "vocoder"}


def test_same_seed_same_audio_other_seed_other_audio(scorer, video):
    def score(seed):
        return scorer.score(ScoreRequest(video, start=0.5, end=2.75, seed=seed, steps=STEPS)).audio

    first, again, other = score(7), score(7), score(8)
    assert len(first) == round(2.25 * 24_000)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def settings_for(scorer, request, **changes):
    return dataclasses.replace(scorer.settings(request), **changes)


def test_seed_guidance_and_steps_change_the_latents(scorer, video):
    # The untrained debug decoder and vocoder barely react to their input, so the latents are compared.
    base = settings_for(scorer, ScoreRequest(video, end=2.0), steps=STEPS, guidance=1.0)
    latents = generate(scorer.bundle, base).latents[0]
    for change in ({"seed": 1}, {"guidance": 6.0}, {"steps": 1}):
        other = generate(scorer.bundle, dataclasses.replace(base, **change)).latents[0]
        assert np.abs(other - latents).max() > 0.1, change


def test_long_ranges_continue_window_by_window(short_windows, video):
    scorer = load_bundle(short_windows, device="cpu", threads=1)
    bundle = scorer.bundle
    request = ScoreRequest(video, start=0.2, end=7.5, seed=3, steps=STEPS)
    made = generate(bundle, scorer.settings(request))
    # 73 latent frames, windows of 30 with 10 frames of context.
    assert [(w.start, w.end, w.context) for w in made.windows] == [
        (0, 30, 0),
        (20, 50, 10),
        (40, 70, 10),
        (60, 73, 10),
    ]
    assert len(made.audio) == round(7.3 * 24_000)
    per_frame, fade = 2400, 12_000
    for i in (1, 2, 3):
        before, after, window = made.latents[i - 1], made.latents[i], made.windows[i]
        assert after.shape == (1, window.frames, 8)
        # In-context continuation: the first frames of a window ARE the previous window's last ones.
        np.testing.assert_array_equal(after[:, : window.context], before[:, -window.context :])
        # The overlap's audio is an equal-power crossfade of the two windows, centred in the overlap.
        head = decode_latents(bundle, before)[-window.context * per_frame :]
        tail = decode_latents(bundle, after)[: window.context * per_frame]
        cut = (window.context * per_frame - fade) // 2
        at = window.start * per_frame
        fade_out, fade_in = equal_power_fade(fade)
        joined = made.audio[at : at + window.context * per_frame]
        np.testing.assert_allclose(joined[:cut], head[:cut], atol=1e-6)
        np.testing.assert_allclose(
            joined[cut : cut + fade],
            head[cut : cut + fade] * fade_out + tail[cut : cut + fade] * fade_in,
            atol=1e-6,
        )
        np.testing.assert_allclose(joined[cut + fade :], tail[cut + fade :], atol=1e-6)
    # The public API gives the same audio (mastering off) and reports the windows in seconds.
    result = scorer.score(dataclasses.replace(request, loudness="off"))
    np.testing.assert_array_equal(result.audio, made.audio)
    assert np.allclose(result.report.windows, [(0.2, 3.2), (2.2, 5.2), (4.2, 7.2), (6.2, 7.5)])


def test_a_style_prompt_changes_the_music_and_stays_out_of_it(scorer, video, tmp_path):
    reference = mf.write_media(
        tmp_path / "style.wav", audio=mf.sine(330.0, seconds=3.0), audio_codec="pcm_s16le"
    )
    settings = dataclasses.replace(
        scorer.settings(ScoreRequest(video, end=2.5, seed=1, style=reference, style_start=0.5)), steps=STEPS
    )
    made = generate(scorer.bundle, settings)
    plain = generate(scorer.bundle, dataclasses.replace(settings, style=None))
    assert made.prompt_frames == 25  # 2.5 s of reference after 0.5 s, at 10 latent frames per second
    assert plain.prompt_frames == 0
    assert made.latents[0].shape == plain.latents[0].shape == (1, 25, 8)  # prompt frames removed
    assert len(made.audio) == len(plain.audio) == 60_000
    assert np.abs(made.latents[0] - plain.latents[0]).max() > 0.1
    assert not np.array_equal(made.audio, plain.audio)
    request = ScoreRequest(video, end=2.5, seed=1, steps=STEPS, style=reference, style_start=0.5)
    result = scorer.score(dataclasses.replace(request, loudness="off"))  # unmastered: the pipeline's audio
    np.testing.assert_array_equal(result.audio, made.audio)
    assert result.report.style == str(reference)


def test_bad_style_references(scorer, video, tmp_path):
    silent_film = mf.make_video(tmp_path / "silent.mp4", seconds=1.0, audio=None)
    with pytest.raises(MediaError, match=r"silent\.mp4: no audio stream"):
        scorer.score(ScoreRequest(video, end=1.0, steps=1, style=silent_film))
    reference = mf.write_media(
        tmp_path / "blip.wav", audio=mf.sine(330.0, seconds=0.05), audio_codec="pcm_s16le"
    )
    with pytest.raises(MediaError, match=r"blip\.wav: under 0\.1 s of audio"):
        scorer.score(ScoreRequest(video, end=1.0, steps=1, style=reference))


def test_the_range_defaults_to_the_whole_video(scorer, tmp_path):
    video = mf.make_video(tmp_path / "short.mp4", seconds=1.5, audio=None)
    result = scorer.score(ScoreRequest(video, steps=1))
    assert (result.report.start, result.report.end) == (0.0, pytest.approx(1.5, abs=1e-3))
    assert len(result.audio) == round(result.report.end * 24_000)


def test_bad_input_is_one_clear_error_naming_the_file(scorer, video, tmp_path):
    sound = mf.make_audio_only(tmp_path / "sound.m4a")
    cases = [
        (ScoreRequest(sound), MediaError, r"sound\.m4a: no video stream"),
        (
            ScoreRequest(video, start=5.0, end=12.0),
            MediaError,
            r"video\.mp4: range 5-12 s is outside the media",
        ),
        (ScoreRequest(video, start=3.0, end=3.0), MediaError, r"video\.mp4: empty range 3-3 s"),
        (ScoreRequest(tmp_path / "none.mp4"), MediaError, r"none\.mp4: no such file"),
        (ScoreRequest(video, seed=-1), MuviError, "seed must be an integer from 0 to "),
        (ScoreRequest(video, steps=0), MuviError, "steps must be an integer from 1 to 200, got 0"),
        (ScoreRequest(video, guidance=float("nan")), MuviError, "guidance must be a finite number"),
    ]
    for request, error, message in cases:
        with pytest.raises(error, match=message):
            scorer.score(request)


def test_cancel_mid_sampling(scorer, video):
    cancel = threading.Event()
    seen = []

    def progress(stage, fraction):
        seen.append(stage)
        if stage == "dit" and seen.count("dit") == 3:  # after two sampler steps
            cancel.set()

    with pytest.raises(Cancelled):
        scorer.score(ScoreRequest(video, end=2.0, steps=50), progress=progress, cancel=cancel)
    assert seen.count("dit") == 3 and "vae" not in seen  # stopped at the next step, decoded nothing
    cancel.set()
    with pytest.raises(Cancelled):  # a flag set before the start stops at the first stage
        scorer.score(ScoreRequest(video, end=2.0, steps=2), cancel=cancel)


def test_scoring_never_loads_torch(debug_bundle, video):
    code = (
        "import sys\n"
        "from muvi_plugin.api import ScoreRequest, load_bundle\n"
        f"scorer = load_bundle({str(debug_bundle)!r}, device='cpu')\n"
        f"result = scorer.score(ScoreRequest({str(video)!r}, end=1.5, steps=2))\n"
        "assert len(result.audio) == 36000, len(result.audio)\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_take_is_mastered_to_the_bundle_defaults_or_the_request(scorer, video, tmp_path):
    request = ScoreRequest(video, start=0.5, end=4.5, seed=2, steps=STEPS)
    raw = scorer.score(dataclasses.replace(request, loudness="off"))
    assert raw.report.mastering.target_lufs is None  # off: the model's audio, only measured
    d = scorer.bundle.manifest.defaults
    for loudness, target in ((None, d.loudness_lufs), (-23.0, -23.0)):
        result = scorer.score(dataclasses.replace(request, loudness=loudness))
        m = result.report.mastering
        assert (m.target_lufs, m.ceiling_dbtp) == (target, d.true_peak_dbtp)
        assert abs(integrated_loudness(result.audio, 24_000) - target) <= 0.5
        assert true_peak(result.audio) <= d.true_peak_dbtp
        assert m.loudness_lufs == pytest.approx(integrated_loudness(result.audio, 24_000), abs=1e-6)
        assert abs(float(np.mean(result.audio))) < 0.005 and not np.array_equal(result.audio, raw.audio)
    with pytest.raises(MuviError, match="loudness must be between -70 and 0 LUFS"):
        scorer.score(dataclasses.replace(request, loudness=5.0))
    with pytest.raises(MuviError, match="ceiling"):
        scorer.score(dataclasses.replace(request, ceiling=3.0))


def test_the_record_round_trips_and_remakes_the_take_bit_for_bit(scorer, video, tmp_path):
    result = scorer.score(ScoreRequest(video, start=1.0, end=3.5, seed=11, steps=STEPS, loudness=-20.0))
    record = json.loads(json.dumps(result.report.to_dict()))  # through JSON, as every host stores it
    assert record["schema_version"] == REPORT_SCHEMA and record["muvi_version"]
    assert record["mastering"]["target_lufs"] == -20.0 and record["mastering"]["loudness_lufs"] is not None
    back = ScoreReport.from_dict({**record, "host_key": "ignored"})
    assert back == result.report
    again = scorer.score(back.request())
    np.testing.assert_array_equal(again.audio, result.audio)
    # ... and the written file is those samples (16-bit), atomically, nothing else left in the folder.
    out = result.write(tmp_path / "take.wav")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.wav"]
    with av.open(str(out)) as container:
        samples = np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])
    np.testing.assert_array_equal(samples, np.round(result.audio * 32767.0).astype(np.int16))
    for bad, message in (
        ({**record, "schema_version": 99}, "schema 99"),
        ({"schema_version": 1}, "malformed"),
    ):
        with pytest.raises(MuviError, match=message):
            ScoreReport.from_dict(bad)


def test_the_tempo_plan_is_in_the_record_and_old_records_still_remake_their_take(scorer):
    request = ScoreRequest(TESTVIDEO, start=0.5, end=7.0, seed=3, steps=STEPS, tempo=100.0)
    result = scorer.score(request)
    plan = result.report.tempo_plan
    assert result.report.tempo == 100.0 and plan.tempo == 100.0 and plan.given
    # The range's hard cuts (1.0 s and 6.0 s) are its strongest events; the phase puts the first on a beat.
    assert [h.time for h in plan.hits if h.strength > 0.9] == pytest.approx([1.0, 6.0], abs=0.1)
    assert plan.hits[0].on_beat and plan.beats[0] >= 0.5 and plan.beats[-1] < 7.0
    assert scorer.tempo_plan(request) == plan  # the plan alone, without generating
    record = json.loads(json.dumps(result.report.to_dict()))
    back = ScoreReport.from_dict(record)
    assert back == result.report and back.request().tempo == 100.0
    # A record written before the plan existed: no tempo, no plan. It loads and remakes its take, and the
    # audio is the same: the model does not take the plan as a condition yet (issue 16).
    old = {k: v for k, v in record.items() if k not in ("tempo", "tempo_plan")}
    before = ScoreReport.from_dict(old)
    assert before.tempo is None and before.tempo_plan is None
    assert before.request() == dataclasses.replace(back.request(), tempo=None)
    again = scorer.score(before.request())
    np.testing.assert_array_equal(again.audio, result.audio)
    assert again.report.tempo is None and not again.report.tempo_plan.given
    for bad in ({**record, "tempo_plan": {"tempo": 100.0}}, {**record, "tempo": "fast"}):
        with pytest.raises(MuviError, match="malformed take record"):
            ScoreReport.from_dict(bad)


@pytest.mark.parametrize("tempo", [59.0, 181.0, float("inf"), "fast"])
def test_a_tempo_outside_its_range_is_refused_before_any_work(scorer, tempo):
    with pytest.raises(MuviError, match="tempo must be a finite number from 60 to 180 BPM"):
        scorer.score(ScoreRequest(TESTVIDEO, end=1.0, tempo=tempo))
