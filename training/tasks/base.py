"""What every stage shares: the `Objective` holding a stage's models, and building a model from a config.

A model ("part") is stored in a checkpoint as `{"config": asdict(config), "state": state_dict}` under a
fixed name (`vae`, `vocoder`, `mpd`, `msd`, `dit`, `visual_encoder`, `adaptor`, `audio_encoder`,
`temperature`). Later stages and the exporter rebuild a part from its stored config, so a v2m run always
uses the VAE that was actually trained, whatever preset it names itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from training import checkpoint as ckpt


def _part_types() -> dict[str, tuple[type, Callable[[Any], nn.Module]]]:
    # Imported lazily: importing a task must not pull every model (and transformers) in.
    from training.contrastive import LearnableTemperature, TemperatureConfig
    from training.models.adaptor import AdaptorConfig, VisualAdaptor
    from training.models.audio_encoder import AudioEncoderConfig, build_audio_encoder
    from training.models.dit import DiT, DiTConfig
    from training.models.vae import MelVAE, VAEConfig
    from training.models.visual_encoder import VisualEncoderConfig, build_visual_encoder
    from training.models.vocoder import (
        HiFiGANConfig,
        MultiPeriodDiscriminator,
        MultiScaleDiscriminator,
        build_vocoder,
        vocoder_config_from_dict,
    )

    return {
        "vae": (VAEConfig, MelVAE),
        # Two vocoder families share the part name; a stored config says which ("kind": "vocos").
        "vocoder": (vocoder_config_from_dict, build_vocoder),
        "mpd": (HiFiGANConfig, MultiPeriodDiscriminator),
        "msd": (HiFiGANConfig, MultiScaleDiscriminator),
        "dit": (DiTConfig, DiT),
        "visual_encoder": (VisualEncoderConfig, build_visual_encoder),
        "adaptor": (AdaptorConfig, VisualAdaptor),
        "audio_encoder": (AudioEncoderConfig, build_audio_encoder),
        "temperature": (TemperatureConfig, LearnableTemperature),
    }


def build_part(name: str, config: Any) -> nn.Module:
    """Build the part `name` from its config dataclass (or the dict a checkpoint stored)."""
    types = _part_types()
    if name not in types:
        raise KeyError(f"unknown model part {name!r}")
    config_cls, factory = types[name]
    if isinstance(config, dict):
        config = config_cls(config) if not isinstance(config_cls, type) else config_cls(**config)
    model = factory(config)
    model.config = config  # the config travels with the module into checkpoints
    return model


def _stores_weights(model: nn.Module) -> bool:
    # A frozen encoder loaded from a local pre-trained checkpoint is rebuilt from that path; copying its
    # ~86M parameters into every checkpoint would only bloat them.
    pretrained = getattr(model.config, "checkpoint", None)
    return not (pretrained and not any(p.requires_grad for p in model.parameters()))


def part_entry(model: nn.Module) -> dict[str, Any]:
    entry: dict[str, Any] = {"config": asdict(model.config)}
    if _stores_weights(model):
        entry["state"] = model.state_dict()
    return entry


def load_part(name: str, entry: dict[str, Any]) -> nn.Module:
    model = build_part(name, entry["config"])
    if "state" in entry:
        model.load_state_dict(entry["state"])
    return model


def part_from_checkpoints(name: str, paths: tuple[str, ...]) -> nn.Module | None:
    """The part `name` from the first of `paths` whose checkpoint holds it, or None."""
    for path in paths:
        models = ckpt.load_checkpoint(path)["models"]
        if name in models:
            return load_part(name, models[name])
    return None


def require_part(name: str, paths: tuple[str, ...], *, stage: str, produced_by: str) -> nn.Module:
    model = part_from_checkpoints(name, paths)
    if model is None:
        given = ", ".join(str(Path(p)) for p in paths) or "none"
        raise ValueError(
            f"stage {stage!r} needs a trained {name!r}: pass the checkpoint of stage {produced_by!r} "
            f"with --init (given: {given})"
        )
    return model


def visual_parts(run) -> tuple[nn.Module, nn.Module, bool]:
    """The visual encoder and adaptor of a stage (from an earlier stage's checkpoint, else new), and
    whether the encoder is new."""
    from training import presets

    encoder = part_from_checkpoints("visual_encoder", run.init)
    is_new = encoder is None
    encoder = encoder or build_part(
        "visual_encoder",
        presets.visual_encoder_config(
            run.preset, kind=run.visual_encoder, checkpoint=run.visual_encoder_checkpoint
        ),
    )
    adaptor = part_from_checkpoints("adaptor", run.init) or build_part(
        "adaptor", presets.adaptor_config(run.preset, encoder, mode=run.adaptor_mode)
    )
    return encoder, adaptor, is_new


def trainable_parameters(module: nn.Module) -> list[nn.Parameter]:
    return [p for p in module.parameters() if p.requires_grad]


class Objective(nn.Module):
    """A stage's models plus its loss. `forward(batch, phase=..., step=...)` returns `(loss, stats)`."""

    def __init__(self, parts: dict[str, nn.Module]) -> None:
        super().__init__()
        self.parts = nn.ModuleDict(parts)

    def __getitem__(self, name: str) -> nn.Module:
        return self.parts[name]

    def export_models(self) -> dict[str, dict[str, Any]]:
        return {name: part_entry(model) for name, model in self.parts.items()}

    def load_models(self, entries: dict[str, dict[str, Any]]) -> None:
        for name, model in self.parts.items():
            if name in entries and "state" in entries[name]:
                model.load_state_dict(entries[name]["state"])


def adamw(
    params: list[nn.Parameter], *, lr: float, betas: tuple[float, float] = (0.9, 0.999)
) -> torch.optim.AdamW:
    if not params:
        raise ValueError("nothing to train: every parameter of this stage is frozen")
    return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=0.01)
