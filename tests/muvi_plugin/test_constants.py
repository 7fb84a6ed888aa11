from muvi_plugin import constants as k


def test_derived_rates_follow_the_paper() -> None:
    # MuVi Sec. 4.1: 24 kHz, hop 300 -> 80 mel frames/s; VAE x8 -> 10 latent frames/s = video FPS.
    assert k.MEL_RATE == 80
    assert k.LATENT_RATE == 10 == k.VIDEO_FPS
    assert k.SAMPLES_PER_LATENT * k.LATENT_RATE == k.SAMPLE_RATE
