"""The runtime's numpy sampler on analytic velocity fields with known exact answers (no torch here)."""

import numpy as np
import pytest

from muvi_plugin.sampler import cfg_combine, euler_step, sample, time_grid


def _noise(b=2, n=9, c=3, seed=0):
    return np.random.default_rng(seed).standard_normal((b, n, c)).astype(np.float32)


def test_time_grid():
    grid = time_grid(4)
    assert grid.dtype == np.float32
    np.testing.assert_array_equal(grid, [0.0, 0.25, 0.5, 0.75, 1.0])
    with pytest.raises(ValueError):
        time_grid(0)


def test_euler_step_and_cfg_combine():
    x = np.ones(3, np.float32)
    out = euler_step(x, np.array([1.0, 2.0, 3.0], np.float32), 0.5)
    np.testing.assert_array_equal(out, [1.5, 2.0, 2.5])
    assert out.dtype == np.float32
    v_u, v_c = np.array([1.0, -1.0]), np.array([3.0, 0.0])
    np.testing.assert_allclose(cfg_combine(v_u, v_c, 4.0), [9.0, 3.0])
    np.testing.assert_allclose(cfg_combine(v_u, v_c, 1.0), v_c)
    np.testing.assert_allclose(cfg_combine(v_u, v_c, 0.0), v_u)


@pytest.mark.parametrize("steps", [1, 4, 25])
def test_linear_decay_field_matches_euler_closed_form(steps):
    # v(x, t) = -x: Euler with N steps gives exactly (1 - 1/N)^N x0.
    x0 = _noise()
    x = sample(lambda x, t: -x, x0, steps=steps)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, (1 - 1 / steps) ** steps * x0, rtol=1e-5, atol=1e-6)


def test_straight_line_field_is_integrated_exactly():
    # The rectified-flow field towards a fixed x1: v = (x1 - x) / (1 - t). Euler stays on the line.
    x0, x1 = _noise(seed=0), _noise(seed=1)
    x = sample(lambda x, t: (x1 - x) / (1 - t)[..., None], x0, steps=7)
    np.testing.assert_allclose(x, x1, rtol=1e-5, atol=1e-5)


def test_time_dependent_field_sees_the_grid():
    # v = 2t: Euler sums 2 * t_i * dt = (N - 1) / N (the exact ODE answer would be 1).
    x0 = _noise()
    x = sample(lambda x, t: np.broadcast_to(2 * t[..., None], x.shape), x0, steps=5)
    np.testing.assert_allclose(x, x0 + 4 / 5, rtol=1e-6, atol=1e-6)


def test_context_frames_are_held_clean_with_time_one():
    x0, ctx = _noise(seed=0), _noise(n=4, seed=2)
    seen = []

    def field(x, t):
        seen.append((x[:, :3].copy(), t.copy()))
        return -x

    x = sample(field, x0, steps=6, context=ctx, context_frames=3)
    np.testing.assert_array_equal(x[:, :3], ctx[:, :3])
    np.testing.assert_allclose(x[:, 3:], (5 / 6) ** 6 * x0[:, 3:], rtol=1e-5, atol=1e-6)
    assert len(seen) == 6
    for i, (x_ctx, t) in enumerate(seen):
        np.testing.assert_array_equal(x_ctx, ctx[:, :3])
        assert (t[:, :3] == 1.0).all() and np.allclose(t[:, 3:], i / 6)


def test_context_defaults_to_its_length_and_broadcasts_over_batch():
    x0, ctx = _noise(b=3), _noise(b=1, n=2, seed=5)
    x = sample(lambda x, t: np.zeros_like(x), x0, steps=2, context=ctx)
    np.testing.assert_array_equal(x[:, :2], np.broadcast_to(ctx, (3, 2, 3)))
    np.testing.assert_array_equal(x[:, 2:], x0[:, 2:])
    with pytest.raises(ValueError):
        sample(lambda x, t: x, x0, steps=2, context=ctx, context_frames=3)
    with pytest.raises(ValueError):
        sample(lambda x, t: x, x0, steps=2, context_frames=1)


def test_progress_hook_and_cancel():
    calls = []
    sample(lambda x, t: -x, _noise(), steps=4, on_step=lambda i, n: calls.append((i, n)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]

    class Cancelled(Exception):
        pass

    evaluated = []

    def field(x, t):
        evaluated.append(1)
        return -x

    def cancel_after_two(i, n):
        if i == 2:
            raise Cancelled

    with pytest.raises(Cancelled):
        sample(field, _noise(), steps=10, on_step=cancel_after_two)
    assert len(evaluated) == 2  # no work after the cancel
