"""SIM: how well music fits a video, scored by the contrastive encoders (MuVi Sec. 4.1), reference-free.

MuVi's SIM is the position-aware similarity of the contrastive pre-training stage (Sec. 3.2) between a
video and the music generated for it: the visual encoder and adaptor embed the frames, the audio encoder
and its head embed the music at the same frame rate, and the cosine similarity of the two is averaged
over time (`training.contrastive.similarity.position_aware_similarity`). Like BCS and BHS it is reported
on a percentage scale: 100 x the mean cosine, in [-100, 100].

The encoders come from a checkpoint of the `contrastive` stage (`training.checkpoint`), which stores
each model as its config plus its weights (`training.models.registry.load_part`); a frozen pre-trained
encoder is stored as its config and rebuilt from its local checkpoint path.

Shapes: ``t`` video frames at `VIDEO_FPS`, ``H W`` the encoder's image size, ``s`` audio samples.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

_PARTS = ("visual_encoder", "adaptor", "audio_encoder")


@dataclass(frozen=True)
class SimModel:
    """The contrastive encoders of one checkpoint, in eval mode.

    Attributes:
        visual_encoder: frames -> patch features.
        adaptor: patch features -> one vector per frame.
        audio_encoder: waveform -> one vector per frame.
        path: the checkpoint they came from.
    """

    visual_encoder: nn.Module
    adaptor: nn.Module
    audio_encoder: nn.Module
    path: str

    @property
    def image_size(self) -> int:
        """Frame side in pixels the visual encoder takes (frames are square, centre-cropped)."""
        return int(self.visual_encoder.image_size)

    @property
    def sample_rate(self) -> int:
        """Audio rate in Hz the audio encoder takes."""
        return int(self.audio_encoder.config.sample_rate)

    @property
    def fps(self) -> int:
        """Video frame rate the encoders were trained at (MuVi: 10)."""
        from muvi_plugin.constants import VIDEO_FPS

        return VIDEO_FPS


def load_sim_model(checkpoint: str | os.PathLike) -> SimModel:
    """The encoders of a `contrastive` stage checkpoint.

    Raises:
        FileNotFoundError: `checkpoint` is not a file.
        ValueError: It is not a muvi checkpoint, or holds no contrastive encoders.
    """
    from training.checkpoint import load_checkpoint
    from training.models.registry import load_part

    path = Path(checkpoint)
    models = load_checkpoint(path).get("models", {})
    missing = [name for name in _PARTS if name not in models]
    if missing:
        raise ValueError(
            f"{path}: no contrastive encoders ({', '.join(missing)} missing); pass a checkpoint of the "
            "'contrastive' training stage"
        )
    parts = {name: load_part(name, models[name]).eval() for name in _PARTS}
    return SimModel(**parts, path=str(path))


def _frames_tensor(frames: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """(t, H, W, 3) uint8 or (t, 3, H, W) float in [0, 1] -> (1, t, 3, H, W) float32."""
    x = torch.as_tensor(frames)
    if x.dtype == torch.uint8 and x.dim() == 4 and x.shape[-1] == 3:
        x = x.permute(0, 3, 1, 2).float().div(255.0)
    if x.dim() != 4 or x.shape[1] != 3 or x.shape[0] == 0 or not x.is_floating_point():
        raise ValueError(
            f"frames must be uint8 (t, H, W, 3) or float (t, 3, H, W), got {tuple(x.shape)} {x.dtype}"
        )
    if tuple(x.shape[2:]) != (size, size):
        raise ValueError(
            f"frames must be {size}x{size} (the visual encoder's size), got {tuple(x.shape[2:])}"
        )
    return x.float()[None]


@torch.no_grad()
def similarity(model: SimModel, frames: np.ndarray | torch.Tensor, wave: np.ndarray | torch.Tensor) -> float:
    """SIM of one video and its music with loaded encoders (see `sim_score`)."""
    from training.contrastive.similarity import position_aware_similarity

    video = _frames_tensor(frames, model.image_size)
    audio = torch.as_tensor(np.asarray(wave, dtype=np.float32))
    if audio.dim() != 1 or audio.shape[0] == 0:
        raise ValueError(f"wave must be mono (samples,), got {tuple(audio.shape)}")
    n = video.shape[1]  # one embedding per video frame: the encoders work at the video's 10 FPS
    v = model.adaptor(model.visual_encoder(video), n_out=n)
    a = model.audio_encoder(audio[None], n_frames=n)
    return 100.0 * float(position_aware_similarity(v, a)[0])


def sim_score(
    checkpoint: str | os.PathLike | SimModel,
    frames: np.ndarray | torch.Tensor,
    wave: np.ndarray | torch.Tensor,
) -> float:
    """SIM of a video and the music for it: 100 x the position-aware cosine similarity, in [-100, 100].

    Args:
        checkpoint: A `contrastive` stage checkpoint, or a `SimModel` already loaded from one.
        frames: The video at ``model.fps`` (10 FPS), square at ``model.image_size``: uint8 ``(t, H, W, 3)``
            RGB as `muvi_plugin.media.read_video_frames` returns, or float ``(t, 3, H, W)`` in [0, 1].
        wave: The music for the same span, mono float ``(s,)`` at ``model.sample_rate``.

    Raises:
        ValueError: A bad checkpoint, or frames or wave of the wrong shape.
    """
    model = checkpoint if isinstance(checkpoint, SimModel) else load_sim_model(checkpoint)
    return similarity(model, frames, wave)


def sim_scores(
    checkpoint: str | os.PathLike | SimModel,
    pairs: Iterable[tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor]],
) -> list[float]:
    """`sim_score` of each ``(frames, wave)`` pair, loading the encoders once."""
    model = checkpoint if isinstance(checkpoint, SimModel) else load_sim_model(checkpoint)
    return [similarity(model, frames, wave) for frames, wave in pairs]


def read_pair(
    model: SimModel, video: str | os.PathLike, music: str | os.PathLike, *, duration: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Frames and music of files, ready for `similarity`: both from their start, over the shorter length.

    Args:
        model: The encoders (their frame size and audio rate).
        video: The video file.
        music: The music file (any file with an audio stream), whose sample 0 plays at the video's start.
        duration: Seconds to read; None for the shorter of the video and the music.
    """
    from muvi_plugin.media import probe, read_audio, read_video_frames

    video_info, music_info = probe(video), probe(music)
    if duration is None:
        duration = min(video_info.video_end, music_info.audio_end - music_info.audio_start)
    frames = read_video_frames(
        video, start=0.0, end=duration, fps=model.fps, size=(model.image_size, model.image_size)
    )
    start = music_info.audio_start
    wave = read_audio(music, start=start, end=start + duration, sample_rate=model.sample_rate)
    return frames, wave
