"""The runtime's pipeline against training's torch reference of one window (`training.inference`).

Same frames, same noise, same debug models (the bundle is exported from `export.bundle.debug_parts(seed=0)`):
the visual condition, the sampled latents and the waveform must agree, for a first window, a window
continuing from context, and a window led by a style prompt.
"""

import dataclasses

import numpy as np
import pytest

from muvi_plugin import media
from muvi_plugin.api import ScoreRequest, load_bundle
from muvi_plugin.pipeline import decode_latents, sample_window, video_condition
from muvi_plugin.windows import Window
from tests import media_factory as mf
from tests.hosts import require

torch = require("torch", extra="train")
inference = require("training.inference", extra="train")
export_bundle = require("export.bundle", extra="export")

STEPS = 4
# ONNX Runtime and PyTorch differ by float32 rounding (the export's own parity check allows 1e-5 per
# graph); four guided Euler steps amplify it a little.
LATENT_ATOL = 1e-4
WAVE_ATOL = 1e-5


@pytest.fixture(scope="module")
def parts():
    return export_bundle.debug_parts(seed=0)


@pytest.fixture(scope="module")
def scorer(debug_bundle):
    return load_bundle(debug_bundle, device="cpu", threads=1)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return mf.make_video(tmp_path_factory.mktemp("media") / "video.mp4", seconds=3.0, audio=None)


def reference(parts, monkeypatch, pixels, noise, **held):
    """The torch window, and the latents its sampler produced."""
    seen = {}

    def sample(*args, **kwargs):
        seen["z"] = inference_sample(*args, **kwargs)
        return seen["z"]

    inference_sample = inference.sample
    monkeypatch.setattr(inference, "sample", sample)
    wave = inference.generate(
        parts,
        torch.from_numpy(pixels),
        noise=torch.from_numpy(noise),
        steps=STEPS,
        guidance=4.0,
        **{k: torch.from_numpy(v) for k, v in held.items()},
    )
    return seen["z"].numpy(), wave.numpy()


@pytest.mark.parametrize("case", ["first", "context", "prompt"])
def test_one_window_matches_the_torch_reference(parts, scorer, video, monkeypatch, case):
    bundle, m = scorer.bundle, scorer.bundle.manifest
    start, end = 0.4, 2.3  # 19 frames: one full encoder clip and an overlapping remainder
    n = 19
    pixels = media.read_video_frames(
        video, start=start, end=end, fps=m.video.fps, size=(m.video.image_size,) * 2
    )
    pixels = np.ascontiguousarray(pixels.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0)
    cond = video_condition(bundle, video, start=start, end=end, n_out=n)
    np.testing.assert_allclose(
        cond, inference.visual_condition(parts, torch.from_numpy(pixels), n).numpy(), atol=1e-5
    )

    settings = dataclasses.replace(scorer.settings(ScoreRequest(video, seed=11)), steps=STEPS, guidance=4.0)
    clean = np.random.default_rng(5).standard_normal((1, 6, 8)).astype(np.float32)
    index, lead, held, kwargs = 0, 0, 0, {}
    if case == "context":  # a later window: its first 6 frames continue the previous window
        index, held, kwargs = 1, 6, {"context": clean}
    elif case == "prompt":  # the first window, led by 6 style-prompt frames
        lead, held, kwargs = 6, 6, {"prompt": clean}
    window = Window(index, 0, n, held if case == "context" else 0)
    x = sample_window(
        bundle, cond, settings=settings, window=window, context=clean if held else None, held=held
    )
    noise = np.random.default_rng([settings.seed, index]).standard_normal((1, lead + n, 8), dtype=np.float32)
    z, wave = reference(parts, monkeypatch, pixels, noise, **kwargs)
    assert x.shape == z.shape == (1, lead + n, 8)
    np.testing.assert_array_equal(x[:, :held], clean[:, :held])  # held frames stay exactly clean
    np.testing.assert_allclose(x, z, atol=LATENT_ATOL)
    np.testing.assert_allclose(decode_latents(bundle, x), wave, atol=WAVE_ATOL)
