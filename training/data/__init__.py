"""Training data: random segments of whole media files, duration-balanced batches, padding (MuVi App. D)."""

from training.data.collate import collate_music, collate_video_music
from training.data.music import MusicDataset
from training.data.samplers import DurationBalancedBatchSampler
from training.data.segments import SegmentDataset, SkippedFileWarning, Source
from training.data.video_music import VideoMusicDataset

__all__ = [
    "DurationBalancedBatchSampler",
    "MusicDataset",
    "SegmentDataset",
    "SkippedFileWarning",
    "Source",
    "VideoMusicDataset",
    "collate_music",
    "collate_video_music",
]
