"""The whole recipe — rendered data, five stages, export — runs end to end at debug size, and resumes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from muvi_plugin.api import ScoreRequest, load_bundle
from muvi_plugin.manifest import read_manifest
from training import checkpoint as ckpt
from training.recipe import DEMO, Recipe, StagePlan, run_recipe, snapshot

REPO = Path(__file__).resolve().parents[2]


def _tiny() -> Recipe:
    def plan(stage: str, **kwargs) -> StagePlan:
        return StagePlan(
            stage, steps=2, batch_size=2, min_seconds=1.0, max_seconds=2.0, checkpoint_every=1, **kwargs
        )

    return Recipe(
        name="muvi-tiny",
        preset="debug",
        data_hours=40 / 3600,  # about four 8-10 s clips: the batch sampler wants distinct videos
        clip_seconds=(8.0, 10.0),
        test_fraction=0.3,
        stages=(
            plan("vae"),
            plan("vocoder", adversarial_start=1),
            plan("dit-pretrain", init=("vae",)),
            plan("contrastive"),
            plan("v2m", init=("vae", "dit-pretrain", "contrastive")),
        ),
    )


@pytest.mark.slow
def test_recipe_runs_every_step_and_resumes(tmp_path):
    lines: list[str] = []
    bundle = run_recipe(_tiny(), tmp_path / "work", jobs=1, progress=False, log=lines.append)
    assert bundle == tmp_path / "work" / "bundle"
    manifest = read_manifest(bundle)
    assert manifest.name == "muvi-tiny"
    report = manifest.provenance["verification"]
    assert set(report) >= {"encoder", "adaptor", "vae_decoder", "vocoder"}
    # The v2m stage started from the other stages' final checkpoints, and the bundle records it.
    v2m = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "work" / "v2m"))
    assert v2m["step"] == 2 and len(v2m["run"]["init"]) == 3
    assert json.loads((tmp_path / "work" / "data" / "train" / "manifest.json").read_text())
    # It scores a held-out clip.
    test_clip = sorted((tmp_path / "work" / "data" / "test").glob("*.mkv"))[0]
    result = load_bundle(bundle).score(ScoreRequest(test_clip, start=0.0, end=3.0, seed=0, steps=2))
    assert len(result.audio) == 3 * result.sample_rate

    # A second run finds everything done: no stage trains again, the bundle is rewritten the same.
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "work").glob("*/step_*.ckpt")}
    again = run_recipe(_tiny(), tmp_path / "work", jobs=1, progress=False, log=lines.append)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "work").glob("*/step_*.ckpt")} == stamps
    assert read_manifest(again).bundle_id == manifest.bundle_id


@pytest.mark.slow
def test_kept_checkpoints_carry_the_recipe_to_a_fresh_machine(tmp_path):
    keep = tmp_path / "kept"
    first = run_recipe(_tiny(), tmp_path / "one", keep=keep, jobs=1, progress=False, log=lambda _: None)
    for stage in ("vae", "vocoder", "dit-pretrain", "contrastive", "v2m"):
        payload = ckpt.load_checkpoint(keep / f"{stage}.ckpt")
        assert payload["stage"] == stage and payload["step"] == 2 and "optimizers" not in payload
    # A new work folder (a new machine): the data is rendered again, no stage trains, the same bundle.
    second = run_recipe(_tiny(), tmp_path / "two", keep=keep, jobs=1, progress=False, log=lambda _: None)
    assert not list((tmp_path / "two").glob("*/step_*.ckpt"))
    assert read_manifest(second).bundle_id == read_manifest(first).bundle_id
    # A stage in progress travels whole: v2m's step 1, kept by --snapshot, resumes on the next machine.
    shutil.copytree(tmp_path / "one", tmp_path / "half", ignore=shutil.ignore_patterns("bundle"))
    (tmp_path / "half" / "v2m" / "step_2.ckpt").unlink()
    (keep / "v2m.ckpt").unlink()
    assert snapshot(_tiny(), tmp_path / "half", keep) == [keep / "v2m.partial.ckpt"]
    lines: list[str] = []
    third = run_recipe(_tiny(), tmp_path / "three", keep=keep, jobs=1, progress=False, log=lines.append)
    assert [p.name for p in ckpt.step_checkpoints(tmp_path / "three" / "v2m")] == [
        "step_1.ckpt",
        "step_2.ckpt",
    ]
    assert not list((tmp_path / "three").glob("vae/step_*.ckpt"))  # the finished stages stay kept
    assert (keep / "v2m.ckpt").is_file() and not (keep / "v2m.partial.ckpt").exists()
    assert read_manifest(third).name == "muvi-tiny"

    # Kept checkpoints of another recipe are refused, naming the file.
    other = _tiny()
    other = Recipe(
        **{**other.__dict__, "stages": (other.stages[0].__class__("vae", 3, 2, 1.0, 2.0), *other.stages[1:])}
    )
    with pytest.raises(ValueError, match="vae.ckpt"):
        run_recipe(other, tmp_path / "four", keep=keep, jobs=1, progress=False, log=lambda _: None)


@pytest.mark.slow
def test_parallel_stages_overlap_and_make_the_same_kind_of_bundle(tmp_path):
    lines: list[str] = []
    keep = tmp_path / "kept"
    bundle = run_recipe(
        _tiny(), tmp_path / "work", keep=keep, jobs=1, parallel=2, progress=False, log=lines.append
    )
    assert read_manifest(bundle).name == "muvi-tiny"
    events = [line.split(": ", 1)[1].split(" (")[0].split() for line in lines]
    events = [(stage, what) for stage, what, *_ in events if what in ("started", "done")]
    # Two stages ran at once, never more, and no stage started before the stages it starts from were done.
    running, most = set(), 0
    for stage, what in events:
        if what == "started":
            plan = next(p for p in _tiny().stages if p.stage == stage)
            assert all((s, "done") in events[: events.index((stage, what))] for s in plan.init)
            running.add(stage)
        else:
            running.discard(stage)
        most = max(most, len(running))
    assert most == 2
    assert sorted(s for s, what in events if what == "done") == sorted(p.stage for p in _tiny().stages)
    for stage in ("vae", "vocoder", "dit-pretrain", "contrastive", "v2m"):
        assert ckpt.load_checkpoint(keep / f"{stage}.ckpt")["step"] == 2
    with pytest.raises(ValueError, match="--parallel"):
        run_recipe(_tiny(), tmp_path / "work", parallel=0, log=lambda _: None)


def test_until_stops_after_the_data(tmp_path):
    recipe = _tiny()
    assert run_recipe(recipe, tmp_path, until="data", progress=False, log=lambda _: None) is None
    assert list((tmp_path / "data" / "train").glob("*.mkv"))
    assert not (tmp_path / "vae").exists()
    with pytest.raises(ValueError, match="--until"):
        run_recipe(recipe, tmp_path, until="nonsense", log=lambda _: None)


def test_recipes_are_checked_and_scale():
    with pytest.raises(ValueError, match="come later"):
        Recipe(name="x", preset="debug", data_hours=1, stages=(StagePlan("v2m", 1, 1, 1, 1, init=("vae",)),))
    with pytest.raises(ValueError, match="v2m and a vocoder"):
        Recipe(name="x", preset="debug", data_hours=1, stages=(StagePlan("vae", 1, 1, 1, 1),))
    quick = DEMO.scaled(0.01)
    assert [p.steps for p in quick.stages] == [round(p.steps * 0.01) for p in DEMO.stages]
    assert quick.data_hours == pytest.approx(DEMO.data_hours * 0.01)
    assert quick.stages[1].adversarial_start == round(DEMO.stages[1].adversarial_start * 0.01)


@pytest.mark.slow
def test_sigterm_stops_every_parallel_stage_and_says_how_to_resume(tmp_path):
    # A detached run (`nohup ... &` ignores SIGINT) is stopped with `kill`: its stage processes must stop too.
    code = f"""
import sys
from tests.training.test_recipe import _tiny
from training.recipe import run_recipe
try:
    run_recipe(_tiny(), {str(tmp_path / "work")!r}, jobs=1, parallel=2, progress=False,
               log=lambda line: print(line, flush=True))
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    pids = []
    for line in process.stdout:
        if " started (" in line:
            pids.append(int(line.rsplit("pid ", 1)[1].rstrip(")\n")))
            if len(pids) == 2:
                break
    process.send_signal(signal.SIGTERM)
    rest = process.stdout.read()
    assert process.wait(timeout=60) == 130 and "interrupted" in rest
    for pid in pids:  # both stage processes are gone (reaped by the parent, so no such process)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_kept_checkpoint_counts_the_steps_it_trained_not_the_steps_its_run_planned(tmp_path):
    # muvi-demo's kept v2m was trained by a run planned for 2000 steps and stopped at the recipe's 1000: it is
    # the recipe's stage (before, the recipe refused it and could not re-make the embedded bundle).
    from training.recipe import finished_checkpoint

    plan = StagePlan("vae", steps=1000, batch_size=8, min_seconds=4.0, max_seconds=10.0)
    run = {"stage": "vae", "preset": "demo", "steps": 2000, "batch_size": 8}
    kept = tmp_path / "keep" / "vae.ckpt"
    ckpt.save_checkpoint(kept, {"stage": "vae", "step": 1000, "run": run, "models": {}})
    assert finished_checkpoint(plan, tmp_path / "run", tmp_path / "keep", preset="demo") == kept
    # One that trained fewer steps than the plan is another recipe's.
    ckpt.save_checkpoint(kept, {"stage": "vae", "step": 500, "run": run, "models": {}})
    with pytest.raises(ValueError, match="another recipe"):
        finished_checkpoint(plan, tmp_path / "run", tmp_path / "keep", preset="demo")
