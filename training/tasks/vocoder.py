"""Stage `vocoder`: HiFi-GAN (MuVi App. A; Kong et al. 2020) or Vocos on ground-truth mels.

Training crops a short random window of each clip (HiFi-GAN trains on ~1 s segments). Until
`run.adversarial_start` only the multi-resolution STFT and mel losses train the generator — on CPU that
phase converges much faster (training/README.md, "Budget") — then the MPD/MSD discriminators and the
adversarial and feature-matching losses join.

A Vocos whose phase is Griffin-Lim's (`VocosConfig.phase == "griffin-lim"`) learns its magnitude alone,
directly against the audio's STFT magnitude on the mel's frames: spectral convergence plus the mean L1
distance of the log-magnitudes (the two terms of the multi-resolution STFT distance the resynthesis
benchmark scores, at the synthesis resolution). No wave is synthesised and no discriminator runs.
"""

from __future__ import annotations

import torch
from torch import nn

from muvi_plugin.constants import HOP_LENGTH, MEL_RATE
from training import presets
from training.layers.mel import MelSpectrogram
from training.models import vocoder as hifigan
from training.models.vocos import LOG_FLOOR, VocosConfig
from training.tasks.base import Objective, adamw, build_part, trainable_parameters
from training.tasks.data import music_data

# The generator steps first; the discriminators then judge its (detached) output, as HiFi-GAN alternates.
PHASES = (("gen", "gen"), ("disc", "disc"))
SEGMENT_FRAMES = MEL_RATE  # 1 s windows


class VocoderObjective(Objective):
    def __init__(
        self, generator: nn.Module, mpd: nn.Module, msd: nn.Module, *, adversarial_start: int
    ) -> None:
        super().__init__({"vocoder": generator, "mpd": mpd, "msd": msd})
        self.mel = MelSpectrogram()
        self.adversarial_start = adversarial_start
        self._fake: torch.Tensor | None = None
        self._real: torch.Tensor | None = None

    def _crop(self, batch, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A random `SEGMENT_FRAMES` window inside each clip's valid part: (mel, wave)."""
        mel = self.mel(batch["wave"])
        frames = batch["lengths"] * (mel.shape[-1] // batch["mask"].shape[1])
        seg = min(SEGMENT_FRAMES, int(frames.min()))
        starts = [
            int(torch.randint(0, int(f) - seg + 1, (), generator=generator, device=generator.device))
            for f in frames
        ]
        mels = torch.stack([mel[i, :, s : s + seg] for i, s in enumerate(starts)])
        waves = torch.stack(
            [batch["wave"][i, s * HOP_LENGTH : (s + seg) * HOP_LENGTH] for i, s in enumerate(starts)]
        )
        return mels, waves[:, None, :]

    def forward(self, batch, *, phase: str, step: int, generator: torch.Generator):
        adversarial = step >= self.adversarial_start
        if phase == "gen":
            return self._generator_step(batch, adversarial, generator)
        return self._discriminator_step(adversarial)

    def _magnitude_step(self, mel: torch.Tensor, real: torch.Tensor):
        model = self.parts["vocoder"]
        log_pred = model.log_magnitude(mel)
        target = model.analysis_magnitude(real.squeeze(1))
        log_l1 = (log_pred - torch.log(target.clamp(min=LOG_FLOOR))).abs().mean()
        norm = torch.linalg.vector_norm
        convergence = norm(target - log_pred.exp()) / norm(target).clamp(min=LOG_FLOOR)
        loss = convergence + log_l1
        return loss, {"loss": loss, "log_l1": log_l1, "convergence": convergence}

    def _generator_step(self, batch, adversarial: bool, generator: torch.Generator):
        mel, real = self._crop(batch, generator)
        config = self.parts["vocoder"].config
        if isinstance(config, VocosConfig) and config.phase == "griffin-lim":
            return self._magnitude_step(mel, real)
        fake = self.parts["vocoder"](mel)
        self._fake, self._real = fake.detach(), real
        stft = hifigan.multi_resolution_stft_loss(fake.squeeze(1), real.squeeze(1))
        mel_l1 = nn.functional.l1_loss(self.mel(fake.squeeze(1)), mel)
        loss = stft + hifigan.MEL_WEIGHT * mel_l1
        stats = {"stft": stft, "mel_l1": mel_l1}
        if adversarial:
            for name in ("mpd", "msd"):
                real_scores, real_feats = self.parts[name](real)
                fake_scores, fake_feats = self.parts[name](fake)
                adv = hifigan.generator_adversarial_loss(fake_scores)
                fm = hifigan.feature_matching_loss(real_feats, fake_feats)
                loss = loss + adv + hifigan.FEATURE_MATCHING_WEIGHT * fm
                stats[f"{name}_adv"] = adv
        stats["loss"] = loss
        return loss, stats

    def _discriminator_step(self, adversarial: bool):
        if not adversarial or self._fake is None:
            zero = torch.zeros((), device=self.mel.filterbank.device)
            return zero, {"loss": zero}
        loss = 0.0
        for name in ("mpd", "msd"):
            real_scores, _ = self.parts[name](self._real)
            fake_scores, _ = self.parts[name](self._fake)
            loss = loss + hifigan.discriminator_loss(real_scores, fake_scores)
        return loss, {"loss": loss}


def build(run) -> VocoderObjective:
    config = presets.vocoder_config(run.preset, run.vocoder)
    judges = hifigan.discriminator_config(config)
    return VocoderObjective(
        build_part("vocoder", config),
        build_part("mpd", judges),
        build_part("msd", judges),
        adversarial_start=run.adversarial_start,
    )


def data(run, objective, *, rank: int, world_size: int):
    return music_data(run, rank=rank, world_size=world_size)


def optimizers(objective: VocoderObjective, run) -> dict[str, torch.optim.Optimizer]:
    vocos = isinstance(objective["vocoder"].config, VocosConfig)
    lr = run.lr or (presets.VOCOS_LR if vocos else presets.VOCODER_LR)
    disc = trainable_parameters(objective["mpd"]) + trainable_parameters(objective["msd"])
    return {
        "gen": adamw(trainable_parameters(objective["vocoder"]), lr=lr, betas=(0.8, 0.99)),
        "disc": adamw(disc, lr=lr, betas=(0.8, 0.99)),
    }
