"""Euler sampler for the runtime, in numpy (the twin of `training.flow_matching`'s sampler).

Shapes: `b` batch, `n` latent frames, `C` latent channels.

Rectified flow (MuVi Sec. 3.3): integrate `dx/dt = v(x, t)` from noise at t = 0 to music at t = 1 with
fixed Euler steps (MuVi App. B). Same names and semantics as the torch sampler, float32 throughout; the
two are tested against each other. This module never imports torch.
"""

from collections.abc import Callable

import numpy as np

VelocityFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""`velocity_fn(x (b, n, C) float32, t_frames (b, n) float32) -> v (b, n, C)`."""

StepHook = Callable[[int, int], None]
"""`on_step(done, steps)`, called after each step; it may raise to cancel the sampling."""


def time_grid(steps: int) -> np.ndarray:
    """`steps + 1` equally spaced times from 0 to 1, float32 (`i / steps` in float64, as in torch)."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    return (np.arange(steps + 1, dtype=np.float64) / steps).astype(np.float32)


def euler_step(x: np.ndarray, v: np.ndarray, dt: float) -> np.ndarray:
    """One explicit Euler step, `x + dt * v`, keeping `x`'s dtype."""
    return (x + float(dt) * v).astype(x.dtype, copy=False)


def cfg_combine(v_uncond: np.ndarray, v_cond: np.ndarray, scale: float) -> np.ndarray:
    """Classifier-free guidance, `v_u + scale * (v_c - v_u)` (MuVi App. B)."""
    return v_uncond + float(scale) * (v_cond - v_uncond)


def sample(
    velocity_fn: VelocityFn,
    noise: np.ndarray,
    *,
    steps: int,
    context: np.ndarray | None = None,
    context_frames: int | None = None,
    on_step: StepHook | None = None,
) -> np.ndarray:
    """Integrates from the noise at t = 0 to t = 1 with `steps` Euler steps.

    Args:
        velocity_fn: `velocity_fn(x, t_frames) -> v`; gets per-frame times, 1 on context frames.
        noise: `x0` `(b, n, C)`; computed in float32.
        steps: Number of Euler steps (MuVi: 25).
        context: Optional clean latent `(b, m, C)` (or `(1, m, C)`, broadcast over the batch) whose first
            `context_frames` frames are held as the first frames of `x` at every step (the in-context
            music prompt, MuVi Sec. 4.3).
        context_frames: How many leading frames to hold; default all `m` of `context`, 0 without one.
        on_step: Optional progress hook `on_step(done, steps)` called after each step with the number of
            steps done (1 .. steps). Raising from it cancels the sampling; the exception propagates.

    Returns:
        `x1` `(b, n, C)` float32; its first `context_frames` frames equal the context exactly.
    """
    x = np.asarray(noise, dtype=np.float32)
    b, n = x.shape[:2]
    k = _context_frames(context, context_frames, n)
    held = None if not k else np.asarray(context, dtype=np.float32)[:, :k]
    grid = time_grid(steps)
    for i in range(steps):
        x = _hold_context(x, held)
        t_frames = np.full((b, n), grid[i], dtype=np.float32)
        t_frames[:, :k] = 1.0
        v = np.asarray(velocity_fn(x, t_frames), dtype=np.float32)
        x = euler_step(x, v, float(grid[i + 1]) - float(grid[i]))
        if on_step is not None:
            on_step(i + 1, steps)
    return _hold_context(x, held)


def _context_frames(context: np.ndarray | None, context_frames: int | None, n: int) -> int:
    if context is None:
        if context_frames:
            raise ValueError("context_frames > 0 needs a context")
        return 0
    m = np.shape(context)[1]
    k = m if context_frames is None else context_frames
    if not 0 <= k <= min(m, n):
        raise ValueError(f"context_frames {k} must be in [0, min(context length {m}, {n})]")
    return k


def _hold_context(x: np.ndarray, held: np.ndarray | None) -> np.ndarray:
    if held is None:
        return x
    x = x.copy()
    x[:, : held.shape[1]] = held  # broadcasts a (1, k, C) context over the batch
    return x
