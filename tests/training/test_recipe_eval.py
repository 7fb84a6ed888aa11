"""`evaluate_recipe` on a real (debug-size) recipe work folder: metrics, baseline, pictures, CLI, errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.training.test_recipe import _tiny
from training.cli import main as muvi_train
from training.recipe import run_recipe
from training.recipe_eval import derangement, evaluate_recipe, held_out_clips, paired_difference

MEDIA = Path(__file__).resolve().parents[3] / "shared" / "media"
# Short real footage: counter.mp4 has cuts (events), fades.mp4 has none (its hit rate is undefined).
FOOTAGE = [MEDIA / "counter.mp4", MEDIA / "fades.mp4"]
SETTINGS = {"seconds": 5.0, "seed": 0, "steps": 2}


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """The tiny recipe run once: rendered data (2 test clips), five stages' checkpoints, a bundle."""
    work = tmp_path_factory.mktemp("recipe") / "work"
    run_recipe(_tiny(), work, jobs=1, progress=False, log=lambda _: None)
    return work


@pytest.fixture(scope="module")
def evaluated(work, tmp_path_factory) -> tuple[Path, dict]:
    """`evaluate_recipe` over the tiny work folder and two short footage files, and its report."""
    out = tmp_path_factory.mktemp("eval")
    ticks: list[tuple[str, float]] = []
    report = evaluate_recipe(
        work, out=out, footage=FOOTAGE, progress=lambda item, done: ticks.append((item, done)), **SETTINGS
    )
    assert [done for _, done in ticks][-1] == 1.0 and len(ticks) == 2 + len(FOOTAGE)
    return out, report


def _finite(value) -> bool:
    return isinstance(value, float) and math.isfinite(value)


@pytest.mark.slow
def test_metrics_json_has_every_number_per_clip_and_overall(work, evaluated):
    out, report = evaluated
    assert json.loads((out / "metrics.json").read_text()) == report
    assert set(report) >= {"bundle", "settings", "synthetic", "footage", "plots", "timings"}
    assert report["bundle"]["name"] == "muvi-tiny" and report["bundle"]["id"].startswith("muvi-tiny-")
    assert report["settings"]["steps"] == 2 and report["settings"]["seconds"] == 5.0

    test_split = json.loads((work / "data" / "test" / "manifest.json").read_text())["clips"]
    clips = report["synthetic"]["clips"]
    assert len(clips) == len(test_split) == report["synthetic"]["summary"]["clips"]
    for clip in clips:
        assert clip["shuffled_video"] != clip["video"]  # the baseline always watches another clip
        assert 0 < clip["seconds"] <= 5.0
        for system in ("model", "shuffled"):
            assert all(_finite(clip[system][k]) for k in ("bcs", "bhs", "f_measure", "sim"))
            assert clip[system]["reference"] == clip["reference_beats"] > 0
        assert _finite(clip["ground_truth"]["sim"]) and "bcs" not in clip["ground_truth"]
    summary = report["synthetic"]["summary"]
    for system in ("model", "shuffled"):
        assert all(_finite(summary[system][k]) for k in ("bcs", "bhs", "f_measure", "sim"))
    assert _finite(summary["ground_truth"]["sim"])
    assert set(summary["higher"].values()) <= {"model", "shuffled", "tie"}

    counter, fades = report["footage"]["files"]
    assert counter["whole"] and counter["seconds"] == pytest.approx(3.0, abs=0.1)
    assert counter["sync"]["events"] > 0 and _finite(counter["sync"]["hit_rate"])
    assert _finite(counter["sync"]["shifted_mean"])
    assert fades["sync"]["events"] == 0 and fades["sync"]["hit_rate"] is None  # no events: undefined
    assert fades["sync"]["hit_rate_note"] == "undefined (NaN)"
    assert report["footage"]["summary"]["hit_rate"] == counter["sync"]["hit_rate"]
    assert report["timings"]["total_s"] > 0 and len(report["timings"]["per_item_s"]) == 4


@pytest.mark.slow
def test_pictures_audio_and_the_model_card_table(evaluated):
    out, report = evaluated
    names = ["test-000000", "test-000001", "footage-counter", "footage-fades"]
    assert report["plots"] == [str(out / "plots" / f"{n}.png") for n in names]
    for name in names:
        assert (out / "plots" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / "audio" / f"{name}.wav").stat().st_size > 44
    table = (out / "metrics.md").read_text()
    assert "| music | BCS | BHS | F | SIM | sync hit rate |" in table
    assert "| shuffled video (baseline) |" in table and "| counter.mp4 | 3.0 |" in table
    model = report["synthetic"]["summary"]["model"]
    assert f"| model | {model['bcs']:.1f} | {model['bhs']:.1f} | {model['f_measure']:.3f} |" in table
    assert "| model − baseline, clip by clip (wins/losses, Wilcoxon p) |" in table
    assert report["synthetic"]["summary"]["paired"]["bcs"]["n"] == 2


@pytest.mark.slow
def test_every_take_has_its_musicality_and_the_card_its_table(evaluated):
    out, report = evaluated
    takes = [
        c[s]["musicality"]
        for c in report["synthetic"]["clips"]
        for s in ("model", "shuffled", "ground_truth")
    ]
    takes += [f["musicality"] for f in report["footage"]["files"]]
    for take in takes:
        assert 1.0 <= take["seconds"] <= 10.0 and 0.0 <= take["comb_share"] <= 1.0  # at most 10 s
        assert 0.0 <= take["voiced_share"] <= 1.0 and "note_f1" not in take
    for clip in report["synthetic"]["clips"]:  # the rendered soundtrack is music: off the 80 Hz comb, tuned
        truth = clip["ground_truth"]["musicality"]
        assert truth["comb_share"] < 0.15 and truth["key"] is not None
    summary = report["musicality"]
    assert set(summary) == {"model", "shuffled", "ground_truth", "footage"}
    assert summary["model"]["takes"] == 2 and sum(summary["model"]["keys"].values()) == 2
    model = [c["model"]["musicality"]["comb_share"] for c in report["synthetic"]["clips"]]
    assert summary["model"]["comb_share"] == pytest.approx(sum(model) / 2)
    table = (out / "metrics.md").read_text()
    assert (
        "| music | takes | comb share (chance 0.05) | in tune | voiced | tempo spread | keys (count) |"
        in table
    )
    assert f"| model | 2 | {summary['model']['comb_share']:.3f} |" in table


@pytest.mark.slow
def test_the_cli_reproduces_the_same_numbers(work, evaluated, tmp_path, capsys):
    first = evaluated[1]
    argv = ["recipe-eval", "--work", str(work), "--out", str(tmp_path), "--no-progress"]
    argv += ["--footage", *map(str, FOOTAGE), "--seconds", "5", "--seed", "0", "--steps", "2"]
    assert muvi_train(argv) == 0
    assert "| model |" in capsys.readouterr().out
    again = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("synthetic", "footage", "bundle"):
        assert again[key] == first[key]


@pytest.mark.slow
def test_limit_takes_the_first_clips(work, tmp_path):
    report = evaluate_recipe(
        work, out=tmp_path, limit=1, seconds=2.0, steps=1, musicality_seconds=0, progress=lambda *_: None
    )
    assert [c["name"] for c in report["synthetic"]["clips"]] == ["test-000000"]
    assert report["synthetic"]["clips"][0]["model"]["musicality"] is None and report["musicality"] == {}
    assert "Musicality" not in (tmp_path / "metrics.md").read_text()
    assert report["footage"]["files"] == [] and "Real footage" not in (tmp_path / "metrics.md").read_text()


def test_cli_names_a_missing_work_folder(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert muvi_train(["recipe-eval", "--work", str(missing), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("muvi-train recipe-eval: error: ") and str(missing) in err
    assert not (tmp_path / "out").exists()


def test_missing_parts_of_a_work_folder_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "data" / "test" / "manifest.json")):
        evaluate_recipe(tmp_path, out=tmp_path / "out")
    test = tmp_path / "data" / "test"
    test.mkdir(parents=True)
    clips = [{"file": f"00000{i}.mkv", "piece": "p"} for i in range(2)]
    (test / "manifest.json").write_text(json.dumps({"clips": clips[:1]}))
    (test / "000000.mkv").write_bytes(b"")
    with pytest.raises(ValueError, match="at least 2 test clips"):
        evaluate_recipe(tmp_path, out=tmp_path / "out")
    (test / "manifest.json").write_text(json.dumps({"clips": clips}))
    with pytest.raises(FileNotFoundError, match=str(test / "000001.mkv")):
        held_out_clips(test)
    (test / "000001.mkv").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "contrastive")):
        evaluate_recipe(tmp_path, out=tmp_path / "out")
    (tmp_path / "contrastive").mkdir()
    (tmp_path / "contrastive" / "step_1.ckpt").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "bundle")):
        evaluate_recipe(tmp_path, out=tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        evaluate_recipe(tmp_path, contrastive=tmp_path / "nope.ckpt", out=tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        evaluate_recipe(tmp_path, bundle=tmp_path, footage=[tmp_path / "nope.mp4"], out=tmp_path / "out")
    with pytest.raises(ValueError, match="seconds must be positive"):
        evaluate_recipe(tmp_path, out=tmp_path / "out", seconds=0)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "pieces",
    [["a", "b"], ["a", "a"], ["a", "a", "b", "b", "c"], ["a", "a", "a", "b"], ["x", "a", "b", "a", "c", "a"]],
)
def test_derangement_moves_everyone_and_prefers_other_pieces(pieces):
    partner = derangement(pieces)
    assert sorted(partner) == list(range(len(pieces)))  # a permutation: each video is a baseline once
    assert all(j != i for i, j in enumerate(partner))
    crossed = sum(pieces[i] != pieces[j] for i, j in enumerate(partner))
    largest = max(pieces.count(p) for p in pieces)
    # Every item crosses when no piece holds more than half; else the best possible, 2 x the others.
    assert crossed == min(len(pieces), 2 * (len(pieces) - largest))
    assert derangement(pieces) == partner
    with pytest.raises(ValueError, match="at least 2"):
        derangement(["a"])


def test_paired_difference_counts_wins_and_tests_them():
    # Ten clips, the model better on every one by 1..10: mean 5.5, 10 wins; the exact two-sided Wilcoxon
    # p-value of ten positive ranks is 2 / 2**10.
    model = [float(i) + 1.0 + 10 for i in range(10)]
    base = [10.0] * 10
    d = paired_difference(model, base)
    assert (d["n"], d["wins"], d["losses"]) == (10, 10, 0)
    assert d["mean_difference"] == pytest.approx(5.5)
    assert d["p_value"] == pytest.approx(2 / 2**10)
    # Equal values everywhere: no evidence either way; missing and non-finite values are left out.
    same = paired_difference([1.0, 2.0, None, math.nan], [1.0, 2.0, 3.0, 4.0])
    assert (same["n"], same["wins"], same["losses"], same["mean_difference"], same["p_value"]) == (
        2,
        0,
        0,
        0.0,
        None,
    )
    assert paired_difference([], [])["mean_difference"] is None
