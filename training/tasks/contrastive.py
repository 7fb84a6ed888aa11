"""Stage `contrastive`: music-visual contrastive pre-training of the adaptor (MuVi Sec. 3.2, App. B stage 1).

Only the adaptor, the audio encoder's head and the temperature learn (plus the from-scratch encoders, which
have nothing pre-trained to keep). Each positive pair gets extra negatives built from its own music:
a temporal shift that avoids whole and half beat periods, and a random replacement from another clip of the
batch — silence where neither can be built. They are built in the collate function, i.e. in the data
loader's workers, because beat tracking runs on the CPU.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from muvi_plugin.constants import SAMPLE_RATE, VIDEO_FPS
from training import presets
from training.contrastive import TemperatureConfig, build_negatives, contrastive_loss, ddp_gather
from training.data import collate_video_music
from training.tasks.base import (
    Objective,
    adamw,
    build_part,
    part_from_checkpoints,
    trainable_parameters,
    visual_parts,
)
from training.tasks.data import video_data

PHASES = (("main", "main"),)


class ContrastiveObjective(Objective):
    def __init__(self, *, encoder: nn.Module, adaptor: nn.Module, audio: nn.Module, temperature: nn.Module):
        super().__init__(
            {
                "visual_encoder": encoder,
                "adaptor": adaptor,
                "audio_encoder": audio,
                "temperature": temperature,
            }
        )

    def forward(self, batch, *, phase: str, step: int, generator: torch.Generator):
        mask = batch["mask"]
        b, n = mask.shape
        features = self.parts["visual_encoder"](batch["frames"], lengths=batch["frame_mask"].sum(1))
        v = self.parts["adaptor"](features, n_out=n)
        audio = self.parts["audio_encoder"]
        a_pos = audio(batch["wave"], n_frames=n)
        negatives = batch["negatives"]  # (b, k, samples)
        k = negatives.shape[1]
        a_neg = audio(negatives.flatten(0, 1), n_frames=n).unflatten(0, (b, k))
        gather = ddp_gather() if torch.distributed.is_initialized() else None
        loss, stats = contrastive_loss(
            v, a_pos, a_neg, logit_scale=self.parts["temperature"](), gather=gather, mask=mask
        )
        return loss, {"loss": loss, **stats}


def collate_with_negatives(seed: int) -> Callable[[Sequence[dict]], dict]:
    """Collate a batch and add its negatives, seeded by the batch content so any worker draws the same.

    A `functools.partial` of a module-level function, so data loader workers started by "spawn" (macOS,
    Windows, a spawned parent) can pickle it.
    """
    return functools.partial(_collate_with_negatives, seed)


def _collate_with_negatives(seed: int, items: Sequence[dict]) -> dict:
    batch = collate_video_music(items)
    key = [
        seed,
        *[int(i["index"]) for i in items],
        *[int(round(float(i["start"]) * 1000)) for i in items],
    ]
    rng = np.random.default_rng(key)
    negatives, kinds = build_negatives(
        batch["wave"],
        generator=rng,
        sample_rate=SAMPLE_RATE,
        fps=VIDEO_FPS,
        lengths=[item["wave"].shape[0] for item in items],  # zero padding must not roll into the music
    )
    batch["negatives"] = torch.as_tensor(negatives, dtype=batch["wave"].dtype)
    batch["negative_kinds"] = torch.as_tensor(kinds)
    return batch


def build(run) -> ContrastiveObjective:
    encoder, adaptor, _ = visual_parts(run)
    audio = part_from_checkpoints("audio_encoder", run.init) or build_part(
        "audio_encoder", presets.audio_encoder_config(run.preset, checkpoint=run.audio_encoder_checkpoint)
    )
    temperature = part_from_checkpoints("temperature", run.init) or build_part(
        "temperature", TemperatureConfig()
    )
    return ContrastiveObjective(encoder=encoder, adaptor=adaptor, audio=audio, temperature=temperature)


def data(run, objective, *, rank: int, world_size: int):
    size = objective["visual_encoder"].image_size
    return video_data(
        run, image_size=size, rank=rank, world_size=world_size, collate=collate_with_negatives(run.seed)
    )


def optimizers(objective: ContrastiveObjective, run) -> dict[str, torch.optim.Optimizer]:
    lr = run.lr or presets.DEFAULT_LR[run.preset]
    return {"main": adamw(trainable_parameters(objective), lr=lr)}
