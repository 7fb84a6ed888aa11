"""The 1D mel VAE: lengths, posterior, latent normalisation, loss, presets and ONNX-friendliness."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from muvi_plugin.constants import LATENT_CHANNELS, LATENT_DOWNSAMPLE, N_MELS
from training.models.vae import DEBUG, PRESETS, DiagonalGaussian, MelVAE, VAEConfig, vae_loss


@pytest.fixture(scope="module")
def vae() -> MelVAE:
    torch.manual_seed(0)
    return MelVAE(DEBUG).eval()


@pytest.mark.parametrize("frames", [1, 7, 8, 13, 80, 321])
def test_round_trip_shapes_at_any_length(vae: MelVAE, frames: int) -> None:
    mel = torch.randn(2, N_MELS, frames)
    posterior = vae.encode(mel)
    n = math.ceil(frames / LATENT_DOWNSAMPLE)
    assert posterior.mean.shape == posterior.logvar.shape == (2, LATENT_CHANNELS, n)
    assert vae.decode(posterior.mean).shape == (2, N_MELS, LATENT_DOWNSAMPLE * n)
    recon, _ = vae(mel, generator=torch.Generator().manual_seed(0))
    assert recon.shape == mel.shape


def test_a_partial_last_latent_frame_is_padded_by_replicating_the_last_mel_frame(vae: MelVAE) -> None:
    mel = torch.randn(1, N_MELS, 13)
    padded = torch.cat([mel, mel[..., -1:].expand(-1, -1, 3)], dim=-1)
    torch.testing.assert_close(vae.encode(mel).mean, vae.encode(padded).mean)


def test_sampling_follows_the_generator_and_none_means_the_mean(vae: MelVAE) -> None:
    mel = torch.randn(2, N_MELS, 32)
    a, _ = vae(mel, generator=torch.Generator().manual_seed(1))
    b, _ = vae(mel, generator=torch.Generator().manual_seed(1))
    c, _ = vae(mel, generator=torch.Generator().manual_seed(2))
    mean_recon, posterior = vae(mel)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
    torch.testing.assert_close(mean_recon, vae.decode(posterior.mean))


def test_diagonal_gaussian_kl_and_sample_statistics() -> None:
    mean, logvar = torch.full((3, 4, 1000), 0.5), torch.full((3, 4, 1000), math.log(4.0))
    posterior = DiagonalGaussian(torch.cat([mean, logvar], dim=1))
    # KL(N(0.5, 4) || N(0, 1)) = 0.5 * (0.25 + 4 - 1 - ln 4) per element.
    expected = 0.5 * (0.25 + 4.0 - 1.0 - math.log(4.0)) * 4 * 1000
    torch.testing.assert_close(posterior.kl(), torch.full((3,), expected))
    z = posterior.sample(torch.Generator().manual_seed(0))
    assert abs(z.mean().item() - 0.5) < 0.05 and abs(z.std().item() - 2.0) < 0.05
    standard = DiagonalGaussian(torch.zeros(2, 8, 5))
    torch.testing.assert_close(standard.kl(), torch.zeros(2))


def test_latent_normalisation_round_trips_and_is_saved(vae: MelVAE, tmp_path) -> None:
    model = MelVAE(DEBUG)
    z = torch.randn(2, LATENT_CHANNELS, 6)
    torch.testing.assert_close(model.normalize(z), z)  # defaults 0 / 1
    mean, std = torch.linspace(-1, 1, LATENT_CHANNELS), torch.linspace(0.5, 2, LATENT_CHANNELS)
    model.set_latent_stats(mean, std)
    normalized = model.normalize(mean[None, :, None] + std[None, :, None] * z)
    torch.testing.assert_close(normalized, z)
    torch.testing.assert_close(model.denormalize(model.normalize(z)), z)
    torch.save(model.state_dict(), tmp_path / "vae.pt")
    reloaded = MelVAE(DEBUG)
    reloaded.load_state_dict(torch.load(tmp_path / "vae.pt", weights_only=True))
    torch.testing.assert_close(reloaded.latent_std, std)
    with pytest.raises(ValueError, match="positive"):
        model.set_latent_stats(mean, -std)
    with pytest.raises(ValueError, match="8 values"):
        model.set_latent_stats(mean[:3], std[:3])


def test_loss_is_finite_differentiable_and_weights_the_kl() -> None:
    torch.manual_seed(0)
    model = MelVAE(DEBUG)
    mel = torch.randn(2, N_MELS, 24)
    recon, posterior = model(mel, generator=torch.Generator().manual_seed(0))
    total, parts = vae_loss(recon, mel, posterior, kl_weight=1e-2)
    assert set(parts) == {"l1", "kl"}
    torch.testing.assert_close(total.detach(), parts["l1"] + 1e-2 * parts["kl"])
    torch.testing.assert_close(parts["l1"], (recon - mel).abs().mean().detach())
    torch.testing.assert_close(parts["kl"], posterior.kl().sum().detach() / mel.numel())
    total.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.encoder.conv_in.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="differ"):
        vae_loss(recon[..., :-1], mel, posterior, kl_weight=1e-2)


def test_a_few_steps_reduce_the_loss() -> None:
    torch.manual_seed(0)
    model = MelVAE(DEBUG)
    mel = torch.randn(2, N_MELS, 16)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(5):
        recon, posterior = model(mel, generator=torch.Generator().manual_seed(0))
        loss, _ = vae_loss(recon, mel, posterior, kl_weight=1e-6)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_presets() -> None:
    assert set(PRESETS) == {"debug", "demo", "small", "base", "large"}
    assert PRESETS["base"].widths == (256, 512, 1024, 2048)  # MuVi App. A: 256 x [1, 2, 4, 8]
    assert all(c.downsample == LATENT_DOWNSAMPLE for c in PRESETS.values())
    n_debug = sum(p.numel() for p in MelVAE(DEBUG).parameters())
    assert n_debug < 500_000


def test_config_round_trips_through_json_and_rejects_bad_values() -> None:
    restored = VAEConfig(**{**dataclasses.asdict(DEBUG), "channel_mult": [1, 2, 4, 8]})
    assert restored == DEBUG
    # Three levels (downsample 4, 20 latent frames/s) are a trial shape; five would straddle 10 fps frames.
    assert VAEConfig(channel_mult=(1, 2, 4)).downsample == 4
    with pytest.raises(ValueError, match="downsample"):
        VAEConfig(channel_mult=(1, 2, 4, 8, 16))
    with pytest.raises(ValueError, match="norm_groups"):
        VAEConfig(base_channels=8, norm_groups=32)
    with pytest.raises(ValueError, match="dropout"):
        VAEConfig(dropout=1.0)


def test_encoder_exports_to_onnx_with_a_dynamic_length(vae: MelVAE, tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")

    class MeanEncoder(torch.nn.Module):
        def __init__(self, model: MelVAE) -> None:
            super().__init__()
            self.model = model

        def forward(self, mel: torch.Tensor) -> torch.Tensor:
            return self.model.encode(mel).mean

    path = tmp_path / "encoder.onnx"
    torch.onnx.export(
        MeanEncoder(vae), (torch.randn(1, N_MELS, 24),), str(path), input_names=["mel"],
        output_names=["mean"], dynamic_axes={"mel": {0: "b", 2: "t"}, "mean": {0: "b", 2: "n"}},
        opset_version=17, dynamo=False,
    )  # fmt: skip
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    mel = torch.randn(2, N_MELS, 13)  # not a multiple of 8: exercises the traced padding
    (onnx_mean,) = session.run(None, {"mel": mel.numpy()})
    np.testing.assert_allclose(onnx_mean, vae.encode(mel).mean.detach().numpy(), atol=1e-4)
