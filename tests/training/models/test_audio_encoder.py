import dataclasses
import json

import pytest
import torch
from safetensors.torch import save_file

from training.layers.vit import VisionTransformer
from training.models.audio_encoder import (
    DEBUG,
    PRESETS,
    AudioEncoder,
    AudioEncoderConfig,
    KaldiFbank,
    build_audio_encoder,
    kaldi_mel_banks,
)

DURATIONS = [1.0, 4.0, 10.24, 13.7, 25.0]
TINY_AUDIOMAE = dict(kind="audiomae", out_dim=16, dim=32, depth=1, heads=2)


def _waveform(b: int, seconds: float, *, rate: int = 24_000, seed: int = 0) -> torch.Tensor:
    return 0.1 * torch.randn(b, round(seconds * rate), generator=torch.Generator().manual_seed(seed))


def _tiny_vit(final_norm: bool = True) -> VisionTransformer:
    torch.manual_seed(0)
    return VisionTransformer(
        input_size=(1024, 128), in_channels=1, patch_size=16, dim=32, depth=1, heads=2, final_norm=final_norm
    ).eval()


def _save_audiomae(vit: VisionTransformer, path, *, fine_tuned: bool) -> None:
    """Write `vit` as an official AudioMAE checkpoint would hold it, extras included."""
    state = dict(vit.state_dict())
    if fine_tuned:
        state |= {
            "fc_norm.weight": torch.ones(32),
            "fc_norm.bias": torch.zeros(32),
            "head.weight": torch.zeros(527, 32),
        }
        save_file(state, str(path))
    else:
        state |= {"decoder_embed.weight": torch.zeros(16, 32), "mask_token": torch.zeros(1, 1, 16)}
        torch.save({"model": {f"module.{k}": v for k, v in state.items()}, "epoch": 32}, path)


# --- front end ------------------------------------------------------------------------------------------


def test_fbank_frames_and_tone_band():
    config = DEBUG
    fbank = KaldiFbank(config)
    t = torch.arange(24_000) / 24_000
    tone = 0.5 * torch.sin(2 * torch.pi * 1000.0 * t)[None]
    out = fbank(tone)
    assert out.shape == (1, 100, 128)  # 10 ms hop: 100 centred frames per second
    centres = kaldi_mel_banks(config).argmax(dim=0).float() * 24_000 / config.n_fft
    assert abs(centres[out[0, 50].argmax()] - 1000.0) < 40.0
    silence = fbank(torch.zeros(1, 2400))
    torch.testing.assert_close(
        silence, torch.full_like(silence, torch.log(torch.tensor(1.1920929e-07)).item())
    )


def test_fbank_energy_matches_the_16khz_reference():
    # A tone has the same total mel energy at 24 kHz as Kaldi measures at 16 kHz (power_scale).
    totals = []
    for rate in (24_000, 16_000):
        t = torch.arange(rate) / rate
        tone = 0.5 * torch.sin(2 * torch.pi * 1000.0 * t)[None]
        out = KaldiFbank(AudioEncoderConfig(sample_rate=rate, preemphasis=0.0))(tone)
        totals.append(torch.logsumexp(out[0, 50], dim=0))
    torch.testing.assert_close(totals[0], totals[1], atol=0.01, rtol=0)


# --- scratch backbone -----------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", DURATIONS)
def test_scratch_encoder_gives_one_vector_per_video_frame(seconds):
    torch.manual_seed(0)
    encoder = build_audio_encoder(DEBUG)
    n_frames = round(seconds * 10)
    out = encoder(_waveform(2, seconds), n_frames=n_frames)
    assert out.shape == (2, n_frames, DEBUG.out_dim)
    assert torch.isfinite(out).all()


def test_scratch_encoder_trains_end_to_end():
    torch.manual_seed(0)
    encoder = build_audio_encoder(DEBUG).train()
    encoder(_waveform(1, 2.0), n_frames=20).square().mean().backward()
    assert all(p.grad is not None for p in encoder.parameters())


# --- AudioMAE backbone ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fine_tuned", [False, True])
def test_audiomae_state_dict_round_trip(tmp_path, fine_tuned):
    vit = _tiny_vit(final_norm=not fine_tuned)
    path = tmp_path / ("finetuned.safetensors" if fine_tuned else "pretrained.pth")
    _save_audiomae(vit, path, fine_tuned=fine_tuned)
    encoder = build_audio_encoder(AudioEncoderConfig(**TINY_AUDIOMAE, checkpoint=str(path)))
    assert isinstance(encoder.backbone.norm, torch.nn.Identity) == fine_tuned
    x = torch.randn(2, 1, 1024, 128, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(encoder.backbone(x), vit(x))


@pytest.mark.parametrize("seconds", DURATIONS)
def test_audiomae_encoder_shapes_for_any_duration(tmp_path, seconds):
    path = tmp_path / "pretrained.pth"
    _save_audiomae(_tiny_vit(), path, fine_tuned=False)
    encoder = build_audio_encoder(AudioEncoderConfig(**TINY_AUDIOMAE, checkpoint=str(path)))
    waveform = _waveform(1, seconds)
    assert encoder.features(waveform).shape == (1, waveform.shape[1] // 240, 32)
    out = encoder(waveform, n_frames=round(seconds * 10))
    assert out.shape == (1, round(seconds * 10), 16)
    assert torch.isfinite(out).all()


class _WindowIdBackbone(torch.nn.Module):
    """Stub ViT whose every token holds the index of the window (batch row) it came from."""

    grid = (64, 8)

    def forward(self, x):
        rows = torch.arange(x.shape[0], dtype=x.dtype)
        return rows[:, None, None].expand(-1, 1 + 64 * 8, 32)


def test_audiomae_windows_are_stitched_with_the_last_one_covering_the_tail():
    config = AudioEncoderConfig(**TINY_AUDIOMAE)
    encoder = AudioEncoder(config, _WindowIdBackbone())
    feats = encoder.features(_waveform(2, 13.7))  # 1370 frames: window 0 = [0, 1024), window 1 = [346, 1370)
    assert feats.shape == (2, 1370, 32)
    assert (feats[0, :1024] == 0).all() and (feats[0, 1024:] == 1).all()
    assert (feats[1, :1024] == 2).all() and (feats[1, 1024:] == 3).all()
    short = encoder.features(_waveform(1, 4.0))  # padded to one window with silence, then cropped
    assert short.shape == (1, 400, 32) and (short == 0).all()


def test_audiomae_backbone_is_frozen_and_head_trains(tmp_path):
    path = tmp_path / "pretrained.pth"
    _save_audiomae(_tiny_vit(), path, fine_tuned=False)
    encoder = build_audio_encoder(AudioEncoderConfig(**TINY_AUDIOMAE, checkpoint=str(path)))
    encoder.train()
    assert encoder.training and encoder.head.training and not encoder.backbone.training
    assert not any(p.requires_grad for p in encoder.backbone.parameters())
    assert all(p.requires_grad for p in encoder.head.parameters())
    encoder(_waveform(1, 1.0), n_frames=10).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.head.parameters())


# --- errors and configs ---------------------------------------------------------------------------------


def test_missing_or_unset_checkpoint_is_refused(tmp_path):
    missing = tmp_path / "audiomae" / "pretrained.pth"
    with pytest.raises(FileNotFoundError, match="audiomae"):
        build_audio_encoder(AudioEncoderConfig(**TINY_AUDIOMAE, checkpoint=str(missing)))
    with pytest.raises(ValueError, match="needs a local checkpoint"):
        build_audio_encoder(PRESETS["base"])


def test_checkpoint_of_another_size_is_refused(tmp_path):
    path = tmp_path / "pretrained.pth"
    _save_audiomae(_tiny_vit(), path, fine_tuned=False)
    with pytest.raises(ValueError, match="cannot load AudioMAE weights"):
        build_audio_encoder(AudioEncoderConfig(**{**TINY_AUDIOMAE, "depth": 2}, checkpoint=str(path)))


def test_bad_inputs_are_refused():
    encoder = build_audio_encoder(DEBUG)
    with pytest.raises(ValueError, match="waveform"):
        encoder(torch.zeros(1, 1, 2400), n_frames=1)
    with pytest.raises(ValueError, match="shorter than one fbank hop"):
        encoder(torch.zeros(1, 100), n_frames=1)


@pytest.mark.parametrize(
    "overrides",
    [dict(kind="panns"), dict(hop_ms=10.01), dict(f_max=13_000.0), dict(kind="audiomae", window_frames=1000)],
)
def test_bad_config_raises(overrides):
    with pytest.raises(ValueError):
        AudioEncoderConfig(**overrides)


def test_presets():
    assert set(PRESETS) == {"debug", "demo", "small", "base", "large"}
    base = PRESETS["base"]
    assert (base.kind, base.dim, base.depth, base.window_frames, base.out_dim) == (
        "audiomae",
        768,
        12,
        1024,
        1024,
    )
    assert (base.hop_samples, base.win_samples, base.n_fft) == (240, 600, 1024)
    for config in PRESETS.values():
        assert AudioEncoderConfig(**json.loads(json.dumps(dataclasses.asdict(config)))) == config
