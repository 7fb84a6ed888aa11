import warnings

import numpy as np
import pytest
import torch

from muvi_plugin.constants import SAMPLES_PER_LATENT
from tests import media_factory as mf
from training.data import (
    DurationBalancedBatchSampler,
    SkippedFileWarning,
    VideoMusicDataset,
    collate_video_music,
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    (root / "nested").mkdir()
    mf.make_video(root / "a.mp4", seconds=1.0)
    mf.make_video(root / "nested" / "b.mkv", seconds=2.0)
    mf.make_video(root / "c.MOV", seconds=3.0)
    mf.make_video(root / "silent.mp4", seconds=2.0, audio=None)
    mf.make_corrupt(root / "broken.mp4")
    (root / "notes.txt").write_text("not media")
    return root


def make(root, **kwargs) -> VideoMusicDataset:
    options = {"image_size": (32, 24), "min_seconds": 0.5, "max_seconds": 1.5, "seed": 0} | kwargs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedFileWarning)
        return VideoMusicDataset(root, **options)


def test_unusable_files_are_skipped_with_a_warning_naming_them(folder):
    with pytest.warns(SkippedFileWarning) as caught:
        dataset = VideoMusicDataset(folder, image_size=(32, 24), min_seconds=0.5, max_seconds=1.5, seed=0)
    messages = [str(warning.message) for warning in caught]
    assert any("broken.mp4" in message and "unreadable" in message for message in messages)
    assert any("silent.mp4" in message and "no audio stream" in message for message in messages)
    assert len(dataset) == 3
    assert dataset.durations == pytest.approx([1.0, 3.0, 2.0], abs=0.05)  # a.mp4, c.MOV, nested/b.mkv


def test_items_are_aligned_segments(folder):
    dataset = make(folder)
    for key in range(4):
        item = dataset[(1, key)]  # c.MOV, 3 s
        frames, wave, duration, start = item["frames"], item["wave"], item["duration"], item["start"]
        latent = round(duration * 10)
        assert latent == pytest.approx(duration * 10, abs=1e-9) and 5 <= latent <= 15
        assert frames.shape == (latent, 3, 24, 32) and frames.dtype == torch.float32
        assert frames.is_contiguous() and frames.min() >= 0.0 and frames.max() <= 1.0
        assert wave.shape == (latent * SAMPLES_PER_LATENT,) and wave.dtype == torch.float32
        assert start >= 0.0 and start + duration <= 3.0 + 1e-6
        assert item["index"] == 1 and item["path"].endswith("c.MOV")
        # Each frame is the source picture on screen at start + i / 10.
        pictures = (frames * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        expected = [int(np.floor((start + i / 10) * 10 + 1e-3)) for i in range(latent)]
        assert [mf.frame_index(picture) for picture in pictures] == expected
        assert wave.abs().max() == pytest.approx(0.5, abs=0.05)  # the sine soundtrack


def test_segments_are_keyed_not_global(folder):
    dataset = make(folder)
    assert dataset[(1, 3)]["start"] == dataset[(1, 3)]["start"]
    assert len({dataset[(1, key)]["start"] for key in range(5)}) == 5
    first = dataset[1]["start"]
    dataset.set_epoch(1)
    assert dataset[1]["start"] != first
    dataset.set_epoch(0)
    assert dataset[1]["start"] == first
    assert make(folder, seed=1)[(1, 3)]["start"] != dataset[(1, 3)]["start"]


def test_a_file_failing_mid_epoch_is_replaced_with_a_warning(tmp_path):
    for name, seconds in [("x.mp4", 1.0), ("y.mp4", 1.0)]:
        mf.make_video(tmp_path / name, seconds=seconds)
    dataset = make(tmp_path)
    (tmp_path / "x.mp4").unlink()
    with pytest.warns(SkippedFileWarning, match="x.mp4"):
        item = dataset[(0, 0)]
    assert item["path"].endswith("y.mp4") and item["index"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkippedFileWarning)  # remembered: no second warning
        assert dataset[(0, 1)]["index"] == 1


def test_a_data_loader_epoch_of_distinct_videos(folder):
    dataset = make(folder, image_size=16)
    sampler = DurationBalancedBatchSampler(dataset.durations, batch_size=3, seed=0, num_batches=2)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_video_music)
    batches = list(loader)
    assert len(batches) == 2
    for batch in batches:
        assert sorted(batch["index"].tolist()) == [0, 1, 2]
        longest = int(batch["lengths"].max())
        assert batch["frames"].shape == (3, longest, 3, 16, 16)
        assert batch["wave"].shape == (3, longest * SAMPLES_PER_LATENT)
        assert batch["mask"].sum(dim=1).tolist() == batch["lengths"].tolist()


def test_bad_arguments_fail_early(folder, tmp_path):
    with pytest.raises(ValueError, match="min_seconds"):
        make(folder, min_seconds=2.0, max_seconds=1.0)
    with pytest.raises(ValueError, match="fit"):
        make(folder, fit="stretch")
    mf.make_corrupt(tmp_path / "only.mp4")
    with pytest.raises(ValueError, match="no usable media"):
        make(tmp_path)
