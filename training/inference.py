"""The torch reference of the runtime's generation of one window: frames + noise -> waveform.

It does, in PyTorch and with the same pure functions, exactly what `muvi_plugin` does with the exported
graphs for a single window (docs/architecture.md, "Data flow"), so the two can be compared end to end:
    encoder clip by clip (`split_into_clips`, `VisualEncoder.encode_clips`, `stitch_clips`; MuVi App. C)
    -> adaptor resampled to the noise's length -> DiT condition path, conditional (drop False) and
    unconditional (drop True) -> Euler ODE with classifier-free guidance, both passes batched
    (`flow_matching.sample` + `guided_velocity`) -> latent denormalised with the VAE's statistics ->
    VAE decoder -> vocoder.

Shapes: `t` video frames, `H W` image size, `n` latent frames, `C` latent channels, `m` context frames.
"""

from __future__ import annotations

import torch
from torch import nn

from training.flow_matching import guided_velocity, sample
from training.models.visual_encoder import PatchFeatures, split_into_clips, stitch_clips

PARTS = ("visual_encoder", "adaptor", "dit", "vae", "vocoder")


@torch.no_grad()
def visual_condition(parts: dict[str, nn.Module], frames: torch.Tensor, n: int) -> torch.Tensor:
    """The adaptor's condition `(1, n, d)` for video frames `(t, 3, H, W)` in [0, 1]."""
    encoder = parts["visual_encoder"]
    t, clip = frames.shape[0], encoder.clip_frames
    out = encoder.encode_clips(split_into_clips(frames[None], clip))
    patches = stitch_clips(out.patches, batch=1, t=t, clip=clip)
    cls = None if out.cls is None else stitch_clips(out.cls, batch=1, t=t, clip=clip)
    return parts["adaptor"](PatchFeatures(patches, cls), n_out=n)


@torch.no_grad()
def generate(
    parts: dict[str, nn.Module],
    frames: torch.Tensor,
    *,
    noise: torch.Tensor,
    steps: int,
    guidance: float,
    context: torch.Tensor | None = None,
    prompt: torch.Tensor | None = None,
) -> torch.Tensor:
    """Generate the music of one window, as the runtime does with the bundle's graphs.

    Args:
        parts: `visual_encoder`, `adaptor`, `dit`, `vae`, `vocoder` (checkpoint part names), in eval mode.
        frames: The window's video `(t, 3, H, W)`, float in [0, 1], at the encoder's fps and size.
        noise: `x0` `(1, P + n, C)`: `n` latent frames for the video (the adaptor's `n_out`), after the
            `P` frames of `prompt` (0 without one).
        steps: Euler steps.
        guidance: Classifier-free guidance scale.
        context: Optional clean latent `(1, m, C)`, `m <= n`: held as the first `m` frames of the video's
            (the previous window's tail when continuing, MuVi Sec. 4.3). Those frames keep their visual
            condition, as in training.
        prompt: Optional clean latent `(1, P, C)` (a style prompt): held as `P` frames placed before the
            video's, conditioned on the unconditional embedding in both branches (they have no picture).

    Context and prompt latents are in the DiT's normalised space (the VAE encoder's mean passed through
    `MelVAE.normalize`, transposed to `(1, frames, C)`).

    Returns:
        The waveform `((P + n) * 8 * hop,)` float32, untrimmed (the prompt's part included).

    Raises:
        ValueError: A part is missing or in training mode, the shapes do not fit, or both a context and a
            prompt are given (the runtime uses a prompt in the first window only, a context in the others).
    """
    missing = [p for p in PARTS if p not in parts]
    if missing:
        raise ValueError(f"generate needs the parts {', '.join(PARTS)}; missing: {', '.join(missing)}")
    training = [p for p in PARTS if parts[p].training]
    if training:
        raise ValueError(f"parts in training mode (call .eval()): {', '.join(training)}")
    if frames.dim() != 4 or frames.shape[1] != 3:
        raise ValueError(f"frames must be (t, 3, H, W), got {tuple(frames.shape)}")
    dit, vae = parts["dit"], parts["vae"]
    if noise.dim() != 3 or noise.shape[0] != 1 or noise.shape[2] != dit.config.latent_channels:
        raise ValueError(f"noise must be (1, frames, {dit.config.latent_channels}), got {tuple(noise.shape)}")
    if context is not None and prompt is not None:
        raise ValueError("give a context or a prompt, not both")
    lead = 0 if prompt is None else prompt.shape[1]
    n = noise.shape[1] - lead
    if n < 1:
        raise ValueError(f"noise has {noise.shape[1]} frames, the prompt {lead}: none left for the video")
    cond = visual_condition(parts, frames, n)
    cond = torch.cat([cond.new_zeros(1, lead, cond.shape[2]), cond], dim=1)
    drop = torch.zeros(1, lead + n, dtype=torch.bool, device=noise.device)
    drop[:, :lead] = True  # prompt frames have no picture: the unconditional embedding stands in
    c_cond = dit.condition(cond, drop=drop)
    c_uncond = dit.condition(cond, drop=torch.ones_like(drop))
    held = prompt if prompt is not None else context
    z = sample(guided_velocity(dit, c_cond, c_uncond, guidance), noise, steps=steps, context=held)
    mel = vae.decode(vae.denormalize(z.transpose(1, 2)))
    return parts["vocoder"](mel).reshape(-1).float()
