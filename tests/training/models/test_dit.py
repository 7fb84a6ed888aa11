import dataclasses

import pytest
import torch

from training.flow_matching import flow_matching_loss
from training.models.dit import BASE, DEBUG, LARGE, PRESETS, SMALL, DiT, DiTConfig, parameter_count

C = DEBUG.latent_channels
D = DEBUG.width


def _dit(seed=0, config=DEBUG):
    torch.manual_seed(seed)
    model = DiT(config).eval()
    # The output projection starts at zero; give it weights so outputs depend on the inputs.
    with torch.no_grad():
        torch.nn.init.normal_(model.out_proj.weight, std=0.1)
    return model


def _inputs(b, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, n, C, generator=g), torch.rand(b, n, generator=g), torch.randn(b, n, D, generator=g)


def test_presets_and_config_round_trip():
    assert set(PRESETS) == {"debug", "demo", "small", "base", "large"}
    for config in PRESETS.values():
        assert DiTConfig(**dataclasses.asdict(config)) == config
    assert DEBUG.head_dim == 16 and DEBUG.mlp_hidden == 256


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"width": 64, "depth": 2, "heads": 5}, "divisible"),
        ({"width": 60, "depth": 2, "heads": 4}, "even"),  # head width 15
        ({"width": 64, "depth": 0, "heads": 4}, "depth"),
        ({"width": 64, "depth": 2, "heads": 4, "mlp_ratio": 0.0}, "mlp_ratio"),
    ],
)
def test_config_checks(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DiTConfig(**kwargs)


@pytest.mark.parametrize(
    "config, expected", [(SMALL, 85e6), (BASE, 150e6), (LARGE, 330e6)], ids=["small", "base", "large"]
)
def test_parameter_counts_match_the_paper(config, expected):
    # MuVi App. A, Table 6.
    assert abs(parameter_count(config) - expected) / expected < 0.10


def test_parameter_count_matches_a_real_model():
    assert parameter_count(DEBUG) == sum(p.numel() for p in DiT(DEBUG).parameters())


@pytest.mark.parametrize("n", [1, 7, 20, 31])
def test_shapes_at_several_lengths(n):
    model = _dit()
    x, t, cond = _inputs(2, n)
    c = model.condition(cond)
    assert c.shape == (2, n, D)
    v = model.velocity(x, t, c)
    assert v.shape == (2, n, C) and v.dtype == torch.float32
    torch.testing.assert_close(model(x, t, cond), v)
    assert model.condition(None, n_frames=n, batch=3).shape == (3, n, D)
    assert model(x, t, None).shape == (2, n, C)


def test_zero_initialised_output_gives_zero_velocity():
    model = DiT(DEBUG)
    x, t, cond = _inputs(2, 5)
    assert torch.count_nonzero(model(x, t, cond)) == 0


def test_unconditional_embedding_used_exactly_where_dropped():
    model = _dit()
    _, _, cond = _inputs(3, 6)
    drop = torch.tensor([True, False, True])
    c = model.condition(cond, drop=drop)
    kept = model.condition(cond)
    uncond = model.uncond.detach().expand(6, D)
    torch.testing.assert_close(c[0], uncond)
    torch.testing.assert_close(c[2], uncond)
    torch.testing.assert_close(c[1], kept[1])
    assert not torch.allclose(kept[0], uncond)
    torch.testing.assert_close(model.condition(None, n_frames=6, batch=3), uncond.expand(3, 6, D))


def test_per_frame_drop():
    model = _dit()
    _, _, cond = _inputs(2, 6)
    drop = torch.zeros(2, 6, dtype=torch.bool)
    drop[:, :2] = True  # e.g. in-context frames carry no visual condition
    c = model.condition(cond, drop=drop)
    torch.testing.assert_close(c[:, :2], model.uncond.detach().expand(2, 2, D))
    torch.testing.assert_close(c[:, 2:], model.condition(cond)[:, 2:])


def test_padded_frames_do_not_change_valid_frames():
    model = _dit()
    x, t, cond = _inputs(2, 11)
    mask = torch.ones(2, 11, dtype=torch.bool)
    mask[1, 6:] = False
    v = model(x, t, cond, mask=mask)
    x2, t2, cond2 = x.clone(), t.clone(), cond.clone()
    x2[1, 6:] += 10.0
    t2[1, 6:] = 0.123
    cond2[1, 6:] -= 5.0
    v2 = model(x2, t2, cond2, mask=mask)
    torch.testing.assert_close(v[mask], v2[mask], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(v[1, :6], model(x[1:, :6], t[1:, :6], cond[1:, :6])[0], rtol=1e-5, atol=1e-5)


def test_time_is_per_frame_and_frame_aligned():
    model = _dit()
    x, t, cond = _inputs(1, 8)
    v = model(x, t, cond)
    t2 = t.clone()
    t2[0, 3] = 1.0
    v2 = model(x, t2, cond)
    assert not torch.allclose(v[0, 3], v2[0, 3])  # the frame whose time changed moves
    # (b,) time is broadcast over the frames.
    t_item = torch.tensor([0.4])
    torch.testing.assert_close(model(x, t_item, cond), model(x, t_item.expand(1, 8), cond))


def test_longer_than_trained_lengths_work():
    model = _dit()
    x, t, cond = _inputs(1, 700)  # 70 s, longer than any training segment (30 s)
    v = model(x, t, cond)
    assert v.shape == (1, 700, C) and torch.isfinite(v).all()


def test_bf16_autocast_keeps_residual_fp32():
    model = _dit()
    x, t, cond = _inputs(2, 9)
    seen = []
    hook = model.blocks[0].register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        v = model(x, t, cond)
    hook.remove()
    assert seen == [torch.float32]
    assert v.dtype == torch.float32
    torch.testing.assert_close(v, model(x, t, cond), atol=0.05, rtol=0.05)


def test_overfits_one_batch():
    """A debug DiT learns a fixed batch: the flow-matching loss falls by at least half."""
    torch.manual_seed(0)
    model = DiT(DEBUG)
    g = torch.Generator().manual_seed(0)
    b, n = 4, 20
    phase = torch.linspace(0, 6.28, n)[None, :, None] * torch.arange(1, C + 1)[None, None, :]
    x1 = torch.sin(phase + torch.rand(b, 1, C, generator=g) * 6.28)  # smooth, distinct per item
    cond = torch.randn(b, n, D, generator=g)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
    losses = []
    for _ in range(200):
        c = model.condition(cond)
        loss = flow_matching_loss(lambda x_t, t, c=c: model.velocity(x_t, t, c), x1, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.5 * first, (first, last)


def test_velocity_path_exports_to_onnx_with_dynamic_time(tmp_path):
    """Guard for export/: the velocity path traces (dynamo=False, opset 17) with batch and time dynamic."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")

    class Velocity(torch.nn.Module):
        def __init__(self, dit):
            super().__init__()
            self.dit = dit

        def forward(self, x_t, t, c, mask):
            return self.dit.velocity(x_t, t, c, mask)

    model = _dit()
    x, t, cond = _inputs(2, 13)
    mask = torch.ones(2, 13, dtype=torch.bool)
    names = ["x_t", "t", "c", "mask"]
    path = tmp_path / "velocity.onnx"
    torch.onnx.export(
        Velocity(model),
        (x, t, cond, mask),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=names,
        output_names=["v"],
        dynamic_axes={name: {0: "b", 1: "n"} for name in [*names, "v"]},
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x, t, cond = _inputs(3, 41, seed=1)  # another batch and length than traced
    mask = torch.ones(3, 41, dtype=torch.bool)
    mask[2, 30:] = False
    feeds = {"x_t": x.numpy(), "t": t.numpy(), "c": cond.numpy(), "mask": mask.numpy()}
    (v,) = session.run(None, feeds)
    with torch.no_grad():
        expected = model.velocity(x, t, cond, mask)
    torch.testing.assert_close(torch.from_numpy(v)[mask], expected[mask], rtol=1e-4, atol=1e-5)
