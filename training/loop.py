"""The training loop shared by every stage: a `State`, one step function, checkpoints, resume, logging.

A stage (see `training/tasks/`) supplies an `Objective` — an `nn.Module` holding the stage's models whose
`forward(batch, phase=...)` returns `(loss, stats)` — plus its data kind and its phases (one optimiser each;
the vocoder's GAN has two). The loop wraps the objective in DDP under torchrun, so the same code runs on one
CPU, one GPU or many (docs/architecture.md, "Scale"). Train and validation share the step
(training/README.md, "Conventions").
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from training import checkpoint as ckpt
from training.distributed import DistEnv, autocast, init_distributed, mean_over_ranks, shutdown

STAGES = ("vae", "vocoder", "dit-pretrain", "contrastive", "v2m")


@dataclass(frozen=True)
class RunConfig:
    """Everything one training run needs; stored in every checkpoint it writes.

    Attributes:
        stage: one of STAGES.
        data: folder of music files (vae, vocoder, dit-pretrain) or of videos with soundtracks.
        out_dir: the run folder; checkpoints go to `out_dir/step_N.ckpt` and logs to `out_dir/log.jsonl`.
        preset: model size ("debug", "demo", "small", "base", "large").
        steps: total optimiser steps (a resumed run continues up to this number).
        init: checkpoints of earlier stages whose models this stage starts from (e.g. v2m takes the DiT of
            dit-pretrain, the adaptor of contrastive and the VAE of vae).
        lr: AdamW learning rate; None takes the preset's default.
        min_seconds, max_seconds: random segment durations (MuVi Sec. 4.1: 4-30 s).
    """

    stage: str
    data: str
    out_dir: str
    preset: str = "debug"
    steps: int = 1000
    batch_size: int = 8
    lr: float | None = None
    seed: int = 0
    init: tuple[str, ...] = ()
    min_seconds: float = 4.0
    max_seconds: float = 30.0
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 10
    grad_clip: float = 1.0
    num_workers: int = 0
    device: str = "auto"
    visual_encoder: str | None = None  # kind override: videomae | videomae_v2 | clip | scratch
    visual_encoder_checkpoint: str | None = None
    audio_encoder_checkpoint: str | None = None
    adaptor_mode: str | None = None
    adversarial_start: int = 0  # vocoder: steps of MRSTFT+mel only before the GAN losses join
    vocoder: str | None = None  # vocoder family override: hifigan | vocos (None: the preset's default)
    latent_channels: int | None = None  # vae: latent channels override (None: the preset's)
    latent_downsample: int | None = None  # vae: mel frames per latent frame (None: the preset's, 8)
    vae_width: int | None = None  # vae: width of its first level, base_channels (None: the preset's)
    progress: bool = True

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"unknown stage {self.stage!r}; choose one of {', '.join(STAGES)}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be positive")
        if not 0 < self.min_seconds <= self.max_seconds:
            raise ValueError(
                f"need 0 < min_seconds <= max_seconds, got {self.min_seconds}, {self.max_seconds}"
            )
        object.__setattr__(self, "init", tuple(self.init))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class State:
    """The mutable training state of one process."""

    run: RunConfig
    env: DistEnv
    objective: nn.Module  # the task objective (holds every model of the stage)
    wrapped: nn.Module  # the objective, DDP-wrapped when distributed
    optimizers: dict[str, torch.optim.Optimizer]
    phases: tuple[tuple[str, str], ...]  # (phase name, optimiser name), run in order each step
    generator: torch.Generator
    provenance: dict[str, Any]
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def train_step(state: State, batch: dict[str, Any], *, train: bool = True) -> dict[str, float]:
    """One step of every phase; with `train=False` the same computation without gradients (validation)."""
    stats: dict[str, float] = {}
    state.wrapped.train(train)
    for phase, opt_name in state.phases:
        opt = state.optimizers[opt_name]
        with torch.set_grad_enabled(train), autocast(state.env.device):
            loss, parts = state.wrapped(batch, phase=phase, step=state.step, generator=state.generator)
        if train and loss.requires_grad:  # a phase may sit out (the GAN before adversarial_start)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            params = [p for g in opt.param_groups for p in g["params"]]
            if state.run.grad_clip > 0:
                stats[f"{phase}/grad_norm"] = float(
                    torch.nn.utils.clip_grad_norm_(params, state.run.grad_clip)
                )
            opt.step()
        if not math.isfinite(float(loss.detach())):
            raise FloatingPointError(f"{state.run.stage}: non-finite {phase} loss at step {state.step}")
        stats.update({f"{phase}/{k}": float(torch.as_tensor(v).detach()) for k, v in parts.items()})
    if train:
        state.step += 1
    return stats


def checkpoint_payload(state: State) -> dict[str, Any]:
    return {
        "stage": state.run.stage,
        "step": state.step,
        "run": asdict(state.run),
        "models": state.objective.export_models(),
        "optimizers": {k: o.state_dict() for k, o in state.optimizers.items()},
        "generator": state.generator.get_state(),
        "code_version": ckpt.code_version(),
        "provenance": state.provenance,
    }


def save(state: State) -> Path | None:
    if not state.env.is_main:
        return None
    out = Path(state.run.out_dir)
    path = ckpt.save_checkpoint(out / f"step_{state.step}.ckpt", checkpoint_payload(state))
    ckpt.prune_checkpoints(out, keep=state.run.keep_checkpoints)
    return path


def resume(state: State) -> bool:
    """Continue from the newest checkpoint in the run folder, if any."""
    last = ckpt.latest_checkpoint(state.run.out_dir)
    if last is None:
        return False
    payload = ckpt.load_checkpoint(last)
    if payload["stage"] != state.run.stage:
        raise ValueError(f"{last}: holds stage {payload['stage']!r}, not {state.run.stage!r}")
    state.objective.load_models(payload["models"])
    for name, opt in state.optimizers.items():
        opt.load_state_dict(payload["optimizers"][name])
    state.generator.set_state(payload["generator"])
    state.step = int(payload["step"])
    return True


def _batches(loader: DataLoader, sampler: Any) -> Iterator[dict[str, Any]]:
    epoch = 0
    while True:
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def build_state(run: RunConfig, env: DistEnv) -> tuple[State, DataLoader, Any]:
    from training.tasks import get_task  # the tasks import the models; keep module import light

    task = get_task(run.stage)
    torch.manual_seed(run.seed)  # parameter initialisation only; data and noise use explicit generators
    objective = task.build(run).to(env.device)
    dataset, sampler, collate = task.data(run, objective, rank=env.rank, world_size=env.world_size)
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=run.num_workers,
        persistent_workers=run.num_workers > 0,
    )
    wrapped: nn.Module = objective
    if env.distributed:
        wrapped = DistributedDataParallel(
            objective,
            device_ids=[env.device.index] if env.device.type == "cuda" else None,
            find_unused_parameters=True,  # CFG drop and GAN phases leave some parameters unused per call
        )
    generator = torch.Generator(device=env.device).manual_seed(run.seed * 1000 + env.rank)
    state = State(
        run=run,
        env=env,
        objective=objective,
        wrapped=wrapped,
        optimizers=task.optimizers(objective, run),
        phases=task.PHASES,
        generator=generator,
        provenance={"data": str(Path(run.data).resolve()), **getattr(dataset, "provenance", {})},
    )
    return state, loader, sampler


def train(run: RunConfig) -> Path | None:
    """Run (or resume) one stage to `run.steps`; returns the final checkpoint path on rank 0."""
    env = init_distributed(run.device)
    try:
        state, loader, sampler = build_state(run, env)
        resumed = resume(state)
        log_path = Path(run.out_dir) / "log.jsonl"
        bar = tqdm(
            total=run.steps,
            initial=state.step,
            desc=run.stage,
            disable=not (env.is_main and run.progress),
            dynamic_ncols=True,
        )
        if resumed and env.is_main:
            bar.write(f"{run.stage}: resumed at step {state.step} from {run.out_dir}")
        last = None
        batches = _batches(loader, sampler)
        while state.step < run.steps:
            t0 = time.perf_counter()
            stats = train_step(state, _to_device(next(batches), env.device))
            stats["seconds"] = time.perf_counter() - t0
            stats = mean_over_ranks(stats, env)
            state.history.append(stats)
            bar.update(1)
            if env.is_main and (state.step % run.log_every == 0 or state.step == run.steps):
                loss_keys = [k for k in stats if k.endswith("loss")]
                bar.set_postfix({k.split("/")[0]: f"{stats[k]:.4f}" for k in loss_keys})
                log_path.parent.mkdir(parents=True, exist_ok=True)
                with log_path.open("a") as f:
                    f.write(json.dumps({"step": state.step, **stats}) + "\n")
            if state.step % run.checkpoint_every == 0 or state.step == run.steps:
                last = save(state)
        bar.close()
        if last is None and env.is_main:
            last = ckpt.latest_checkpoint(run.out_dir)
        return last
    finally:
        shutdown(env)
