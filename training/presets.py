"""Named model sizes: one config per part for each preset (debug, demo, small, base, large).

`debug` is for tests (seconds to build); `demo` is the embedded default model, trained on CPU with a
from-scratch visual and audio encoder (no pre-trained weights are reachable here); `small`/`base`/`large` are
the paper's sizes (MuVi App. A, Table 6) with VideoMAE V2 and AudioMAE loaded from local checkpoints.
"""

from __future__ import annotations

import dataclasses

PRESET_NAMES = ("debug", "demo", "small", "base", "large")

# Learning rates: the paper's 5e-5 (Sec. 4.1) for its sizes; tiny models train faster with more.
DEFAULT_LR = {"debug": 1e-3, "demo": 3e-4, "small": 5e-5, "base": 5e-5, "large": 5e-5}
VOCODER_LR = 2e-4  # HiFi-GAN's own recipe (Kong et al. 2020), betas (0.8, 0.99)
VOCOS_LR = 5e-4  # Vocos' own recipe (Siuzdak 2023)


def _check(preset: str) -> None:
    if preset not in PRESET_NAMES:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESET_NAMES)}")


def vae_config(preset: str):
    from training.models.vae import PRESETS

    _check(preset)
    return PRESETS[preset]


VOCODER_KINDS = ("hifigan", "vocos")
# The vocoder family each preset trains by default: MuVi's HiFi-GAN for the paper's sizes (App. A); the
# demo takes the inverse-STFT vocoder, which measured better at its CPU budget (docs/benchmarks.md,
# "Resynthesis").
DEFAULT_VOCODER = {
    "debug": "hifigan",
    "demo": "vocos",
    "small": "hifigan",
    "base": "hifigan",
    "large": "hifigan",
}


def vocoder_config(preset: str, kind: str | None = None):
    """The preset's vocoder config: HiFi-GAN (`models.vocoder`) or Vocos (`models.vocos`)."""
    from training.models import vocoder, vocos

    _check(preset)
    kind = kind or DEFAULT_VOCODER[preset]
    if kind not in VOCODER_KINDS:
        raise ValueError(f"unknown vocoder {kind!r}; choose one of {', '.join(VOCODER_KINDS)}")
    if kind == "vocos":
        if preset not in vocos.PRESETS:
            raise ValueError(f"no Vocos size for preset {preset!r}; it has {', '.join(vocos.PRESETS)}")
        return vocos.PRESETS[preset]
    return vocoder.PRESETS[preset]


def dit_config(preset: str):
    from training.models.dit import PRESETS

    _check(preset)
    return PRESETS[preset]


def visual_encoder_config(preset: str, *, kind: str | None = None, checkpoint: str | None = None):
    """The preset's visual encoder, or the pre-trained `kind` (ViT-B/16) loaded from a local `checkpoint`."""
    from training.models import visual_encoder as ve

    _check(preset)
    config = ve.PRESETS[preset]
    if kind is not None and kind != config.kind:
        # A pre-trained tower has its own geometry (224 px, 16-frame clips, 768 channels): start from it.
        pretrained = {"videomae": ve.VIDEOMAE_B16, "videomae_v2": ve.VIDEOMAE_V2_B16, "clip": ve.CLIP_B16}
        config = pretrained[kind] if kind in pretrained else ve.PRESETS["demo"] if kind == "scratch" else None
        if config is None:
            raise ValueError(f"unknown visual encoder kind {kind!r}")
    if checkpoint is not None:
        config = dataclasses.replace(config, checkpoint=checkpoint)
    if config.kind != "scratch" and not config.checkpoint:
        raise ValueError(
            f"preset {preset!r} uses a pre-trained {config.kind} encoder: pass its local checkpoint with "
            "--visual-encoder-checkpoint DIR (nothing is downloaded)"
        )
    return config


def audio_encoder_config(preset: str, *, checkpoint: str | None = None):
    from training.models.audio_encoder import PRESETS

    _check(preset)
    config = PRESETS[preset]
    return dataclasses.replace(config, checkpoint=checkpoint) if checkpoint is not None else config


def adaptor_config(preset: str, encoder, *, mode: str | None = None):
    """The adaptor between `encoder` (a built visual encoder) and the preset's DiT width."""
    from training.models.adaptor import adaptor_config_for

    width = dit_config(preset).width
    default = "softmax" if not encoder.has_cls else "attention"  # MuVi Table 1: best per encoder family
    return adaptor_config_for(encoder, width=width, mode=mode or default)
