import warnings

import numpy as np
import pytest
import torch

from muvi_plugin.constants import SAMPLES_PER_LATENT
from tests import media_factory as mf
from training.data import MusicDataset, SkippedFileWarning, collate_music


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("music")
    mf.write_media(root / "tone.wav", audio=mf.sine(330.0, seconds=2.0, channels=1), audio_codec="pcm_s16le")
    mf.make_video(root / "clip.mp4", seconds=1.5, frequency=550.0)  # a video's soundtrack counts too
    mf.make_video(root / "silent.mp4", seconds=1.0, audio=None)
    return root


def test_music_from_audio_files_and_soundtracks(folder):
    with pytest.warns(SkippedFileWarning, match="silent.mp4"):
        dataset = MusicDataset(folder, min_seconds=0.5, max_seconds=1.0, seed=0)
    assert [path.rsplit("/", 1)[-1] for path in (s.path for s in dataset.sources)] == ["clip.mp4", "tone.wav"]
    for index, frequency in [(0, 550.0), (1, 330.0)]:
        item = dataset[(index, 7)]
        latent = round(item["duration"] * 10)
        assert 5 <= latent <= 10 and "frames" not in item
        assert item["wave"].shape == (latent * SAMPLES_PER_LATENT,) and item["wave"].dtype == torch.float32
        spectrum = np.abs(np.fft.rfft(item["wave"].numpy(), n=48_000))
        assert np.argmax(spectrum) * 24_000 / 48_000 == pytest.approx(frequency, abs=1.0)


def test_music_batches(folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedFileWarning)
        dataset = MusicDataset(folder, min_seconds=0.5, max_seconds=1.0, seed=0)
    batch = collate_music([dataset[(0, 1)], dataset[(1, 2)]])
    assert batch["wave"].shape[1] == int(batch["lengths"].max()) * SAMPLES_PER_LATENT
    assert batch["mask"].sum(dim=1).tolist() == batch["lengths"].tolist()
