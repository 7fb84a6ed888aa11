"""Stage `vae`: the 1D mel VAE on music (MuVi App. A/B: L1 reconstruction + KL penalty).

Besides the weights it keeps running per-channel statistics of the latent means, stored in the VAE as its
latent normalisation so the DiT stages (and the bundle manifest) see unit-scale latents.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from muvi_plugin.constants import LATENT_DOWNSAMPLE
from training import presets
from training.layers.mel import MelSpectrogram
from training.tasks.base import Objective, adamw, build_part, trainable_parameters
from training.tasks.data import music_data

PHASES = (("main", "main"),)
KL_WEIGHT = 1e-4
STATS_MOMENTUM = 0.01


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `x` (b, c, n) over the frames where `mask` (b, n) is True."""
    m = mask[:, None, :].to(x.dtype)
    return (x * m).sum() / (m.sum() * x.shape[1]).clamp_min(1.0)


class VAEObjective(Objective):
    def __init__(self, vae: nn.Module) -> None:
        super().__init__({"vae": vae})
        self.mel = MelSpectrogram()
        c = vae.config.latent_channels
        self.register_buffer("stat_mean", torch.zeros(c))
        self.register_buffer("stat_sq", torch.ones(c))

    def forward(self, batch, *, phase: str, step: int, generator: torch.Generator):
        vae = self.parts["vae"]
        mel = self.mel(batch["wave"])
        # The batch mask has one entry per 10 fps frame (LATENT_DOWNSAMPLE mel frames); a VAE with a finer
        # latent (downsample 4) takes every latent frame's first mel frame from it.
        mel_mask = batch["mask"].repeat_interleave(LATENT_DOWNSAMPLE, dim=1)[:, : mel.shape[-1]]
        posterior = vae.encode(mel)
        recon = vae.decode(posterior.sample(generator=generator))[..., : mel.shape[-1]]
        rec = masked_mean((recon - mel).abs(), mel_mask)
        kl_elem = 0.5 * (posterior.mean.pow(2) + posterior.logvar.exp() - 1.0 - posterior.logvar)
        latent_mask = mel_mask[:, :: vae.config.downsample][:, : kl_elem.shape[-1]]
        kl = masked_mean(kl_elem, latent_mask)
        if self.training:
            self._track(posterior.mean.detach(), latent_mask)
        return rec + KL_WEIGHT * kl, {"loss": rec + KL_WEIGHT * kl, "l1": rec, "kl": kl}

    @torch.no_grad()
    def _track(self, mean: torch.Tensor, mask: torch.Tensor) -> None:
        m = mask[:, None, :].to(mean.dtype)
        count = m.sum().clamp_min(1.0)
        self.stat_mean.lerp_((mean * m).sum((0, 2)) / count, STATS_MOMENTUM)
        self.stat_sq.lerp_((mean.pow(2) * m).sum((0, 2)) / count, STATS_MOMENTUM)

    def export_models(self):
        std = (self.stat_sq - self.stat_mean.pow(2)).clamp_min(1e-6).sqrt()
        self.parts["vae"].set_latent_stats(self.stat_mean, std)
        return super().export_models()


def build(run) -> VAEObjective:
    config = presets.vae_config(run.preset)
    if run.latent_channels is not None:
        config = dataclasses.replace(config, latent_channels=run.latent_channels)
    if run.vae_width is not None:
        config = dataclasses.replace(config, base_channels=run.vae_width)
    if run.latent_downsample is not None:
        # One level per factor 2 (a stride-2 step between consecutive levels): keep the first levels.
        levels = run.latent_downsample.bit_length()
        if run.latent_downsample < 1 or 2 ** (levels - 1) != run.latent_downsample:
            raise ValueError(f"--latent-downsample must be 1, 2, 4 or 8, got {run.latent_downsample}")
        config = dataclasses.replace(config, channel_mult=config.channel_mult[:levels])
    return VAEObjective(build_part("vae", config))


def data(run, objective, *, rank: int, world_size: int):
    return music_data(run, rank=rank, world_size=world_size)


def optimizers(objective: VAEObjective, run) -> dict[str, torch.optim.Optimizer]:
    lr = run.lr or presets.DEFAULT_LR[run.preset]
    return {"main": adamw(trainable_parameters(objective), lr=lr)}
