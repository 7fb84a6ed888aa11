"""`muvi-eval` and `evaluate` end to end on tiny rendered media."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from tests import media_factory as mf
from tests.training.metrics.conftest import CUT_FRAMES, FPS, SECONDS, write_shot_video
from training.metrics.cli import main
from training.metrics.embeddings import Cnn14, Cnn14Config, VGGish, VGGishConfig
from training.metrics.evaluate import EvalInputError, evaluate, pair_files

REPO = Path(__file__).resolve().parents[3]
RATE = 22_050
CUTS = np.array(CUT_FRAMES) / FPS


def _wav(path: Path, wave: np.ndarray) -> Path:
    return mf.write_media(path, audio=wave[None].astype(np.float32), audio_rate=RATE, audio_codec="pcm_s16le")


def _clicks(times) -> np.ndarray:
    return mf.clicks(times, seconds=SECONDS, sample_rate=RATE, channels=1)[0]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """Two pieces: "cuts" clicks on the shot video's cuts, "steady" a 120 BPM click track; references,
    videos. Generated "cuts" equals its reference; "steady" is its reference 30 ms late."""
    root = tmp_path_factory.mktemp("eval")
    for folder in ("gen", "ref", "video"):
        (root / folder).mkdir()
    steady = np.arange(0.25, SECONDS, 0.5)
    _wav(root / "ref" / "cuts.wav", _clicks(CUTS))
    _wav(root / "gen" / "cuts.muvi.wav", _clicks(CUTS))  # `muvi score` names its output <video>.muvi.wav
    _wav(root / "ref" / "steady.wav", _clicks(steady))
    _wav(root / "gen" / "steady.wav", _clicks(steady + 0.03))
    write_shot_video(root / "video" / "cuts.mp4")
    write_shot_video(root / "video" / "steady.mp4")
    return root


def test_muvi_eval_end_to_end(media, tmp_path, capsys):
    out = tmp_path / "report.json"
    code = main(
        [
            "--generated", str(media / "gen"),
            "--reference", str(media / "ref"),
            "--video", str(media / "video" / "cuts.mp4"), str(media / "video" / "steady.mp4"),
            "--out", str(out),
            "--plots", str(tmp_path / "plots"),
            "--no-progress",
        ]
    )  # fmt: skip
    assert code == 0
    report = json.loads(out.read_text())
    files = {f["name"]: f for f in report["files"]}
    assert sorted(files) == ["cuts", "steady"]
    cuts, steady = files["cuts"], files["steady"]
    assert cuts["generated"].endswith("cuts.muvi.wav") and cuts["reference"].endswith("cuts.wav")
    # Identical music scores perfectly; the 30 ms late copy is still inside the 100 ms window.
    assert cuts["beats"]["bhs"] == 100.0 and cuts["beats"]["f_measure"] == 1.0
    assert steady["beats"]["bhs"] == pytest.approx(100.0, abs=15) and steady["beats"]["reference"] >= 8
    # Clicks on the cuts hit every cut; the shifted baseline does not.
    assert cuts["sync"]["cuts"] == 4 and cuts["sync"]["event_times_s"][:3] == pytest.approx(list(CUTS[:3]))
    assert cuts["sync"]["hit_rate"] >= 0.8 > cuts["sync"]["shifted_mean"]
    assert cuts["audio_stats"]["duration_s"] == pytest.approx(SECONDS)
    assert Path(cuts["plot"]).read_bytes()[:4] == b"\x89PNG"
    summary = report["summary"]
    assert summary["files"] == 2 and summary["with_reference"] == 2 and summary["with_video"] == 2
    assert summary["bhs"] == pytest.approx((cuts["beats"]["bhs"] + steady["beats"]["bhs"]) / 2)
    assert summary["fad"] is None
    assert summary["fad_note"] == "not computed: no VGGish weights given (--vggish-weights)"
    assert summary["is"] is None and "--panns-weights" in summary["is_note"]
    assert cuts["sim"] is None and "--contrastive-checkpoint" in cuts["sim_note"]
    printed = capsys.readouterr().out
    assert "2 files" in printed and "bhs" in printed


def test_files_without_partners_say_what_is_missing(media, tmp_path):
    report = evaluate([media / "gen" / "steady.wav"], out=tmp_path / "r.json")
    (entry,) = report["files"]
    assert (
        entry["beats"] is None
        and entry["beats_note"] == "not computed: no reference music given (--reference)"
    )
    assert entry["sync"] is None and entry["sync_note"] == "not computed: no video given (--video)"
    assert report["summary"]["bcs"] is None and "--reference" in report["summary"]["bcs_note"]
    assert entry["beat_count"] >= 8  # the generated beats are tracked all the same
    assert json.loads((tmp_path / "r.json").read_text()) == report


def test_embedding_metrics_and_sim_with_weights_given(media, contrastive_checkpoint, tmp_path):
    """Generated = reference, so FAD, FD and KL are 0; random weights stand in for the published ones."""
    torch.manual_seed(0)
    vggish_config, panns_config = VGGishConfig(channels=(4, 8, 8, 16), hidden=32), Cnn14Config(base_width=4)
    torch.save(VGGish(vggish_config).state_dict(), tmp_path / "vggish.pth")
    torch.save({"model": Cnn14(panns_config).state_dict()}, tmp_path / "cnn14.pth")
    report = evaluate(
        [media / "ref"],
        reference=[media / "ref"],
        video=[media / "video"],
        contrastive_checkpoint=contrastive_checkpoint,
        vggish_weights=tmp_path / "vggish.pth",
        panns_weights=tmp_path / "cnn14.pth",
        vggish_config=vggish_config,
        panns_config=panns_config,
    )
    summary = report["summary"]
    assert summary["fad"] == pytest.approx(0.0, abs=1e-6)
    assert summary["fd"] == pytest.approx(0.0, abs=1e-6)
    assert summary["kl_softmax"] == pytest.approx(0.0, abs=1e-12)
    assert 1.0 <= summary["is"] <= 2.0  # two clips: at most 2
    assert all(-100 <= f["sim"] <= 100 for f in report["files"])
    assert summary["sim"] == pytest.approx(np.mean([f["sim"] for f in report["files"]]))


def test_bad_input_is_one_line_naming_the_file_and_writes_nothing(media, tmp_path, capsys):
    out = tmp_path / "report.json"
    video_only = mf.write_media(tmp_path / "silent.mp4", frame_times=np.arange(10) / 10)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"junk")
    cases = [
        (["--generated", str(tmp_path / "absent")], "absent: no such file or folder"),
        (["--generated", str(video_only)], "silent.mp4: no audio stream"),
        (
            ["--generated", str(media / "gen"), "--vggish-weights", str(junk)],
            "junk.pth: not a readable weights",
        ),
        (
            ["--generated", str(media / "gen"), "--contrastive-checkpoint", str(junk)],
            "junk.pth: not a readable",
        ),
    ]
    for args, message in cases:
        assert main([*args, "--out", str(out), "--no-progress"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("muvi-eval: error: ") and message in err[0], err
        assert not out.exists()


def test_files_pair_by_name_and_duplicate_names_are_refused(media, tmp_path):
    items = pair_files([media / "gen"], reference=[media / "ref"], video=[media / "video" / "cuts.mp4"])
    assert [(i.name, i.reference.name, i.video and i.video.name) for i in items] == [
        ("cuts", "cuts.wav", "cuts.mp4"),
        ("steady", "steady.wav", None),
    ]
    twin = tmp_path / "twin"
    twin.mkdir()
    shutil.copy(media / "ref" / "steady.wav", twin / "steady.flac.wav")
    shutil.copy(media / "ref" / "steady.wav", twin / "steady.flac.muvi.wav")
    with pytest.raises(EvalInputError, match="same name as"):
        pair_files([twin])


def test_muvi_eval_is_a_console_script():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["muvi-eval"] == "training.metrics.cli:main"
