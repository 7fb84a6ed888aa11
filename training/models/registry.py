"""The part registry: every model part by name, built from its config and stored in checkpoints.

A model ("part") is stored in a checkpoint as `{"config": asdict(config), "state": state_dict}` under a
fixed name (`vae`, `vocoder`, `mpd`, `msd`, `dit`, `visual_encoder`, `adaptor`, `audio_encoder`,
`temperature`). Later stages, the exporter, the metrics and the benchmarks rebuild a part from its stored
config, so a v2m run always uses the VAE that was actually trained, whatever preset it names itself.

It lives beside the models (not in `training.tasks`) because export, metrics and benchmarks need it and
must not reach up into the training stages (docs/architecture.md, "Packages").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from torch import nn

from training import checkpoint as ckpt


def _part_types() -> dict[str, tuple[type, Callable[[Any], nn.Module]]]:
    # Imported lazily: importing the registry must not pull every model (and transformers) in.
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
        config = config_cls(**config) if isinstance(config_cls, type) else config_cls(config)
    model = factory(config)
    model.config = config  # the config travels with the module into checkpoints
    return model


def _stores_weights(model: nn.Module) -> bool:
    # A frozen encoder loaded from a local pre-trained checkpoint is rebuilt from that path; copying its
    # ~86M parameters into every checkpoint would only bloat them.
    pretrained = getattr(model.config, "checkpoint", None)
    return not (pretrained and not any(p.requires_grad for p in model.parameters()))


def part_entry(model: nn.Module) -> dict[str, Any]:
    """What a checkpoint stores for `model`: its config, and its weights unless frozen and pre-trained."""
    entry: dict[str, Any] = {"config": asdict(model.config)}
    if _stores_weights(model):
        entry["state"] = model.state_dict()
    return entry


def load_part(name: str, entry: dict[str, Any]) -> nn.Module:
    """Rebuild the part `name` from a checkpoint's entry (`part_entry`'s output)."""
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
