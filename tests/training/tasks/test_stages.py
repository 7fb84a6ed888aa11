"""Every training stage runs 2 steps on CPU with the debug preset, checkpoints, and resumes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests import media_factory as mf
from training import checkpoint as ckpt
from training.loop import RunConfig, train

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """Four 3 s pattern videos with click-track soundtracks at different tempi (music and video data)."""
    root = tmp_path_factory.mktemp("media")
    for i, period in enumerate((0.4, 0.5, 0.6, 0.75)):
        seconds = 3.0
        times = np.arange(0.1, seconds, period)
        audio = mf.clicks(times, seconds=seconds) + mf.sine(220.0 * (i + 1), seconds=seconds, amplitude=0.2)
        mf.write_media(root / f"clip{i}.mp4", frame_times=np.arange(30) / 10, audio=audio)
    return root


def run_stage(stage: str, data: Path, out: Path, **kwargs) -> Path:
    run = RunConfig(
        stage=stage,
        data=str(data),
        out_dir=str(out),
        preset="debug",
        steps=kwargs.pop("steps", 2),
        batch_size=2,
        min_seconds=1.0,
        max_seconds=2.0,
        checkpoint_every=1,
        log_every=1,
        progress=False,
        **kwargs,
    )
    last = train(run)
    assert last is not None and last.is_file()
    return last


@pytest.fixture(scope="module")
def vae_ckpt(media, tmp_path_factory) -> Path:
    return run_stage("vae", media, tmp_path_factory.mktemp("vae"))


@pytest.fixture(scope="module")
def dit_ckpt(media, vae_ckpt, tmp_path_factory) -> Path:
    return run_stage("dit-pretrain", media, tmp_path_factory.mktemp("dit"), init=(str(vae_ckpt),))


@pytest.fixture(scope="module")
def contrastive_ckpt(media, tmp_path_factory) -> Path:
    return run_stage("contrastive", media, tmp_path_factory.mktemp("clr"))


def assert_checkpoint(path: Path, *, stage: str, step: int, models: set[str]) -> dict:
    payload = ckpt.load_checkpoint(path)  # weights_only=True
    assert payload["stage"] == stage and payload["step"] == step
    assert set(payload["models"]) == models
    for entry in payload["models"].values():
        assert isinstance(entry["config"], dict) and entry["config"]
    assert payload["code_version"].startswith("0.1.0")
    assert Path(payload["provenance"]["data"]).is_dir()
    assert payload["provenance"]["files"] == 4 and len(payload["provenance"]["fingerprint"]) == 16
    assert payload["run"]["stage"] == stage
    return payload


def test_vae_stage(vae_ckpt) -> None:
    payload = assert_checkpoint(vae_ckpt, stage="vae", step=2, models={"vae"})
    state = payload["models"]["vae"]["state"]
    # the latent normalisation measured during training is stored in the model
    assert not np.allclose(state["latent_std"].numpy(), 1.0)


def test_vocoder_stage(media, tmp_path) -> None:
    last = run_stage("vocoder", media, tmp_path / "voc", adversarial_start=1)
    payload = assert_checkpoint(last, stage="vocoder", step=2, models={"vocoder", "mpd", "msd"})
    log = [json.loads(line) for line in (tmp_path / "voc" / "log.jsonl").read_text().splitlines()]
    assert "gen/mpd_adv" not in log[0] and "gen/mpd_adv" in log[1]  # the GAN joins at step 1
    assert set(payload["optimizers"]) == {"gen", "disc"}


def test_dit_pretrain_stage(dit_ckpt) -> None:
    assert_checkpoint(dit_ckpt, stage="dit-pretrain", step=2, models={"dit", "vae"})


def test_contrastive_stage(contrastive_ckpt) -> None:
    payload = assert_checkpoint(
        contrastive_ckpt,
        stage="contrastive",
        step=2,
        models={"visual_encoder", "adaptor", "audio_encoder", "temperature"},
    )
    assert payload["models"]["visual_encoder"]["config"]["kind"] == "scratch"


def test_v2m_stage(media, vae_ckpt, dit_ckpt, contrastive_ckpt, tmp_path) -> None:
    init = (str(vae_ckpt), str(dit_ckpt), str(contrastive_ckpt))
    last = run_stage("v2m", media, tmp_path / "v2m", init=init)
    payload = assert_checkpoint(last, stage="v2m", step=2, models={"dit", "vae", "visual_encoder", "adaptor"})
    # it started from the earlier stages' weights, not from scratch: the VAE is frozen and equal
    vae_before = ckpt.load_checkpoint(vae_ckpt)["models"]["vae"]["state"]
    for key, value in payload["models"]["vae"]["state"].items():
        assert (value == vae_before[key]).all(), key


def test_v2m_without_its_vae_says_which_checkpoint_is_missing(media, tmp_path) -> None:
    with pytest.raises(ValueError, match="--init"):
        run_stage("v2m", media, tmp_path / "v2m")


def test_a_stage_resumes_from_its_last_checkpoint(media, tmp_path) -> None:
    out = tmp_path / "vae"
    run_stage("vae", media, out, steps=2)
    first = ckpt.load_checkpoint(out / "step_2.ckpt")
    last = run_stage("vae", media, out, steps=3)
    assert last.name == "step_3.ckpt"
    log = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert log == [1, 2, 3]  # step 3 continued; steps 1-2 were not redone
    resumed = ckpt.load_checkpoint(last)
    assert (
        resumed["optimizers"]["main"]["state"][0]["step"]
        == first["optimizers"]["main"]["state"][0]["step"] + 1
    )


def test_a_stage_runs_under_torchrun_with_two_cpu_processes(media, tmp_path) -> None:
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        "-m",
        "training",
        "dit-pretrain",
        "--data",
        str(media),
        "--out",
        str(out),
        "--steps",
        "2",
        "--batch-size",
        "1",
        "--min-seconds",
        "1",
        "--max-seconds",
        "2",
        "--device",
        "cpu",
        "--no-progress",
        "--init",
        str(_vae_for_ddp(media, tmp_path)),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    payload = assert_checkpoint(out / "step_2.ckpt", stage="dit-pretrain", step=2, models={"dit", "vae"})
    assert payload["step"] == 2


def _vae_for_ddp(media: Path, tmp_path: Path) -> Path:
    return run_stage("vae", media, tmp_path / "vae_for_ddp", steps=1)


@pytest.mark.slow
def test_every_stage_trains_with_loader_workers_started_by_spawn(media, tmp_path) -> None:
    # macOS and Windows start data loader workers with "spawn", and so does a process that was itself
    # spawned (`muvi-train recipe --parallel`): everything a worker gets (datasets, collate functions) must
    # pickle. One subprocess trains every stage for one step with one such worker.
    code = f"""
import multiprocessing, sys
from pathlib import Path
multiprocessing.set_start_method("spawn", force=True)
from training.loop import RunConfig, train
data, out = Path({str(media)!r}), Path({str(tmp_path)!r})
last = {{}}
for stage, init in [("vae", ()), ("vocoder", ()), ("dit-pretrain", ("vae",)), ("contrastive", ()),
                    ("v2m", ("vae", "dit-pretrain", "contrastive"))]:
    run = RunConfig(stage=stage, data=str(data), out_dir=str(out / stage), preset="debug", steps=1,
                    batch_size=2, min_seconds=1.0, max_seconds=2.0, num_workers=1, progress=False,
                    init=tuple(str(last[s]) for s in init))
    last[stage] = train(run)
    assert last[stage] is not None and last[stage].is_file(), stage
print("ok")
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-3000:]
