import dataclasses
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from training.models import visual_encoder
from training.models.adaptor import (
    MODES,
    PRESETS,
    AdaptorConfig,
    adaptor_config_for,
    build_adaptor,
    resample_time,
)
from training.models.visual_encoder import PatchFeatures

IN_DIM, GRID, WIDTH = 24, (6, 4), 32


def _features(b: int = 2, t: int = 9, *, cls: bool = True, seed: int = 0) -> PatchFeatures:
    g = torch.Generator().manual_seed(seed)
    patches = torch.randn(b, t, *GRID, IN_DIM, generator=g)
    return PatchFeatures(patches, torch.randn(b, t, IN_DIM, generator=g) if cls else None)


def _adaptor(mode: str):
    torch.manual_seed(0)
    return build_adaptor(AdaptorConfig(in_dim=IN_DIM, grid=GRID, width=WIDTH, mode=mode))


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_gives_one_vector_per_frame(mode):
    adaptor = _adaptor(mode)
    out = adaptor(_features())
    assert out.shape == (2, 9, WIDTH)
    assert torch.isfinite(out).all()
    # Every parameter takes part (no dead weights under DDP).
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in adaptor.parameters())


@pytest.mark.parametrize("mode", ["softmax", "sigmoid"])
def test_gate_weights_sum_to_one_per_group(mode):
    adaptor = _adaptor(mode)
    weights = adaptor.gate_weights(_features())
    assert weights.shape == (2, 9, 4, 3 * 2)  # 4 groups over the 3x2 downsampled grid
    assert (weights >= 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 9, 4))
    assert not torch.allclose(weights, torch.full_like(weights, 1 / 6))  # the gate does discriminate


def test_uniform_gate_reduces_to_mean_pooling():
    gated, mean = _adaptor("softmax"), _adaptor("mean")
    mean.load_state_dict({k: v for k, v in gated.state_dict().items() if not k.startswith("gate.")})
    with torch.no_grad():
        gated.gate.weight.zero_()
        gated.gate.bias.zero_()
    features = _features()
    torch.testing.assert_close(gated(features), mean(features))


def test_cls_pooling_uses_only_the_cls_token():
    adaptor = _adaptor("cls")
    features = _features()
    other_patches = PatchFeatures(torch.zeros_like(features.patches), features.cls)
    torch.testing.assert_close(adaptor(features), adaptor(other_patches))
    torch.testing.assert_close(adaptor(features)[0, 0], adaptor.out(features.cls[0, 0]))


@pytest.mark.parametrize(("n_in", "n_out"), [(9, 9), (9, 25), (9, 4), (1, 6), (30, 1), (33, 32)])
def test_resample_time_matches_linear_interpolation(n_in, n_out):
    x = torch.randn(2, n_in, 5, generator=torch.Generator().manual_seed(1))
    want = F.interpolate(x.transpose(1, 2), size=n_out, mode="linear", align_corners=False).transpose(1, 2)
    torch.testing.assert_close(resample_time(x, n_out), want)
    torch.testing.assert_close(resample_time(x, torch.tensor(n_out)), want)


@pytest.mark.parametrize("n_out", [None, 20, 5])
def test_forward_resamples_to_the_latent_length(n_out):
    adaptor = _adaptor("softmax")
    features = _features()
    out = adaptor(features, n_out=n_out)
    assert out.shape == (2, 9 if n_out is None else n_out, WIDTH)
    per_frame = adaptor(features)
    torch.testing.assert_close(out, per_frame if n_out is None else resample_time(per_frame, n_out))
    if n_out is not None and n_out > 9:  # upsampling starts on frame 0 (clamped) and ends on the last
        torch.testing.assert_close(out[:, [0, -1]], per_frame[:, [0, -1]])


def test_adaptor_exports_to_onnx_with_dynamic_frames_and_length(tmp_path):
    adaptor = _adaptor("attention").eval()

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.adaptor = adaptor

        def forward(self, patches, cls, n_out):
            return self.adaptor(PatchFeatures(patches, cls), n_out=n_out)

    path = tmp_path / "adaptor.onnx"
    features = _features(1, 9)
    torch.onnx.export(
        Wrapper(),
        (features.patches, features.cls, torch.tensor(12)),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["patches", "cls", "n_out"],
        output_names=["condition"],
        dynamic_axes={"patches": {0: "b", 1: "t"}, "cls": {0: "b", 1: "t"}, "condition": {0: "b", 1: "n"}},
    )
    session = ort.InferenceSession(str(path))
    for b, t, n_out in [(1, 9, 12), (2, 23, 17), (1, 5, 5)]:
        features = _features(b, t, seed=t)
        feeds = {"patches": features.patches.numpy(), "cls": features.cls.numpy(), "n_out": np.array(n_out)}
        got = session.run(None, feeds)[0]
        with torch.no_grad():
            want = adaptor(features, n_out=n_out).numpy()
        assert got.shape == (b, n_out, WIDTH)
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_cls_modes_need_a_cls_token():
    with pytest.raises(ValueError, match="needs the encoder's CLS token"):
        _adaptor("attention")(_features(cls=False))
    with pytest.raises(ValueError, match="needs a CLS token"):
        adaptor_config_for(visual_encoder.BASE, width=64, mode="attention")
    assert adaptor_config_for(visual_encoder.CLIP_B16, width=64, mode="attention").needs_cls


def test_wrong_feature_shape_is_refused():
    features = _features()
    with pytest.raises(ValueError, match="expected patches"):
        _adaptor("mean")(PatchFeatures(features.patches[..., :-1], features.cls))


@pytest.mark.parametrize(
    "overrides",
    [
        dict(grid=(7, 7)),
        dict(grid=(6,)),
        dict(mode="max"),
        dict(mode="attention", heads=5),
        dict(gate_kernel=2),
    ],
)
def test_bad_config_raises(overrides):
    with pytest.raises(ValueError):
        AdaptorConfig(**{"in_dim": IN_DIM, "grid": GRID, "width": WIDTH, **overrides})


def test_presets_follow_the_dit_widths_and_encoders():
    assert {k: c.width for k, c in PRESETS.items()} == {
        "debug": 64,
        "demo": 256,
        "small": 768,
        "base": 1024,
        "large": 1280,
    }
    assert PRESETS["base"].grid == (14, 14) and PRESETS["base"].in_dim == 768
    assert PRESETS["base"].pooled_grid == (7, 7)
    assert PRESETS["debug"].in_dim == visual_encoder.DEBUG.dim and PRESETS["debug"].mode == "softmax"
    for config in PRESETS.values():
        assert AdaptorConfig(**json.loads(json.dumps(dataclasses.asdict(config)))) == config


def test_debug_encoder_and_adaptor_fit_together():
    torch.manual_seed(0)
    encoder = visual_encoder.build_visual_encoder(visual_encoder.DEBUG)
    adaptor = build_adaptor(adaptor_config_for(encoder, width=64))
    frames = torch.rand(1, 21, 3, 32, 32)
    assert adaptor(encoder(frames), n_out=21).shape == (1, 21, 64)
