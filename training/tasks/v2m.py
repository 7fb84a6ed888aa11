"""Stage `v2m`: video-to-music — the visual adaptor and the DiT trained together (MuVi App. B, stage 2).

Starts from the unconditional DiT of `dit-pretrain`, the adaptor (and, for the from-scratch encoder, the
encoder) of `contrastive`, and the VAE of `vae`. The condition is replaced by the unconditional embedding with
p=0.2 so classifier-free guidance works at inference. muvi also keeps the in-context mechanism alive here
(p=0.5) because the runtime continues long ranges window by window through it (docs/architecture.md,
"Data flow").
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from muvi_plugin.constants import LATENT_DOWNSAMPLE
from training import presets
from training.flow_matching import context_mask, flow_matching_loss
from training.tasks.base import (
    Objective,
    adamw,
    build_part,
    part_from_checkpoints,
    require_part,
    trainable_parameters,
    visual_parts,
)
from training.tasks.data import video_data
from training.tasks.latents import LatentEncoder

PHASES = (("main", "main"),)
CFG_DROP_P = 0.2  # MuVi App. B
CONTEXT_P = 0.5


class V2MObjective(Objective):
    def __init__(
        self, *, dit: nn.Module, vae: nn.Module, encoder: nn.Module, adaptor: nn.Module, train_encoder: bool
    ) -> None:
        super().__init__({"dit": dit, "vae": vae, "visual_encoder": encoder, "adaptor": adaptor})
        self.latents = LatentEncoder(vae)
        self.train_encoder = train_encoder
        if not train_encoder:
            encoder.requires_grad_(False)  # MuVi App. B: only the adaptor and the DiT learn in this stage

    def train(self, mode: bool = True) -> V2MObjective:
        super().train(mode)
        if not self.train_encoder:
            self.parts["visual_encoder"].eval()
        return self

    def forward(self, batch, *, phase: str, step: int, generator: torch.Generator):
        dit = self.parts["dit"]
        mask = batch["mask"]
        b, n = mask.shape
        x1 = self.latents(batch["wave"], n)
        with torch.set_grad_enabled(self.train_encoder and self.training):
            features = self.parts["visual_encoder"](batch["frames"], lengths=batch["frame_mask"].sum(1))
        cond = self.parts["adaptor"](features, n_out=n)
        drop = torch.rand(b, generator=generator, device=generator.device) < CFG_DROP_P
        c = dit.condition(cond, drop=drop.to(cond.device))
        ctx = context_mask(batch["lengths"], n, generator=generator, p=CONTEXT_P)
        loss = flow_matching_loss(
            lambda x, t: dit.velocity(x, t, c, mask=mask), x1, generator=generator, valid=mask, context=ctx
        )
        return loss, {"loss": loss}


def build(run) -> V2MObjective:
    vae = require_part("vae", run.init, stage=run.stage, produced_by="vae")
    if vae.config.downsample != LATENT_DOWNSAMPLE:
        raise ValueError(
            f"stage {run.stage!r} needs a VAE with 10 latent frames per second (downsample "
            f"{LATENT_DOWNSAMPLE}); this one has downsample {vae.config.downsample}"
        )
    # Without dit-pretrain the DiT starts from scratch (the paper's ablation, MuVi Table 4).
    dit = part_from_checkpoints("dit", run.init) or build_part(
        "dit", dataclasses.replace(presets.dit_config(run.preset), latent_channels=vae.config.latent_channels)
    )
    encoder, adaptor, encoder_is_new = visual_parts(run)
    # A from-scratch encoder that no contrastive stage has trained learns here; otherwise it stays frozen.
    train_encoder = encoder_is_new and encoder.trainable
    return V2MObjective(dit=dit, vae=vae, encoder=encoder, adaptor=adaptor, train_encoder=train_encoder)


def data(run, objective, *, rank: int, world_size: int):
    size = objective["visual_encoder"].image_size
    return video_data(run, image_size=size, rank=rank, world_size=world_size)


def optimizers(objective: V2MObjective, run) -> dict[str, torch.optim.Optimizer]:
    lr = run.lr or presets.DEFAULT_LR[run.preset]
    params = trainable_parameters(objective)  # DiT, adaptor (and a new from-scratch encoder)
    return {"main": adamw(params, lr=lr)}
