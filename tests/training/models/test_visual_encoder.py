import dataclasses
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from safetensors.torch import save_file
from transformers import CLIPVisionConfig, CLIPVisionModel, VideoMAEConfig, VideoMAEModel

from training.models.visual_encoder import (
    DEBUG,
    PRESETS,
    VisualEncoderConfig,
    build_visual_encoder,
    clip_starts,
    split_into_clips,
    stitch_clips,
)

ODD_LENGTHS = [1, 7, 16, 17, 31, 33, 50]


def _tiny_videomae_config(**overrides) -> VideoMAEConfig:
    values = dict(
        image_size=32,
        patch_size=8,
        num_frames=4,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        layer_norm_eps=1e-6,
    )
    return VideoMAEConfig(**{**values, **overrides})


def _encoder_config(kind: str, checkpoint, **overrides) -> VisualEncoderConfig:
    values = dict(kind=kind, checkpoint=str(checkpoint), image_size=32, patch_size=8, dim=32, heads=2)
    return VisualEncoderConfig(**{**values, **overrides})


def _to_original_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers VideoMAEModel names -> the original VideoMAE / VideoMAE V2 names."""
    names = [
        ("layernorm_before", "norm1"),
        ("layernorm_after", "norm2"),
        ("attention.output.dense", "attn.proj"),
        ("intermediate.dense", "mlp.fc1"),
        ("output.dense", "mlp.fc2"),
    ]
    out = {}
    for key, value in state.items():
        leaf = key.rsplit(".", 1)[-1]
        if key.startswith("embeddings.patch_embeddings.projection."):
            out[f"patch_embed.proj.{leaf}"] = value
        elif key.startswith("layernorm."):
            out[f"norm.{leaf}"] = value
        else:
            _, _, index, rest = key.split(".", 3)
            prefix = f"blocks.{index}."
            if rest == "attention.attention.query.weight":
                qkv = [state[key.replace("query", part)] for part in ("query", "key", "value")]
                out[prefix + "attn.qkv.weight"] = torch.cat(qkv)
            elif rest == "attention.attention.query.bias":
                out[prefix + "attn.q_bias"] = value
            elif rest == "attention.attention.value.bias":
                out[prefix + "attn.v_bias"] = value
            elif not rest.startswith("attention.attention."):
                old = next(old for old, _ in names if rest.startswith(old))
                out[prefix + dict(names)[old] + rest[len(old) :]] = value
    return out


def _frames(b: int, t: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, t, 3, size, size, generator=torch.Generator().manual_seed(seed))


# --- MuVi App. C clip cutting and stitching ------------------------------------------------------------


def test_clip_starts_cover_remainder_with_last_frames():
    assert clip_starts(1, 16) == [0]
    assert clip_starts(16, 16) == [0]
    assert clip_starts(17, 16) == [0, 1]
    assert clip_starts(32, 16) == [0, 16]
    assert clip_starts(33, 16) == [0, 16, 17]
    assert clip_starts(50, 16) == [0, 16, 32, 34]


@pytest.mark.parametrize("t", ODD_LENGTHS)
def test_split_and_stitch_keep_every_frame_from_the_right_clip(t):
    b, clip = 2, 16
    frame_id = torch.arange(t, dtype=torch.float64)
    frames = (torch.arange(b, dtype=torch.float64)[:, None] * 1000 + frame_id)[..., None]  # (b, t, 1)
    clips = split_into_clips(frames, clip)
    k = len(clip_starts(t, clip))
    assert clips.shape == (b * k, clip, 1)
    last = clips[k - 1, :, 0]  # video 0's last clip
    if t >= clip:  # the remainder re-uses the last `clip` real frames, not padding
        assert torch.equal(last, torch.arange(t - clip, t, dtype=torch.float64))
    else:  # a short video repeats its last frame
        assert torch.equal(last, torch.arange(clip, dtype=torch.float64).clamp(max=t - 1))

    # Tag every clip row so the stitched output says which clip each frame came from.
    row = torch.arange(b * k, dtype=torch.float64)[:, None, None]
    stitched = stitch_clips(clips + row * 1e6, batch=b, t=t, clip=clip)
    assert stitched.shape == (b, t, 1)
    source_row, value = (stitched / 1e6).floor(), stitched % 1e6
    assert torch.equal(value, frames)
    n_full = t // clip if t > clip else 0
    for j in range(t):
        expected = j // clip if j < n_full * clip else k - 1  # the tail comes from the last clip only
        assert torch.equal(source_row[:, j, 0], torch.arange(b, dtype=torch.float64) * k + expected)


def test_stitch_rejects_a_wrong_clip_count():
    with pytest.raises(ValueError, match="clip features"):
        stitch_clips(torch.zeros(3, 16, 4), batch=2, t=33, clip=16)


# --- scratch encoder ------------------------------------------------------------------------------------


@pytest.mark.parametrize("t", [1, 17, 33])
def test_scratch_encoder_gives_one_grid_per_frame(t):
    torch.manual_seed(0)
    encoder = build_visual_encoder(DEBUG)
    out = encoder(_frames(2, t))
    assert out.patches.shape == (2, t, *DEBUG.grid, DEBUG.dim)
    assert out.cls is None
    assert torch.isfinite(out.patches).all()


def test_scratch_encoder_is_trainable():
    torch.manual_seed(0)
    encoder = build_visual_encoder(DEBUG)
    assert encoder.trainable and all(p.requires_grad for p in encoder.parameters())
    encoder.train()
    assert encoder.training
    encoder(_frames(1, 5)).patches.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.parameters())


def test_scratch_encode_clips_exports_to_onnx_with_dynamic_clip_count(tmp_path):
    torch.manual_seed(0)
    encoder = build_visual_encoder(DEBUG).eval()
    path = tmp_path / "encoder.onnx"

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder

        def forward(self, clips):
            return self.encoder.encode_clips(clips).patches

    torch.onnx.export(
        Wrapper(),
        (_frames(2, 16),),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["clips"],
        output_names=["patches"],
        dynamic_axes={"clips": {0: "k"}, "patches": {0: "k"}},
    )
    clips = _frames(3, 16, seed=1)
    got = ort.InferenceSession(str(path)).run(None, {"clips": clips.numpy()})[0]
    np.testing.assert_allclose(got, encoder.encode_clips(clips).patches.detach().numpy(), atol=1e-5)


# --- pre-trained encoders loaded through the real loaders --------------------------------------------


def test_videomae_directory_loads_frozen_and_repeats_tubelet_tokens(tmp_path):
    torch.manual_seed(0)
    model = VideoMAEModel(_tiny_videomae_config()).eval()
    model.save_pretrained(tmp_path / "videomae")
    encoder = build_visual_encoder(_encoder_config("videomae", tmp_path / "videomae", clip_frames=4))
    assert not encoder.trainable and not any(p.requires_grad for p in encoder.parameters())
    encoder.train()
    assert not encoder.training and not encoder.model.training

    frames = _frames(2, 7)
    out = encoder(frames)
    assert out.patches.shape == (2, 7, 4, 4, 32) and out.cls is None
    # Frames 0 and 1 share a tubelet token; frames 1 and 2 do not.
    assert torch.equal(out.patches[:, 0], out.patches[:, 1])
    assert not torch.allclose(out.patches[:, 1], out.patches[:, 2])
    # The first clip's features are the model's own on the normalised clip.
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 1, 3, 1, 1)
    with torch.no_grad():
        hidden = model(pixel_values=(frames[:1, :4] - mean) / std).last_hidden_state
    torch.testing.assert_close(out.patches[:1, 0], hidden.reshape(1, 2, 4, 4, 32)[:, 0])


@pytest.mark.parametrize(("suffix", "mean_pooling"), [(".pth", False), (".safetensors", True)])
def test_videomae_v2_state_dict_round_trip(tmp_path, suffix, mean_pooling):
    torch.manual_seed(0)
    model = VideoMAEModel(_tiny_videomae_config(use_mean_pooling=mean_pooling)).eval()
    state = _to_original_layout(model.state_dict())
    assert "blocks.0.attn.qkv.weight" in state and ("norm.weight" in state) != mean_pooling
    pos = torch.randn(1, 2 * 4 * 4, 32)  # learned positions replace the sin-cos table
    model.embeddings.position_embeddings = pos
    state["pos_embed"] = pos
    state["fc_norm.weight"], state["head.weight"] = torch.ones(32), torch.zeros(5, 32)  # ignored
    path = tmp_path / f"vit_b_k710{suffix}"
    if suffix == ".pth":
        torch.save({"module": {f"module.{k}": v for k, v in state.items()}}, path)
    else:
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))

    encoder = build_visual_encoder(_encoder_config("videomae_v2", path, clip_frames=4))
    clips = _frames(3, 4)
    with torch.no_grad():
        got = encoder.encode_clips(clips).patches
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 1, 3, 1, 1)
        want = model(pixel_values=(clips - mean) / std).last_hidden_state.reshape(3, 2, 1, 4, 4, 32)
    torch.testing.assert_close(got, want.expand(-1, -1, 2, -1, -1, -1).reshape(3, 4, 4, 4, 32))
    assert not any(p.requires_grad for p in encoder.parameters())


def test_clip_encoder_gives_cls_and_patches_per_frame(tmp_path):
    torch.manual_seed(0)
    config = CLIPVisionConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
    )
    model = CLIPVisionModel(config).eval()
    model.save_pretrained(tmp_path / "clip")
    encoder = build_visual_encoder(_encoder_config("clip", tmp_path / "clip"))
    assert encoder.has_cls and not any(p.requires_grad for p in encoder.parameters())

    frames = _frames(1, 17)
    out = encoder(frames)
    assert out.patches.shape == (1, 17, 4, 4, 32) and out.cls.shape == (1, 17, 32)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    with torch.no_grad():
        hidden = model(pixel_values=(frames[0, -1:] - mean) / std).last_hidden_state  # the tail frame alone
    torch.testing.assert_close(out.cls[0, -1], hidden[0, 0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.patches[0, -1], hidden[0, 1:].reshape(4, 4, 32), atol=1e-5, rtol=1e-5)


# --- errors and configs ---------------------------------------------------------------------------------


def test_missing_checkpoint_path_is_named(tmp_path):
    missing = tmp_path / "nowhere" / "videomae_v2.pth"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        build_visual_encoder(_encoder_config("videomae_v2", missing))
    with pytest.raises(ValueError, match="needs a local checkpoint"):
        build_visual_encoder(PRESETS["base"])


def test_checkpoint_that_does_not_fit_the_config_is_refused(tmp_path):
    VideoMAEModel(_tiny_videomae_config()).save_pretrained(tmp_path / "videomae")
    with pytest.raises(ValueError, match="config asks for"):
        build_visual_encoder(_encoder_config("videomae", tmp_path / "videomae", clip_frames=4, dim=64))


def test_wrong_frame_size_is_refused():
    encoder = build_visual_encoder(DEBUG)
    with pytest.raises(ValueError, match="expected clips"):
        encoder(_frames(1, 4, size=48))


@pytest.mark.parametrize(
    "overrides",
    [
        dict(kind="videomae3"),
        dict(image_size=30),
        dict(kind="videomae", clip_frames=15),
        dict(patch_size=6, image_size=36),
    ],
)
def test_bad_config_raises(overrides):
    with pytest.raises(ValueError):
        VisualEncoderConfig(**{"kind": "scratch", **overrides})


def test_configs_survive_a_json_round_trip():
    assert set(PRESETS) == {"debug", "demo", "small", "base", "large"}
    custom = dataclasses.replace(DEBUG, mean=(0.1, 0.2, 0.3), std=(0.4, 0.5, 0.6))
    for config in [*PRESETS.values(), custom]:
        assert VisualEncoderConfig(**json.loads(json.dumps(dataclasses.asdict(config)))) == config
    assert PRESETS["base"].kind == "videomae_v2" and PRESETS["base"].grid == (14, 14)


def test_fused_qkv_bias_loads_exactly(tmp_path):
    # timm-style checkpoints fuse the biases; the key bias cannot change attention, so it is dropped.
    torch.manual_seed(0)
    model = VideoMAEModel(_tiny_videomae_config()).eval()
    state = _to_original_layout(model.state_dict())
    for i in range(2):
        q, v = state.pop(f"blocks.{i}.attn.q_bias"), state.pop(f"blocks.{i}.attn.v_bias")
        state[f"blocks.{i}.attn.qkv.bias"] = torch.cat([q, torch.randn(32), v])
    torch.save(state, tmp_path / "timm.pth")
    encoder = build_visual_encoder(_encoder_config("videomae_v2", tmp_path / "timm.pth", clip_frames=4))
    clips = _frames(2, 4)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 1, 3, 1, 1)
    with torch.no_grad():
        want = model(pixel_values=(clips - mean) / std).last_hidden_state.reshape(2, 2, 4, 4, 32)
        got = encoder.encode_clips(clips).patches[:, ::2]
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_padded_batch_is_cut_by_each_videos_own_length(tmp_path):
    torch.manual_seed(0)
    VideoMAEModel(_tiny_videomae_config()).save_pretrained(tmp_path / "videomae")
    encoder = build_visual_encoder(_encoder_config("videomae", tmp_path / "videomae", clip_frames=4))
    long, short = _frames(1, 11, seed=1), _frames(1, 6, seed=2)
    batch = torch.cat([long, torch.cat([short, torch.zeros(1, 5, 3, 32, 32)], dim=1)])  # zero-padded
    with torch.no_grad():
        out = encoder(batch, lengths=torch.tensor([11, 6]))
        alone = encoder(short)
    assert out.patches.shape == (2, 11, 4, 4, 32)
    # The short video's tail comes from its own last 4 real frames, not from the padding.
    torch.testing.assert_close(out.patches[1, :6], alone.patches[0])
    torch.testing.assert_close(out.patches[0], encoder(long).patches[0])
    assert (out.patches[1, 6:] == 0).all()
    with pytest.raises(ValueError, match="lengths"):
        encoder(batch, lengths=torch.tensor([12, 6]))
