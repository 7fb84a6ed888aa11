"""Contrastive music-visual pre-training (MuVi Sec. 3.2): similarity, loss and extra negatives.

Importing this package does not import librosa; only ``minimal_beat_period`` (and ``build_negatives``
without precomputed periods) loads it, on first use.
"""

from training.contrastive.loss import (
    INITIAL_TEMPERATURE,
    MAX_LOGIT_SCALE,
    DistributedGather,
    Gather,
    LearnableTemperature,
    LocalGather,
    TemperatureConfig,
    contrastive_loss,
    ddp_gather,
)
from training.contrastive.negatives import (
    DEFAULT_NEGATIVES,
    NUM_NEGATIVES,
    REPLACEMENT_SLOT,
    SHIFT_SLOT,
    NegativeKind,
    Negatives,
    NegativesConfig,
    allowed_shifts,
    build_negatives,
    draw_negatives,
    equal_power_fade,
    minimal_beat_period,
    random_replacement,
    temporal_shift,
)
from training.contrastive.similarity import (
    paired_negative_similarity,
    position_aware_similarity,
    similarity_matrix,
    unit_frames,
)

__all__ = [
    "DEFAULT_NEGATIVES",
    "INITIAL_TEMPERATURE",
    "MAX_LOGIT_SCALE",
    "NUM_NEGATIVES",
    "REPLACEMENT_SLOT",
    "SHIFT_SLOT",
    "DistributedGather",
    "Gather",
    "LearnableTemperature",
    "LocalGather",
    "TemperatureConfig",
    "NegativeKind",
    "Negatives",
    "NegativesConfig",
    "allowed_shifts",
    "build_negatives",
    "draw_negatives",
    "contrastive_loss",
    "ddp_gather",
    "equal_power_fade",
    "minimal_beat_period",
    "paired_negative_similarity",
    "position_aware_similarity",
    "random_replacement",
    "similarity_matrix",
    "temporal_shift",
    "unit_frames",
]
