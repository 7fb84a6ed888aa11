"""HiFi-GAN: exact output length, weight-norm removal, discriminator outputs, losses and presets."""

import dataclasses

import numpy as np
import pytest
import torch

from muvi_plugin.constants import HOP_LENGTH, N_MELS
from training.layers.mel import MelSpectrogram
from training.models.vocoder import (
    DEBUG,
    PRESETS,
    HiFiGANConfig,
    HiFiGANGenerator,
    MultiPeriodDiscriminator,
    MultiScaleDiscriminator,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
    mel_reconstruction_loss,
    multi_resolution_stft_loss,
)


@pytest.fixture(scope="module")
def generator() -> HiFiGANGenerator:
    torch.manual_seed(0)
    return HiFiGANGenerator(DEBUG).eval()


@pytest.mark.parametrize("frames", [1, 2, 7, 13, 80])
def test_output_is_exactly_hop_samples_per_frame(generator: HiFiGANGenerator, frames: int) -> None:
    with torch.no_grad():
        wave = generator(torch.randn(2, N_MELS, frames))
    assert wave.shape == (2, 1, frames * HOP_LENGTH)
    assert wave.abs().max() <= 1.0


def test_paper_upsampling_gives_exact_lengths_with_odd_kernel_minus_rate() -> None:
    # MuVi App. A's kernels (16, 8, 8, 4) at rates (5, 5, 4, 3): three of four have odd kernel - rate.
    config = dataclasses.replace(DEBUG, upsample_kernel_sizes=(16, 8, 8, 4))
    assert config.hop_length == HOP_LENGTH
    for up, rate in zip(HiFiGANGenerator(config).ups, config.upsample_rates, strict=True):
        assert up(torch.randn(1, up.in_channels, 11)).shape[-1] == 11 * rate


def test_remove_weight_norm_keeps_the_output(generator: HiFiGANGenerator) -> None:
    torch.manual_seed(1)
    model = HiFiGANGenerator(DEBUG).eval()
    mel = torch.randn(2, N_MELS, 9)
    with torch.no_grad():  # also checks that no_grad does not turn the weights into plain tensors
        before = model(mel)
        model.remove_weight_norm()
        after = model(mel)
    names = [name for name, _ in model.named_parameters()]
    assert not any("parametrizations" in name for name in names)
    assert "conv_pre.weight" in names and "resblocks.0.0.convs1.0.weight" in names
    torch.testing.assert_close(after, before, atol=1e-6, rtol=1e-5)


def test_generator_exports_to_onnx_with_a_dynamic_length(tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(2)
    model = HiFiGANGenerator(DEBUG).eval()
    model.remove_weight_norm()
    path = tmp_path / "vocoder.onnx"
    torch.onnx.export(
        model, (torch.randn(1, N_MELS, 8),), str(path), input_names=["mel"], output_names=["wave"],
        dynamic_axes={"mel": {0: "b", 2: "t"}, "wave": {0: "b", 2: "s"}}, opset_version=17, dynamo=False,
    )  # fmt: skip
    mel = torch.randn(2, N_MELS, 13)
    (wave,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"mel": mel.numpy()}
    )
    assert wave.shape == (2, 1, 13 * HOP_LENGTH)
    with torch.no_grad():
        np.testing.assert_allclose(wave, model(mel).numpy(), atol=1e-5)


@pytest.mark.parametrize("samples", [3_000, 3_001])
def test_discriminators_return_one_score_and_feature_list_each(samples: int) -> None:
    torch.manual_seed(3)
    wave = torch.randn(2, 1, samples).clamp(-1, 1)
    mpd_scores, mpd_fmaps = MultiPeriodDiscriminator(DEBUG)(wave)
    assert len(mpd_scores) == len(mpd_fmaps) == 5  # periods 2, 3, 5, 7, 11
    for period, score, fmaps in zip((2, 3, 5, 7, 11), mpd_scores, mpd_fmaps, strict=True):
        assert score.shape[0] == 2 and score.ndim == 2
        assert len(fmaps) == 6 and fmaps[-1].shape[1] == 1
        assert all(f.shape[-1] == period for f in fmaps)  # the folded period axis stays
    msd_scores, msd_fmaps = MultiScaleDiscriminator(DEBUG)(wave)
    assert len(msd_scores) == len(msd_fmaps) == 3
    assert all(len(fmaps) == 8 for fmaps in msd_fmaps)
    # Each scale sees the wave average-pooled by 2 again, so its scores get shorter.
    lengths = [score.shape[-1] for score in msd_scores]
    assert lengths[0] > lengths[1] > lengths[2]


def test_adversarial_losses_have_their_least_squares_optimum() -> None:
    ones, zeros = [torch.ones(2, 7), torch.ones(2, 3)], [torch.zeros(2, 7), torch.zeros(2, 3)]
    assert discriminator_loss(ones, zeros).item() == 0.0
    assert discriminator_loss(zeros, ones).item() == 4.0  # 2 discriminators x (1 + 1)
    assert generator_adversarial_loss(ones).item() == 0.0
    assert generator_adversarial_loss(zeros).item() == 2.0


def test_reconstruction_losses_are_zero_on_identical_audio() -> None:
    wave = torch.sin(torch.linspace(0, 400, 6_000))[None, None] * 0.5
    assert mel_reconstruction_loss(wave, wave, MelSpectrogram()).item() == 0.0
    assert multi_resolution_stft_loss(wave, wave).item() == pytest.approx(0.0, abs=1e-6)
    assert multi_resolution_stft_loss(wave * 0.5, wave).item() > 0.1


def test_one_gan_step_is_finite_and_reaches_every_generator_weight() -> None:
    torch.manual_seed(4)
    generator, mpd, msd = (
        HiFiGANGenerator(DEBUG),
        MultiPeriodDiscriminator(DEBUG),
        MultiScaleDiscriminator(DEBUG),
    )
    mel_fn = MelSpectrogram()
    real = (torch.rand(2, 1, 8 * HOP_LENGTH) * 2 - 1) * 0.5
    fake = generator(mel_fn(real[:, 0]))
    assert fake.shape == real.shape

    d_loss = sum(discriminator_loss(d(real)[0], d(fake.detach())[0]) for d in (mpd, msd))
    d_loss.backward()
    assert torch.isfinite(d_loss) and all(
        p.grad is not None and torch.isfinite(p.grad).all() for p in [*mpd.parameters(), *msd.parameters()]
    )

    g_loss = mel_reconstruction_loss(fake, real, mel_fn) + multi_resolution_stft_loss(fake, real)
    for d in (mpd, msd):
        real_scores, real_fmaps = d(real)
        fake_scores, fake_fmaps = d(fake)
        g_loss = (
            g_loss + generator_adversarial_loss(fake_scores) + feature_matching_loss(real_fmaps, fake_fmaps)
        )
    g_loss.backward()
    assert torch.isfinite(g_loss)
    for name, p in generator.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_presets_and_config_checks() -> None:
    assert set(PRESETS) == {"debug", "demo", "small", "base", "large"}
    assert PRESETS["base"].upsample_initial_channel == 1200  # MuVi App. A
    assert PRESETS["base"].upsample_kernel_sizes == (16, 8, 8, 4)
    assert all(c.hop_length == HOP_LENGTH for c in PRESETS.values())
    as_json = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(DEBUG).items()}
    assert HiFiGANConfig(**as_json) == DEBUG
    with pytest.raises(ValueError, match="multiply to 256"):
        HiFiGANConfig(upsample_rates=(8, 8, 2, 2))
    with pytest.raises(ValueError, match=">= their rates"):
        HiFiGANConfig(upsample_kernel_sizes=(4, 8, 8, 4))
    with pytest.raises(ValueError, match="divisible"):
        HiFiGANConfig(upsample_initial_channel=1000)
    with pytest.raises(ValueError, match="odd"):
        HiFiGANConfig(resblock_kernel_sizes=(3, 6, 11))
    with pytest.raises(ValueError, match="divisor"):
        HiFiGANConfig(discriminator_width_divisor=16)
