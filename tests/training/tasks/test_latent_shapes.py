"""Latent shapes other than 8 x 10/s: the VAE trains them; the DiT stages take 10/s only."""

from __future__ import annotations

import pytest

from tests.training.tasks.test_stages import media, run_stage  # noqa: F401 (media is a fixture)
from training import checkpoint as ckpt
from training.tasks.base import load_part


@pytest.mark.slow
def test_a_wider_finer_latent_trains_and_the_dit_stages_refuse_a_finer_one(media, tmp_path):  # noqa: F811
    last = run_stage("vae", media, tmp_path / "vae", latent_channels=12, latent_downsample=4)
    vae = load_part("vae", ckpt.load_checkpoint(last)["models"]["vae"])
    assert vae.config.latent_channels == 12 and vae.config.downsample == 4
    # Latent statistics are kept per channel, for the wider latent too.
    assert vae.latent_mean.shape == (12,)
    with pytest.raises(ValueError, match="10 latent frames per second"):
        run_stage("dit-pretrain", media, tmp_path / "dit", init=(str(last),))


@pytest.mark.slow
def test_the_dit_takes_its_latent_width_from_the_trained_vae(media, tmp_path):  # noqa: F811
    vae = run_stage("vae", media, tmp_path / "vae", latent_channels=12)
    dit = run_stage("dit-pretrain", media, tmp_path / "dit", init=(str(vae),))
    assert ckpt.load_checkpoint(dit)["models"]["dit"]["config"]["latent_channels"] == 12


def test_a_latent_downsample_that_is_not_a_power_of_two_is_refused(media, tmp_path):  # noqa: F811
    with pytest.raises(ValueError, match="latent-downsample"):
        run_stage("vae", media, tmp_path / "vae", latent_downsample=3)
