"""Stage `dit-pretrain`: the DiT as an unconditional music generator with in-context prompts.

MuVi Sec. 3.3 / 4.1: rectified flow on VAE latents with the learnable unconditional embedding in place of the
visual condition; with p=0.8 the first min(14 s, 33%) of each clip is kept clean as context and carries no
loss, which gives the model its in-context (style prompt / continuation) ability.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from muvi_plugin.constants import LATENT_DOWNSAMPLE
from training import presets
from training.flow_matching import context_mask, flow_matching_loss
from training.tasks.base import Objective, adamw, build_part, require_part, trainable_parameters
from training.tasks.data import music_data
from training.tasks.latents import LatentEncoder

PHASES = (("main", "main"),)
CONTEXT_P = 0.8  # MuVi Sec. 4.1


class PretrainObjective(Objective):
    def __init__(self, dit: nn.Module, vae: nn.Module) -> None:
        super().__init__({"dit": dit, "vae": vae})
        self.latents = LatentEncoder(vae)

    def forward(self, batch, *, phase: str, step: int, generator: torch.Generator):
        dit = self.parts["dit"]
        mask = batch["mask"]
        b, n = mask.shape
        x1 = self.latents(batch["wave"], n)
        c = dit.condition(None, n_frames=n, batch=b)
        ctx = context_mask(batch["lengths"], n, generator=generator, p=CONTEXT_P)
        loss = flow_matching_loss(
            lambda x, t: dit.velocity(x, t, c, mask=mask), x1, generator=generator, valid=mask, context=ctx
        )
        return loss, {"loss": loss}


def build(run) -> PretrainObjective:
    vae = require_part("vae", run.init, stage=run.stage, produced_by="vae")
    if vae.config.downsample != LATENT_DOWNSAMPLE:
        raise ValueError(
            f"stage {run.stage!r} needs a VAE with 10 latent frames per second (downsample "
            f"{LATENT_DOWNSAMPLE}); this one has downsample {vae.config.downsample}"
        )
    # The DiT's latent width follows the VAE that was actually trained (its channels may differ by preset).
    config = dataclasses.replace(presets.dit_config(run.preset), latent_channels=vae.config.latent_channels)
    return PretrainObjective(build_part("dit", config), vae)


def data(run, objective, *, rank: int, world_size: int):
    return music_data(run, rank=rank, world_size=world_size)


def optimizers(objective: PretrainObjective, run) -> dict[str, torch.optim.Optimizer]:
    lr = run.lr or presets.DEFAULT_LR[run.preset]
    return {"main": adamw(trainable_parameters(objective["dit"]), lr=lr)}
