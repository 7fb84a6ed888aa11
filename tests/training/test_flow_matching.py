import numpy as np
import pytest
import torch

from muvi_plugin import sampler as np_sampler
from training import flow_matching as fm
from training.models.dit import DEBUG, DiT


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# --- the objective -------------------------------------------------------------------------------------


def test_interpolate_and_target():
    x0, x1 = torch.zeros(2, 3, 4), torch.ones(2, 3, 4)
    x_t = fm.interpolate(x0, x1, torch.tensor([0.25, 1.0]))
    torch.testing.assert_close(x_t[0], torch.full((3, 4), 0.25))
    torch.testing.assert_close(x_t[1], torch.ones(3, 4))
    t_frames = torch.tensor([[0.0, 0.5, 1.0], [1.0, 1.0, 0.0]])
    torch.testing.assert_close(fm.interpolate(x0, x1, t_frames), t_frames[..., None].expand(2, 3, 4))
    torch.testing.assert_close(fm.target_velocity(x0, x1), x1)


def test_sample_time_range_and_determinism():
    t = fm.sample_time(1000, generator=_gen())
    assert t.shape == (1000,) and (t >= 0).all() and (t <= 1).all()
    assert 0.45 < t.mean() < 0.55
    torch.testing.assert_close(t, fm.sample_time(1000, generator=_gen()))
    t_ln = fm.sample_time(1000, generator=_gen(), logit_normal=True)
    assert (t_ln > 0).all() and (t_ln < 1).all()
    assert t_ln.std() < t.std()  # logit-normal concentrates mid-path


def test_context_mask_respects_min_of_seconds_and_fraction():
    lengths = torch.tensor([40, 100, 300, 600])  # 4 s, 10 s, 30 s, 60 s at 10 frames/s
    mask = fm.context_mask(lengths, 600, generator=_gen(), p=1.0)
    assert mask.shape == (4, 600)
    # 33% of 4 s = 13 frames; 33% of 10 s = 33; 33% of 30 s = 99; 33% of 60 s = 198 > 14 s = 140.
    assert mask.sum(1).tolist() == [13, 33, 99, 140]
    assert mask[:, 0].all()
    for row, k in zip(mask, [13, 33, 99, 140], strict=True):
        assert row[:k].all() and not row[k:].any()  # a prefix


def test_context_mask_probability():
    lengths = torch.full((2000,), 100)
    assert not fm.context_mask(lengths, 100, generator=_gen(), p=0.0).any()
    assert fm.context_mask(lengths, 100, generator=_gen(), p=1.0)[:, 0].all()
    share = fm.context_mask(lengths, 100, generator=_gen(), p=0.8)[:, 0].float().mean()
    assert 0.76 < share < 0.84
    with pytest.raises(ValueError):
        fm.context_mask(lengths, 100, generator=_gen(), p=1.5)


def test_loss_is_zero_for_the_exact_velocity_and_skips_context_and_padding():
    g = _gen(3)
    x1 = torch.randn(3, 10, 8, generator=g)
    context = torch.zeros(3, 10, dtype=torch.bool)
    context[:, :3] = True
    valid = torch.ones(3, 10, dtype=torch.bool)
    valid[2, 7:] = False
    calls = []

    def exact(x_t, t):
        calls.append((x_t.clone(), t.clone()))
        v = (x1 - x_t) / (1 - t).clamp_min(1e-6)[..., None]  # = x1 - x0 wherever t < 1
        v = torch.where(context[..., None], torch.full_like(v, 1e6), v)  # garbage on context frames
        return torch.where(valid[..., None], v, torch.full_like(v, float("nan")))  # and on padding

    loss = fm.flow_matching_loss(exact, x1, generator=g, valid=valid, context=context)
    assert loss.dim() == 0
    assert loss.item() < 1e-6
    x_t, t = calls[0]
    torch.testing.assert_close(x_t[:, :3], x1[:, :3])  # context kept clean
    assert (t[:, :3] == 1).all()
    assert ((t[:, 3:] >= 0) & (t[:, 3:] <= 1)).all()
    assert (t[:, 3:] == t[:, 3:4]).all()  # one time per item on the noisy frames


def test_loss_of_zero_velocity_is_the_target_power():
    g = _gen(4)
    x1 = torch.zeros(64, 50, 8)
    loss = fm.flow_matching_loss(lambda x, t: torch.zeros_like(x), x1, generator=g)
    assert abs(loss.item() - 1.0) < 0.02  # E[(x1 - x0)^2] = E[x0^2] = 1


# --- the sampler ---------------------------------------------------------------------------------------


def test_time_grid_and_cfg_combine():
    torch.testing.assert_close(fm.time_grid(4), torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))
    v_u, v_c = torch.tensor([1.0, -1.0]), torch.tensor([3.0, 0.0])
    torch.testing.assert_close(fm.cfg_combine(v_u, v_c, 4.0), torch.tensor([9.0, 3.0]))
    torch.testing.assert_close(fm.cfg_combine(v_u, v_c, 1.0), v_c)
    torch.testing.assert_close(fm.euler_step(torch.ones(2), v_c, 0.5), torch.tensor([2.5, 1.0]))


@pytest.mark.parametrize("steps", [1, 3, 25])
def test_torch_sampler_on_linear_decay_field(steps):
    x0 = torch.randn(2, 9, 4, generator=_gen())
    x = fm.sample(lambda x, t: -x, x0, steps=steps)
    torch.testing.assert_close(x, (1 - 1 / steps) ** steps * x0, rtol=1e-5, atol=1e-6)


def test_torch_sampler_straight_line_and_context():
    x0, x1 = torch.randn(2, 9, 4, generator=_gen(0)), torch.randn(2, 9, 4, generator=_gen(1))
    ctx = torch.randn(2, 5, 4, generator=_gen(2))
    seen = []

    def field(x, t):
        seen.append((x[:, :4].clone(), t[:, :4].clone()))
        return (x1 - x) / (1 - t).clamp_min(1e-6)[..., None]

    x = fm.sample(field, x0, steps=7, context=ctx, context_frames=4)
    torch.testing.assert_close(x[:, 4:], x1[:, 4:], rtol=1e-5, atol=1e-5)  # Euler is exact on a line
    assert torch.equal(x[:, :4], ctx[:, :4])
    for x_ctx, t_ctx in seen:
        assert torch.equal(x_ctx, ctx[:, :4]) and (t_ctx == 1).all()


@pytest.mark.parametrize("context_frames", [0, 3])
def test_torch_and_numpy_samplers_agree(context_frames):
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((2, 11, 8)).astype(np.float32)
    ctx = rng.standard_normal((2, 11, 8)).astype(np.float32)
    w = rng.standard_normal(8).astype(np.float32)

    def np_field(x, t):
        return -0.7 * x + np.sin(3 * t)[..., None] * w + 0.1 * x[:, ::-1]  # mixes frames too

    def torch_field(x, t):
        return -0.7 * x + torch.sin(3 * t)[..., None] * torch.from_numpy(w) + 0.1 * x.flip(1)

    kwargs = {"steps": 25, "context_frames": context_frames}
    out_np = np_sampler.sample(np_field, noise, context=ctx, **kwargs)
    out_torch = fm.sample(torch_field, torch.from_numpy(noise), context=torch.from_numpy(ctx), **kwargs)
    np.testing.assert_array_equal(np_sampler.time_grid(25), fm.time_grid(25).numpy())
    np.testing.assert_allclose(out_torch.numpy(), out_np, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out_np[:, :context_frames], ctx[:, :context_frames])


def test_guided_velocity_batches_cond_and_uncond_in_one_call():
    torch.manual_seed(0)
    model = DiT(DEBUG).eval()
    with torch.no_grad():
        torch.nn.init.normal_(model.out_proj.weight, std=0.1)
    g = _gen(5)
    b, n = 2, 6
    cond = torch.randn(b, n, DEBUG.width, generator=g)
    c_cond, c_uncond = model.condition(cond), model.condition(None, n_frames=n, batch=b)
    batches = []
    real_velocity = model.velocity

    def counting_velocity(x_t, t, c, mask=None):
        batches.append(x_t.shape[0])
        return real_velocity(x_t, t, c, mask)

    model.velocity = counting_velocity  # velocity is not forward, so count its calls by wrapping it
    fn = fm.guided_velocity(model, c_cond, c_uncond, 4.0)
    x = torch.randn(b, n, DEBUG.latent_channels, generator=g)
    t = torch.full((b, n), 0.3)
    with torch.no_grad():
        v = fn(x, t)
        expected = fm.cfg_combine(real_velocity(x, t, c_uncond), real_velocity(x, t, c_cond), 4.0)
    assert batches == [2 * b]
    torch.testing.assert_close(v, expected, rtol=1e-5, atol=1e-5)
    batches.clear()
    fm.sample(fn, x, steps=3)
    assert batches == [2 * b] * 3
