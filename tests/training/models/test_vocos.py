"""The Vocos-style vocoder: exact inverse STFT, alignment with the mel, registry, ONNX export."""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from export import graphs as g
from export.onnx_io import export_graph
from export.verify import FP32_TOLERANCE, compare_graph
from muvi_plugin.constants import HOP_LENGTH
from training import presets
from training.models.vocoder import HiFiGANGenerator, discriminator_config
from training.models.vocos import DEBUG, DEBUG_GL, InverseSTFT, VocosConfig, VocosGenerator, synthesis_window
from training.tasks.base import build_part, load_part, part_entry


def _stft(wave: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """The analysis the inverse undoes: the mel's framing (reflect pad (n_fft - hop) / 2, no centring)."""
    pad = (n_fft - hop) // 2
    x = F.pad(wave[:, None], (pad, pad), mode="reflect")[:, 0]
    window = torch.from_numpy(synthesis_window(n_fft)).float()
    spec = torch.stft(x, n_fft, hop, n_fft, window, center=False, return_complex=True)
    return torch.cat([spec.real, spec.imag], dim=1)


@pytest.mark.parametrize("seconds", [0.5, 1.0, 2.3])
def test_inverse_stft_undoes_the_analysis_sample_for_sample(seconds):
    torch.manual_seed(0)
    wave = torch.randn(2, round(seconds * 24000) // HOP_LENGTH * HOP_LENGTH)
    spec = _stft(wave, 1200, HOP_LENGTH)
    assert spec.shape[-1] == wave.shape[-1] // HOP_LENGTH  # one STFT frame per mel frame
    out = InverseSTFT(1200, HOP_LENGTH)(spec)
    assert out.shape == wave.shape
    assert torch.allclose(out, wave, atol=1e-4)


def test_a_single_frame_lands_centred_on_its_hop():
    # A spectrum that is zero but for frame k: its energy must sit around samples [k*hop, (k+1)*hop).
    frames, k = 9, 4
    spec = torch.zeros(1, 2 * 601, frames)
    spec[0, :601, k] = 1.0  # an impulse-like frame (flat real spectrum)
    out = InverseSTFT(1200, HOP_LENGTH)(spec)[0].abs()
    centre = float((out * torch.arange(out.numel())).sum() / out.sum())
    assert abs(centre - (k * HOP_LENGTH + HOP_LENGTH / 2)) < 5


def test_a_pure_tone_comes_back_at_its_pitch_without_a_frame_rate_comb():
    # The fixed synthesis cannot add partials at multiples of 80 Hz: a 441 Hz tone through analysis and
    # synthesis keeps its energy at 441 Hz.
    sr, f0 = 24000, 441.0
    t = np.arange(sr * 2) / sr
    wave = torch.from_numpy(np.sin(2 * np.pi * f0 * t).astype(np.float32))[None]
    out = InverseSTFT(1200, HOP_LENGTH)(_stft(wave, 1200, HOP_LENGTH))[0].numpy()
    spectrum = np.abs(np.fft.rfft(out * np.hanning(out.size)))
    freqs = np.fft.rfftfreq(out.size, 1 / sr)
    assert abs(freqs[spectrum.argmax()] - f0) < 1.0
    combs = np.isin(np.round(freqs), np.arange(80, 4000, 80)) & (spectrum > spectrum.max() * 1e-3)
    assert not combs.any()


@pytest.mark.parametrize("frames", [1, 7, 80, 131])
def test_generator_gives_exactly_frames_times_hop_samples(frames):
    model = VocosGenerator(DEBUG).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 160, frames))
    assert out.shape == (2, 1, frames * HOP_LENGTH)
    assert torch.isfinite(out).all()


def test_the_registry_tells_the_two_families_apart():
    vocos = build_part("vocoder", DEBUG)
    hifigan = build_part("vocoder", presets.vocoder_config("debug", "hifigan"))
    assert isinstance(vocos, VocosGenerator) and isinstance(hifigan, HiFiGANGenerator)
    # A checkpoint stores asdict(config); the kind field brings the right class back.
    back = load_part("vocoder", part_entry(vocos))
    assert isinstance(back, VocosGenerator) and back.config == DEBUG
    for a, b in zip(vocos.state_dict().values(), back.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert isinstance(load_part("vocoder", part_entry(hifigan)), HiFiGANGenerator)
    assert asdict(DEBUG)["kind"] == "vocos"
    # Its adversarial phase is judged by HiFi-GAN's MPD/MSD at the configured width.
    assert discriminator_config(DEBUG).discriminator_width_divisor == DEBUG.discriminator_width_divisor


def test_demo_preset_defaults_to_vocos_and_paper_presets_to_hifigan():
    assert isinstance(presets.vocoder_config("demo"), VocosConfig)
    for preset in ("small", "base", "large"):
        assert not isinstance(presets.vocoder_config(preset), VocosConfig)
    with pytest.raises(ValueError, match="no Vocos size"):
        presets.vocoder_config("base", "vocos")
    with pytest.raises(ValueError, match="kind"):
        VocosConfig(kind="hifigan")
    with pytest.raises(ValueError, match="n_fft"):
        VocosConfig(n_fft=301)


@pytest.mark.parametrize("config", [DEBUG, DEBUG_GL], ids=["learned-phase", "griffin-lim-phase"])
def test_exports_to_onnx_and_matches_pytorch_on_unseen_lengths(tmp_path, config):
    model = VocosGenerator(config).eval()
    graph = g._vocoder(model, torch.Generator().manual_seed(0))
    path = export_graph(graph, tmp_path / "vocoder.onnx")
    report = compare_graph(graph, path, tolerance=FP32_TOLERANCE)
    assert report.passed, report


def test_griffin_lim_turns_a_frame_periodic_phase_into_a_tone_without_the_frame_rate_comb():
    # A 441 Hz tone's magnitudes with the same phase in every frame (what an under-trained phase head
    # emits): overlap-added as is, the signal repeats every hop, all its energy on multiples of 80 Hz;
    # the in-graph fast Griffin-Lim makes the phase consistent again.
    from training.models.vocos import ForwardSTFT, griffin_lim

    sr, f0 = 24000, 441.0
    t = np.arange(sr * 2) / sr
    wave = torch.from_numpy(np.sin(2 * np.pi * f0 * t).astype(np.float32))[None]
    istft, stft = InverseSTFT(1200, HOP_LENGTH), ForwardSTFT(1200, HOP_LENGTH)
    spec = stft(wave)
    # Zero-padded ends: the frames past the first and before the last two equal the mel's framing.
    assert torch.allclose(spec[..., 2:-2], _stft(wave, 1200, HOP_LENGTH)[..., 2:-2], atol=1e-3)
    real, imag = spec.chunk(2, dim=1)
    magnitude = torch.sqrt(real**2 + imag**2)
    phase = torch.rand(magnitude.shape[:2], generator=torch.Generator().manual_seed(0))[..., None] * 2 * np.pi
    phase = phase.expand_as(magnitude)
    scrambled = torch.cat([magnitude * torch.cos(phase), magnitude * torch.sin(phase)], dim=1)

    def comb(y: torch.Tensor) -> float:
        power = np.abs(np.fft.rfft(y[0].numpy() * np.hanning(y.shape[-1]))) ** 2
        freqs = np.fft.rfftfreq(y.shape[-1], 1 / sr)
        near = np.abs(freqs - 80 * np.round(freqs / 80)) <= 2
        band = (freqs > 40) & (freqs < 4000)
        return float(power[band & near].sum() / power[band].sum())

    raw = istft(scrambled)
    refined = istft(griffin_lim(scrambled, istft, stft, 32))
    assert comb(raw) > 0.5
    assert comb(refined) < 0.1


def test_phase_refinement_runs_at_inference_only():
    model = VocosGenerator(DEBUG)
    mel = torch.randn(1, 160, 20)
    with torch.no_grad():
        trained = model.train()(mel)
        raw = model.istft(model.spectrum(mel)).unsqueeze(1)
        refined = model.eval()(mel)
    assert torch.equal(trained, raw)
    assert not torch.allclose(refined, raw)


def _tone_mel(f0: float, seconds: float = 1.0) -> tuple[np.ndarray, torch.Tensor]:
    from muvi_plugin.mel import MelSpec, mel_spectrogram

    t = np.arange(round(24000 * seconds)) / 24000
    wave = (0.5 * np.sin(2 * np.pi * f0 * t)).astype(np.float32)
    return wave, torch.from_numpy(mel_spectrogram(wave, MelSpec()))[None]


def test_the_magnitude_prior_starts_the_network_at_the_mels_pseudo_inverse():
    from muvi_plugin.mel import MelSpec, mel_filterbank
    from training.models.vocos import LOG_FLOOR

    _, mel = _tone_mel(441.0)
    model = VocosGenerator(DEBUG_GL).eval()
    with torch.no_grad():
        log_mag = model.log_magnitude(mel)[0].numpy()
    pinv = np.linalg.pinv(mel_filterbank(MelSpec()).astype(np.float64))
    expected = np.log(np.maximum(pinv @ np.exp(mel[0].numpy().astype(np.float64)), LOG_FLOOR))
    # float32 against float64: equal to a millionth of the peak (logs of near-floor values differ more).
    assert np.abs(np.exp(log_mag) - np.exp(expected)).max() < 1e-6 * np.exp(expected).max() + 1e-6
    # Its peak is the tone's own bin (441 Hz at 20 Hz a bin): the mel keeps this pitch.
    assert abs(int(log_mag[:, 40].argmax()) * 20 - 441) <= 20


def test_an_untrained_griffin_lim_vocos_already_plays_a_tone_in_tune():
    # With the prior and the fixed random starting phase, Griffin-Lim's iterations make a consistent STFT:
    # a 330 Hz tone comes back at 330 Hz, not on the 80 Hz frame-rate comb.
    from training.metrics.musicality import comb_share, in_tune_share
    wave, mel = _tone_mel(329.63, seconds=2.0)
    model = VocosGenerator(replace(DEBUG_GL, phase_iterations=16)).eval()
    with torch.no_grad():
        out = model(mel)[0, 0].numpy()
    spectrum = np.abs(np.fft.rfft(out * np.hanning(out.size)))
    freqs = np.fft.rfftfreq(out.size, 1 / 24000)
    assert abs(freqs[spectrum.argmax()] - 329.63) < 3
    assert comb_share(out, 24000) < 0.1
    assert in_tune_share(out, 24000).share > 0.9
    # Deterministic: the starting phase is a fixed field, not a random draw.
    with torch.no_grad():
        assert torch.equal(model(mel), VocosGenerator(replace(DEBUG_GL, phase_iterations=16)).eval()(mel))


def test_the_magnitude_objective_learns_the_stft_magnitude():
    # Trained on one clip, the log-magnitude distance to the audio's own STFT falls well below the prior's.
    from training.tasks.vocoder import VocoderObjective

    torch.manual_seed(0)
    model = VocosGenerator(DEBUG_GL)
    objective = VocoderObjective(model, torch.nn.Identity(), torch.nn.Identity(), adversarial_start=10**9)
    wave = torch.from_numpy(
        np.sum([np.sin(2 * np.pi * f * np.arange(24000) / 24000) for f in (220, 331, 497)], 0).astype(
            np.float32
        )
        * 0.2
    )
    wave = wave + 0.01 * torch.randn(24000)
    mel = objective.mel(wave[None])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(100):
        loss, stats = objective._magnitude_step(mel, wave[None, None])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        first = first if first is not None else float(stats["log_l1"])
    assert float(stats["log_l1"]) < 0.85 * first, (first, float(stats["log_l1"]))


def test_griffin_lim_iterations_share_one_copy_of_the_dft_bases_in_the_graph(tmp_path):
    # The bases are derived buffers (not in state dicts); traced as they are, every iteration's conv got its
    # own constant copy (the demo vocoder's graph was 208 MB instead of 29 MB). Two iterations or sixteen:
    # the same initializers, so nearly the same file size.
    sizes = []
    for iterations in (2, 16):
        model = VocosGenerator(replace(DEBUG_GL, phase_iterations=iterations)).eval()
        graph = g._vocoder(model, torch.Generator().manual_seed(0))
        path = export_graph(graph, tmp_path / f"v{iterations}.onnx")
        sizes.append(path.stat().st_size)
    basis_bytes = 2 * 601 * 1200 * 4
    assert sizes[1] - sizes[0] < basis_bytes / 4, sizes
