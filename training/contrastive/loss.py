"""MuVi's contrastive music-visual objective with extra negatives (MuVi Sec. 3.2, Eq. 1-2).

Each video is scored against every music clip of the global batch plus its own extra negatives (the
temporally shifted and the partly replaced music), and each music clip against every video of the global
batch. Under DDP the batch is gathered from every rank through an injectable ``Gather`` so the loss can be
tested in one process.

Shapes: ``b`` local batch, ``B`` global batch (``b`` times the number of ranks), ``k`` extra negatives per
video, ``n`` frames at VIDEO_FPS, ``d`` embedding width.
"""

import math
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from training.contrastive.similarity import paired_negative_similarity, similarity_matrix, unit_frames

# MuVi Sec. 4.1: "the learnable temperature parameter is initialized as 0.07, following (Radford et al.)".
INITIAL_TEMPERATURE = 0.07
# CLIP caps the logit scale at 100 so the logits cannot blow up early in training.
MAX_LOGIT_SCALE = 100.0


@dataclass(frozen=True)
class TemperatureConfig:
    """The learnable temperature (MuVi Sec. 4.1, CLIP-style). The same for every model size.

    Attributes:
        initial: Starting temperature ``tau`` (MuVi: 0.07, following CLIP).
        max_scale: Upper bound of the logit scale ``1 / tau`` (CLIP: 100).
    """

    initial: float = INITIAL_TEMPERATURE
    max_scale: float = MAX_LOGIT_SCALE

    def __post_init__(self) -> None:
        if not self.initial > 0:
            raise ValueError(f"initial temperature must be positive, got {self.initial}")
        if not 1.0 / self.initial <= self.max_scale:
            raise ValueError(f"initial scale 1/{self.initial} exceeds max_scale {self.max_scale}")


class LearnableTemperature(nn.Module):
    """CLIP-style learnable temperature: stores ``log(1 / tau)`` and returns the logit scale ``1 / tau``.

    Learning the log keeps the scale positive and makes its steps multiplicative; the scale is clamped at
    ``max_scale`` in the forward pass, which also stops its gradient once it saturates.
    """

    def __init__(self, config: TemperatureConfig = TemperatureConfig()) -> None:
        super().__init__()
        self.config = config
        self.max_log_scale = math.log(config.max_scale)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / config.initial)))

    def forward(self) -> Tensor:
        """Returns the logit scale ``1 / tau`` as a 0-dim tensor."""
        return self.log_scale.clamp(max=self.max_log_scale).exp()

    @property
    def temperature(self) -> float:
        """The current temperature ``tau`` (after the clamp)."""
        return float(1.0 / self.forward().detach())


class Gather(Protocol):
    """Concatenates a per-rank tensor over all ranks along dim 0, in rank order.

    ``rank`` tells the loss where this rank's rows sit in the gathered batch (its targets start at
    ``rank * b``). Every rank must pass tensors of the same shape.
    """

    @property
    def rank(self) -> int: ...

    def __call__(self, x: Tensor) -> Tensor: ...


@dataclass(frozen=True)
class LocalGather:
    """The single-process gather: the local batch is the global batch."""

    rank: int = 0

    def __call__(self, x: Tensor) -> Tensor:
        return x


@dataclass(frozen=True)
class DistributedGather:
    """All-gather over a ``torch.distributed`` group with gradients flowing back to every rank.

    ``torch.distributed.nn.functional.all_gather`` sums the gradients of every rank's loss into the rank
    that owns the rows, so with DDP's gradient averaging each rank ends up with the gradient of the mean
    of the per-rank losses, i.e. of the loss over the global batch.
    """

    rank: int
    world_size: int
    group: Any = None

    def __call__(self, x: Tensor) -> Tensor:
        from torch.distributed.nn.functional import all_gather

        return _ContiguousGrad.apply(torch.cat(all_gather(x, group=self.group), dim=0))


class _ContiguousGrad(torch.autograd.Function):
    """Identity whose backward makes the gradient contiguous.

    The gradient reaching a gathered tensor is often a transposed view (einsum's backward), and
    ``all_gather``'s backward on gloo exchanges raw memory with ``all_to_all``: a strided gradient comes
    back scrambled (measured on torch 2.13; see ``test_ddp_gather_over_two_gloo_processes``).
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad.contiguous()


def ddp_gather(group: Any = None) -> DistributedGather:
    """Builds the gather for the current process group (call after ``init_process_group``).

    Args:
        group: Process group; ``None`` for the default (world) group.

    Raises:
        RuntimeError: If ``torch.distributed`` is not initialised.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError("ddp_gather needs an initialised torch.distributed process group")
    return DistributedGather(
        rank=dist.get_rank(group=group), world_size=dist.get_world_size(group=group), group=group
    )


def contrastive_loss(
    v: Tensor,
    a_pos: Tensor,
    a_neg: Tensor,
    *,
    logit_scale: Tensor,
    gather: Gather | None = None,
    mask: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Symmetric InfoNCE over the global batch, with extra negatives in the video-to-music direction.

    MuVi Sec. 3.2, Eq. 2: the denominator of video ``i`` holds every music clip of the batch plus the
    ``k`` negatives built from its own music; the music-to-video term is the plain batch InfoNCE. The
    returned loss is the mean of the two directions over this rank's rows; averaging it over ranks (as
    DDP does with the gradients) gives the loss over the global batch.

    Args:
        v: Video embeddings ``(b, n, d)`` (visual adaptor output).
        a_pos: Paired music embeddings ``(b, n, d)`` (audio head output).
        a_neg: Extra negative music embeddings ``(b, k, n, d)``; ``k`` may be 0.
        logit_scale: ``1 / tau``, a 0-dim tensor (``LearnableTemperature()``).
        gather: Concatenates over ranks; ``None`` for one process. Every rank must use the same ``b``
            and ``n`` (pad to a common length and pass ``mask``).
        mask: Optional ``(b, n)`` valid-frame mask shared by a video, its music and its negatives.

    Returns:
        ``(loss, stats)``: the scalar loss and detached 0-dim statistics for logging.
    """
    if v.shape != a_pos.shape:
        raise ValueError(f"v and a_pos must match, got {tuple(v.shape)} and {tuple(a_pos.shape)}")
    # In fp32 even under bf16 autocast (MuVi trains in bf16): with logit scales up to 100, bf16's ~3
    # significant digits of cosine would move the logits by several tenths.
    with torch.autocast(device_type=v.device.type, enabled=False):
        gather_all: Gather = LocalGather() if gather is None else gather
        b = v.shape[0]
        # Masks travel as floats: collectives and the matmul in similarity_matrix want a float dtype.
        mask_f = None if mask is None else mask.float()
        # Normalise once and gather unit vectors: each tensor takes part in two or three similarities, and
        # on large batches these elementwise passes, not the matmuls, dominate the cost.
        v_unit, a_unit = unit_frames(v.float(), mask_f), unit_frames(a_pos.float(), mask_f)
        v_all, a_all = gather_all(v_unit), gather_all(a_unit)
        mask_all = None if mask_f is None else gather_all(mask_f)
        if v_all.shape[0] % b != 0:
            raise ValueError(f"gathered batch {v_all.shape[0]} is not a multiple of the local batch {b}")
        targets = gather_all.rank * b + torch.arange(b, device=v.device)

        # (b, B): this rank's videos against every music clip, then this rank's music against every video.
        batch_v2a = similarity_matrix(v_unit, a_all, v_mask=mask_f, a_mask=mask_all, normalized=True)
        batch_a2v = similarity_matrix(a_unit, v_all, v_mask=mask_f, a_mask=mask_all, normalized=True)
        neg_unit = unit_frames(a_neg.float())
        extra = paired_negative_similarity(v_unit, neg_unit, mask=mask_f, normalized=True)  # (b, k)
        logits_v2a = logit_scale * torch.cat([batch_v2a, extra], dim=1)
        logits_a2v = logit_scale * batch_a2v

        loss_v2a = F.cross_entropy(logits_v2a, targets)
        loss_a2v = F.cross_entropy(logits_a2v, targets)
        loss = 0.5 * (loss_v2a + loss_a2v)
        stats = _stats(batch_v2a, extra, logits_v2a, logits_a2v, targets, loss_v2a, loss_a2v, logit_scale)
    return loss, stats


@torch.no_grad()
def _stats(
    batch_v2a: Tensor,
    extra: Tensor,
    logits_v2a: Tensor,
    logits_a2v: Tensor,
    targets: Tensor,
    loss_v2a: Tensor,
    loss_a2v: Tensor,
    logit_scale: Tensor,
) -> dict[str, Tensor]:
    rows = torch.arange(targets.shape[0], device=targets.device)
    pos = batch_v2a[rows, targets]
    others = torch.ones_like(batch_v2a, dtype=torch.bool)
    others[rows, targets] = False
    stats = {
        "loss_v2a": loss_v2a.detach(),
        "loss_a2v": loss_a2v.detach(),
        "acc_v2a": (logits_v2a.argmax(1) == targets).float().mean(),
        "acc_a2v": (logits_a2v.argmax(1) == targets).float().mean(),
        "sim_pos": pos.mean(),
        "sim_batch_neg": batch_v2a[others].mean() if bool(others.any()) else pos.new_zeros(()),
        "logit_scale": logit_scale.detach(),
    }
    for j in range(extra.shape[1]):
        stats[f"sim_extra_neg_{j}"] = extra[:, j].mean()
    if extra.shape[1]:
        # How often the positive beats every one of its own shifted/replaced negatives: the synchrony
        # signal MuVi adds these negatives for.
        stats["acc_vs_extra"] = (pos > extra.max(1).values).float().mean()
    return stats
