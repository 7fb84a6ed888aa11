import torch

from training.data.collate import collate_music, collate_video_music


def item(duration: float, index: int, *, fps: int = 10) -> dict:
    frames = round(duration * fps)
    return {
        "frames": torch.full((frames, 3, 4, 6), 0.5),
        "wave": torch.ones(round(duration * 24_000)),
        "path": f"/v{index}.mp4",
        "start": 1.5 * index,
        "duration": duration,
        "index": index,
    }


def test_video_music_batches_pad_and_mask():
    batch = collate_video_music([item(0.3, 0), item(0.5, 1), item(0.1, 2)])
    assert batch["frames"].shape == (3, 5, 3, 4, 6)
    assert batch["wave"].shape == (3, 12_000)
    assert batch["lengths"].tolist() == [3, 5, 1]
    assert batch["mask"].dtype == torch.bool and batch["mask"].shape == (3, 5)
    assert batch["mask"].sum(dim=1).tolist() == [3, 5, 1]
    assert batch["mask"][0].tolist() == [True, True, True, False, False]
    assert torch.equal(batch["frame_mask"], batch["mask"])  # 10 FPS: one video frame per latent frame
    # Padding is zeros, real content untouched.
    assert batch["frames"][0, 3:].abs().sum() == 0 and batch["frames"][0, :3].min() == 0.5
    assert batch["wave"][2, 2_400:].abs().sum() == 0 and batch["wave"][2, :2_400].min() == 1.0
    assert batch["path"] == ["/v0.mp4", "/v1.mp4", "/v2.mp4"]
    assert batch["index"].tolist() == [0, 1, 2] and batch["start"].tolist() == [0.0, 1.5, 3.0]


def test_frame_mask_follows_the_video_rate():
    batch = collate_video_music([item(0.5, 0, fps=4), item(1.0, 1, fps=4)])
    assert batch["lengths"].tolist() == [5, 10]  # latent frames
    assert batch["frame_mask"].sum(dim=1).tolist() == [2, 4]  # video frames at 4 FPS


def test_music_batches_have_no_frames():
    batch = collate_music([{k: v for k, v in item(0.2, i).items() if k != "frames"} for i in range(2)])
    assert "frames" not in batch and batch["wave"].shape == (2, 4_800)
    assert batch["mask"].all() and batch["duration"].dtype == torch.float64
