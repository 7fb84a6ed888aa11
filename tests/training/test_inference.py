"""The torch reference pipeline: its wiring, and its agreement with the exported graphs under ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from export.bundle import debug_parts
from muvi_plugin import sampler
from muvi_plugin.manifest import read_manifest
from training.inference import generate

T = 23  # video frames: one full 16-frame clip plus an overlapping last clip
N = 23  # latent frames (10 per second, as the video)
C = 8
SAMPLES_PER_FRAME = 2400


@pytest.fixture(scope="module")
def parts():
    return debug_parts(seed=0)


def _frames(seed: int) -> torch.Tensor:
    return torch.rand(T, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def _noise(frames: int = N, seed: int = 0) -> torch.Tensor:
    return torch.randn(1, frames, C, generator=torch.Generator().manual_seed(seed))


def test_generate_makes_a_deterministic_wave_of_the_window(parts):
    wave = generate(parts, _frames(0), noise=_noise(), steps=3, guidance=3.0)
    assert wave.shape == (N * SAMPLES_PER_FRAME,) and wave.dtype == torch.float32
    assert torch.isfinite(wave).all()
    assert torch.equal(wave, generate(parts, _frames(0), noise=_noise(), steps=3, guidance=3.0))
    assert not torch.equal(wave, generate(parts, _frames(0), noise=_noise(seed=1), steps=3, guidance=3.0))


def _spy(monkeypatch, module, method: str) -> list[tuple]:
    """Record the arguments of `module.method` (an instance attribute shadows the bound method)."""
    calls, original = [], getattr(module, method)

    def spy(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, method, spy, raising=False)
    return calls


def test_the_video_acts_through_guidance_only(parts, monkeypatch):
    """Guidance 0 leaves the unconditional branch alone, which never sees the video."""
    decoded = _spy(monkeypatch, parts["vae"], "decode")
    for guidance in (0.0, 3.0):
        for seed in (0, 1):
            generate(parts, _frames(seed), noise=_noise(), steps=2, guidance=guidance)
    latents = [args[0] for args in decoded]
    assert torch.equal(latents[0], latents[1])
    assert (latents[2] - latents[3]).abs().max() > 1e-3


def test_context_frames_stay_clean_and_keep_their_condition(parts, monkeypatch):
    context = _noise(5, seed=7)
    decoded = _spy(monkeypatch, parts["vae"], "decode")
    velocity = _spy(monkeypatch, parts["dit"], "velocity")
    wave = generate(parts, _frames(0), noise=_noise(), steps=2, guidance=2.0, context=context)
    assert wave.shape == (N * SAMPLES_PER_FRAME,)
    latent = decoded[0][0]  # (1, C, n), denormalised
    torch.testing.assert_close(latent[:, :, :5], parts["vae"].denormalize(context.transpose(1, 2)))
    x, t, c = velocity[0][:3]
    assert x.shape == (2, N, C) and torch.all(t[:, :5] == 1.0) and torch.all(t[:, 5:] == 0.0)
    uncond = parts["dit"].uncond
    assert not torch.allclose(c[0, :5], uncond.expand(5, -1))  # the conditional branch sees the video
    torch.testing.assert_close(c[1], uncond.expand(N, -1))


def test_a_prompt_leads_the_window_unconditioned(parts, monkeypatch):
    prompt = _noise(4, seed=9)
    decoded = _spy(monkeypatch, parts["vae"], "decode")
    velocity = _spy(monkeypatch, parts["dit"], "velocity")
    wave = generate(parts, _frames(0), noise=_noise(4 + N), steps=2, guidance=2.0, prompt=prompt)
    assert wave.shape == ((4 + N) * SAMPLES_PER_FRAME,)
    torch.testing.assert_close(decoded[0][0][:, :, :4], parts["vae"].denormalize(prompt.transpose(1, 2)))
    c = velocity[0][2]
    uncond = parts["dit"].uncond
    torch.testing.assert_close(c[:, :4], uncond.expand(2, 4, -1))  # no picture for the prompt
    assert not torch.allclose(c[0, 4:], uncond.expand(N, -1))


def test_bad_calls_are_refused(parts):
    with pytest.raises(ValueError, match="not both"):
        generate(
            parts, _frames(0), noise=_noise(), steps=1, guidance=1.0, context=_noise(2), prompt=_noise(2)
        )
    with pytest.raises(ValueError, match="noise must be"):
        generate(parts, _frames(0), noise=_noise()[0], steps=1, guidance=1.0)
    parts["dit"].train()
    try:
        with pytest.raises(ValueError, match="training mode.*dit"):
            generate(parts, _frames(0), noise=_noise(), steps=1, guidance=1.0)
    finally:
        parts["dit"].eval()


def _run_bundle(folder, frames: np.ndarray, noise: np.ndarray, *, steps: int, guidance: float):
    """One window through the bundle's graphs with ONNX Runtime and the numpy sampler (no muvi_plugin API)."""
    manifest = read_manifest(folder)
    run = {
        name: ort.InferenceSession(str(folder / spec.file), providers=["CPUExecutionProvider"]).run
        for name, spec in manifest.graphs.items()
    }
    clip, t, n = manifest.video.clip_frames, len(frames), noise.shape[1]
    starts = [0, t - clip]  # T = 23: one full clip, then the last 16 frames (MuVi App. C)
    (patches,) = run["encoder"](None, {"clips": np.stack([frames[s : s + clip] for s in starts])})
    per_frame = np.concatenate([patches[0], patches[1][clip - (t - clip) :]])
    (cond,) = run["adaptor"](None, {"patches": per_frame[None], "n_out": np.array(n, dtype=np.int64)})
    drop = np.zeros((2, n), dtype=bool)
    drop[1] = True
    (c,) = run["dit_condition"](None, {"cond": np.concatenate([cond, cond]), "drop": drop})

    def velocity(x, t_frames):
        (v,) = run["dit_velocity"](
            None, {"x": np.concatenate([x, x]), "t": np.concatenate([t_frames] * 2), "c": c}
        )
        return sampler.cfg_combine(v[1:], v[:1], guidance)

    z = sampler.sample(velocity, noise, steps=steps)
    latent = z[0].T * np.float32(manifest.latent.std)[:, None] + np.float32(manifest.latent.mean)[:, None]
    (mel,) = run["vae_decoder"](None, {"latent": latent[None]})
    (wave,) = run["vocoder"](None, {"mel": mel})
    return latent, wave[0]


def test_reference_matches_the_exported_graphs_end_to_end(parts, debug_bundle, monkeypatch):
    """`debug_bundle` holds `debug_parts(seed=0)`: the torch reference and its ONNX graphs agree."""
    frames, noise = _frames(0), _noise()
    decoded = _spy(monkeypatch, parts["vae"], "decode")
    expected = generate(parts, frames, noise=noise, steps=4, guidance=3.0).numpy()
    latent, wave = _run_bundle(debug_bundle, frames.numpy(), noise.numpy(), steps=4, guidance=3.0)
    np.testing.assert_allclose(latent, decoded[0][0][0].numpy(), rtol=1e-4, atol=1e-5)
    assert wave.shape == expected.shape
    np.testing.assert_allclose(wave, expected, rtol=1e-4, atol=1e-5)
