"""Music → normalised VAE latents, shared by the DiT stages."""

from __future__ import annotations

import torch
from torch import nn

from training.layers.mel import MelSpectrogram


class LatentEncoder(nn.Module):
    """A frozen VAE encoder: waveform (b, samples) → normalised latent means (b, n, C)."""

    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.mel = MelSpectrogram()
        self.vae = vae.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> LatentEncoder:
        super().train(mode)
        self.vae.eval()  # frozen: never in training mode
        return self

    @torch.no_grad()
    def forward(self, wave: torch.Tensor, n_frames: int) -> torch.Tensor:
        z = self.vae.encode(self.mel(wave)).mean
        return self.vae.normalize(z)[..., :n_frames].transpose(1, 2).float()
