"""Rectified flow matching (MuVi Sec. 3.3) and its Euler sampler, in torch.

Shapes: `b` batch, `n` latent frames, `C` latent channels.

Convention (MuVi Sec. 3.3): `x0 ~ N(0, I)` is noise at t = 0, `x1` is data at t = 1,
`x_t = t * x1 + (1 - t) * x0`, and the target velocity is `x1 - x0`. Sampling integrates from t = 0 to 1.
The numpy twin of the sampler for the runtime is `muvi_plugin.sampler`; the two are tested against each
other and must keep the same names and semantics.
"""

from collections.abc import Callable
from typing import Protocol

import torch

from muvi_plugin.constants import CONTEXT_MAX_FRACTION, CONTEXT_MAX_SECONDS, LATENT_RATE

VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""`velocity_fn(x_t (b, n, C), t_frames (b, n)) -> v (b, n, C)`."""


class VelocityModel(Protocol):
    """What `guided_velocity` needs of a model: `DiT.velocity`."""

    def velocity(
        self, x_t: torch.Tensor, t: torch.Tensor, c: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor: ...


# --- the objective -------------------------------------------------------------------------------------


def _expand_time(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Appends singleton axes to `t` (`(b,)` or `(b, n)`) so it broadcasts against `like`."""
    return t.reshape(t.shape + (1,) * (like.dim() - t.dim()))


def interpolate(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """`x_t = t * x1 + (1 - t) * x0`, with `t` of shape `(b,)` or per frame `(b, n)`."""
    t = _expand_time(t, x1).to(x1.dtype)
    return t * x1 + (1 - t) * x0


def target_velocity(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """The rectified-flow target `x1 - x0`."""
    return x1 - x0


def sample_time(
    batch: int,
    *,
    generator: torch.Generator,
    device: torch.device | str | None = None,
    logit_normal: bool = False,
) -> torch.Tensor:
    """Training times `(batch,)` in [0, 1].

    Args:
        batch: Number of times.
        generator: Source of randomness; the draw happens on its device and is then moved to `device`.
        device: Where the result goes (default: the generator's device).
        logit_normal: Draw `sigmoid(N(0, 1))` instead of uniform (SD3's choice: more weight mid-path).
            MuVi does not say; uniform is the default.
    """
    if logit_normal:
        t = torch.sigmoid(torch.randn(batch, generator=generator, device=generator.device))
    else:
        t = torch.rand(batch, generator=generator, device=generator.device)
    return t.to(device if device is not None else generator.device)


def context_mask(
    lengths: torch.Tensor,
    n: int,
    *,
    generator: torch.Generator,
    p: float = 0.8,
    rate: float = LATENT_RATE,
    max_seconds: float = CONTEXT_MAX_SECONDS,
    max_fraction: float = CONTEXT_MAX_FRACTION,
) -> torch.Tensor:
    """Which frames are clean in-context frames, for partial denoising (MuVi Sec. 4.3).

    With probability `p` per item, its first `min(max_seconds * rate, max_fraction * length)` frames
    (rounded down) are context: 14 s or 33% of the item's own length, whichever is smaller.

    Args:
        lengths: Valid frames per item `(b,)` (int).
        n: Padded length of the batch.
        generator: Source of randomness (its device is used for the draw).
        p: Probability that an item gets a context at all (MuVi: 0.8).
        rate: Latent frames per second.
        max_seconds: Longest context in seconds.
        max_fraction: Longest context as a fraction of the item's length.

    Returns:
        `(b, n)` bool, True on context frames.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    # float64 and a tiny epsilon so that e.g. 0.33 * 100 gives 33, not 32.
    by_fraction = torch.floor(lengths.to(torch.float64) * max_fraction + 1e-9).long()
    frames = by_fraction.clamp_max(int(max_seconds * rate + 1e-9))
    apply = torch.rand(lengths.shape[0], generator=generator, device=generator.device) < p
    frames = torch.where(apply.to(lengths.device), frames, torch.zeros_like(frames))
    return torch.arange(n, device=lengths.device)[None, :] < frames[:, None]


def flow_matching_loss(
    velocity_fn: VelocityFn,
    x1: torch.Tensor,
    *,
    generator: torch.Generator,
    valid: torch.Tensor | None = None,
    context: torch.Tensor | None = None,
    logit_normal: bool = False,
) -> torch.Tensor:
    """The rectified-flow objective (MuVi Sec. 3.3) with optional in-context frames (Sec. 4.3).

    Draws noise `x0` and one time per item; context frames are kept clean (`x_t = x1`) and get time 1,
    and carry no loss.

    Args:
        velocity_fn: `velocity_fn(x_t, t_frames) -> v`, e.g. a closure over `DiT.velocity` with the
            condition and padding mask.
        x1: Data latent `(b, n, C)`.
        generator: Source of noise and times.
        valid: Optional `(b, n)` bool, False on padding.
        context: Optional `(b, n)` bool, True on context frames (`context_mask`).
        logit_normal: Passed to `sample_time`.

    Returns:
        Scalar: mean squared error over the channels of the frames that are valid and not context.
    """
    b, n, _ = x1.shape
    x0 = torch.randn(x1.shape, generator=generator, device=generator.device).to(x1.device, x1.dtype)
    t = sample_time(b, generator=generator, device=x1.device, logit_normal=logit_normal)
    t_frames = t[:, None].expand(b, n)
    x_t = interpolate(x0, x1, t_frames)
    weight = torch.ones(b, n, dtype=torch.bool, device=x1.device)
    if valid is not None:
        weight = weight & valid
    if context is not None:
        x_t = torch.where(context[..., None], x1, x_t)
        t_frames = torch.where(context, torch.ones_like(t_frames), t_frames)
        weight = weight & ~context
    v = velocity_fn(x_t, t_frames)
    err = (v.float() - target_velocity(x0, x1).float()).pow(2).mean(dim=-1)  # (b, n)
    # where, not multiply: a non-finite prediction on an excluded frame must not leak into the loss.
    err = torch.where(weight, err, torch.zeros_like(err))
    return err.sum() / weight.sum().clamp_min(1)


# --- the sampler ---------------------------------------------------------------------------------------


def time_grid(steps: int) -> torch.Tensor:
    """`steps + 1` equally spaced times from 0 to 1, float32 (computed as `i / steps` in float64, the
    same arithmetic as the numpy sampler, so both grids are bit-identical)."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    return (torch.arange(steps + 1, dtype=torch.float64) / steps).float()


def euler_step(x: torch.Tensor, v: torch.Tensor, dt: float | torch.Tensor) -> torch.Tensor:
    """One explicit Euler step, `x + dt * v` (MuVi App. B: Euler with a fixed step)."""
    return x + dt * v


def cfg_combine(v_uncond: torch.Tensor, v_cond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance, `v_u + scale * (v_c - v_u)` (MuVi App. B; scale 4 by default there)."""
    return v_uncond + scale * (v_cond - v_uncond)


@torch.no_grad()
def sample(
    velocity_fn: VelocityFn,
    noise: torch.Tensor,
    *,
    steps: int,
    context: torch.Tensor | None = None,
    context_frames: int | None = None,
) -> torch.Tensor:
    """Integrates `dx/dt = v(x, t)` from the noise at t = 0 to t = 1 with Euler steps.

    Args:
        velocity_fn: `velocity_fn(x (b, n, C), t_frames (b, n)) -> v (b, n, C)`.
        noise: `x0` `(b, n, C)`.
        steps: Number of Euler steps (MuVi: 25).
        context: Optional clean latent `(b, m, C)` whose first `context_frames` frames are held as the
            first frames of `x` at every step, with time 1 (in-context prompt / partial denoising, MuVi
            Sec. 4.3).
        context_frames: How many leading frames to hold; default all `m` of `context`, 0 without one.

    Returns:
        `x1` `(b, n, C)`; its first `context_frames` frames equal the context exactly.
    """
    k = _context_frames(context, context_frames, noise.shape[1])
    grid = time_grid(steps).tolist()
    x = noise
    b, n = noise.shape[:2]
    for i in range(steps):
        x = _hold_context(x, context, k)
        t_frames = torch.full((b, n), grid[i], dtype=torch.float32, device=noise.device)
        if k:
            t_frames[:, :k] = 1.0
        x = euler_step(x, velocity_fn(x, t_frames).to(x.dtype), grid[i + 1] - grid[i])
    return _hold_context(x, context, k)


def guided_velocity(
    dit: VelocityModel,
    c_cond: torch.Tensor,
    c_uncond: torch.Tensor,
    scale: float,
    *,
    mask: torch.Tensor | None = None,
) -> VelocityFn:
    """A `velocity_fn` with classifier-free guidance that calls `dit.velocity` once per step.

    The conditional and unconditional passes are stacked on the batch axis (`2b`), as the exported graph
    will run them.

    Args:
        dit: Anything with `velocity(x_t, t, c, mask)` (a `DiT`).
        c_cond: Conditional `c` `(b, n, d)` from `dit.condition(cond)`.
        c_uncond: Unconditional `c` `(b, n, d)` from `dit.condition(None, ...)` or `drop` all True.
        scale: Guidance scale.
        mask: Optional key padding mask `(b, n)` bool.

    Returns:
        `velocity_fn(x (b, n, C), t_frames (b, n)) -> (b, n, C)`.
    """
    c = torch.cat([c_cond, c_uncond.expand_as(c_cond)], dim=0)
    mask2 = None if mask is None else torch.cat([mask, mask], dim=0)

    def velocity_fn(x: torch.Tensor, t_frames: torch.Tensor) -> torch.Tensor:
        v = dit.velocity(torch.cat([x, x], dim=0), torch.cat([t_frames, t_frames], dim=0), c, mask2)
        v_cond, v_uncond = v.chunk(2, dim=0)
        return cfg_combine(v_uncond, v_cond, scale)

    return velocity_fn


def _context_frames(context: torch.Tensor | None, context_frames: int | None, n: int) -> int:
    if context is None:
        if context_frames:
            raise ValueError("context_frames > 0 needs a context")
        return 0
    k = context.shape[1] if context_frames is None else context_frames
    if not 0 <= k <= min(context.shape[1], n):
        raise ValueError(f"context_frames {k} must be in [0, min(context length {context.shape[1]}, {n})]")
    return k


def _hold_context(x: torch.Tensor, context: torch.Tensor | None, k: int) -> torch.Tensor:
    if not k:
        return x
    return torch.cat([context[:, :k].to(x.dtype).expand(x.shape[0], -1, -1), x[:, k:]], dim=1)
