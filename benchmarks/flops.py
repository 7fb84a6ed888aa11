"""FLOPs per scoring stage, and the machine's measured peak, to put achieved FLOP/s next to the timings.

FLOPs are counted by PyTorch's `torch.utils.flop_counter.FlopCounterMode` on the very model parts a bundle
is exported from, stage by stage, with the shapes the runtime uses for one window: the encoder over every
clip, the adaptor, the DiT's condition path (conditional and unconditional) once plus its velocity path
(both CFG branches batched) once per Euler step, the VAE decoder and the vocoder. The counter counts matrix
multiplications and convolutions (2 FLOPs per multiply-add) — the work that dominates; element-wise
operations are left out, so achieved FLOP/s is slightly understated.

The peak is measured, not looked up: the best of several float32 matrix products (`numpy.matmul`, the BLAS
ONNX Runtime's own kernels compete with) on every core.
"""

from __future__ import annotations

import time

import numpy as np

PEAK_SIZE = 2048  # square sgemm size: large enough to reach the BLAS's steady state, small enough to be quick


def sgemm_peak(*, size: int = PEAK_SIZE, repeats: int = 8) -> float:
    """The best float32 matrix-product rate of this machine, in FLOP/s (all cores, numpy's BLAS)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    np.matmul(a, b)  # warm-up: thread pool and caches
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        np.matmul(a, b)
        best = min(best, time.perf_counter() - began)
    return 2 * size**3 / best


def stage_flops(parts: dict, *, seconds: float, steps: int, image_size: int, fps: float) -> dict[str, float]:
    """FLOPs of each runtime stage for one window of `seconds` (a whole number of latent frames).

    Args:
        parts: `visual_encoder`, `adaptor`, `dit`, `vae`, `vocoder`, in eval mode.
        seconds: the window's length.
        steps: Euler steps (the velocity path runs once per step).
        image_size: the encoder's frame size in pixels.
        fps: video frames per second fed to the encoder.

    Returns:
        FLOPs per stage: `encoder`, `adaptor`, `dit` (condition path + `steps` velocity passes), `vae`
        (decoder), `vocoder`.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from muvi_plugin.windows import frames_for
    from training.models.visual_encoder import PatchFeatures, split_into_clips, stitch_clips

    encoder, adaptor, dit, vae = (parts[p] for p in ("visual_encoder", "adaptor", "dit", "vae"))
    rate = 10  # latent frames per second (MuVi: 24 kHz / hop 300 / 8)
    n = frames_for(seconds, rate)
    t = round(seconds * fps)
    frames = torch.rand(1, t, 3, image_size, image_size)
    counts: dict[str, float] = {}

    def counted(stage: str, fn):
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            out = fn()
        counts[stage] = float(counter.get_total_flops())
        return out

    clip = encoder.clip_frames
    out = counted("encoder", lambda: encoder.encode_clips(split_into_clips(frames, clip)))
    features = PatchFeatures(
        stitch_clips(out.patches, batch=1, t=t, clip=clip),
        None if out.cls is None else stitch_clips(out.cls, batch=1, t=t, clip=clip),
    )
    cond = counted("adaptor", lambda: adaptor(features, n_out=n))

    drop = torch.zeros(2, n, dtype=torch.bool)
    drop[1] = True  # the runtime batches the conditional and the unconditional branch
    c = counted("dit_condition", lambda: dit.condition(cond.expand(2, -1, -1), drop=drop))
    x = torch.randn(2, n, dit.config.latent_channels)
    counted("dit_step", lambda: dit.velocity(x, torch.full((2,), 0.5), c))
    counts["dit"] = counts.pop("dit_condition") + steps * counts.pop("dit_step")
    z = torch.randn(1, dit.config.latent_channels, n)
    mel = counted("vae", lambda: vae.decode(vae.denormalize(z)))
    counted("vocoder", lambda: parts["vocoder"](mel))
    return counts
