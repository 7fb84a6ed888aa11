import dataclasses
import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from training.contrastive.loss import (
    LearnableTemperature,
    LocalGather,
    TemperatureConfig,
    contrastive_loss,
    ddp_gather,
)
from training.contrastive.similarity import position_aware_similarity


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _batch(b: int = 4, k: int = 2, n: int = 6, d: int = 8, seed: int = 0) -> tuple[torch.Tensor, ...]:
    v = _randn(b, n, d, seed=seed).requires_grad_()
    a = _randn(b, n, d, seed=seed + 1).requires_grad_()
    neg = _randn(b, k, n, d, seed=seed + 2).requires_grad_()
    return v, a, neg


def _reference_loss(v: torch.Tensor, a: torch.Tensor, neg: torch.Tensor, scale: float) -> torch.Tensor:
    """MuVi Eq. 2 written out term by term, one pair at a time."""
    b = v.shape[0]

    def sim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return position_aware_similarity(x[None], y[None])[0]

    v2a, a2v = [], []
    for i in range(b):
        batch = torch.stack([sim(v[i], a[j]) for j in range(b)])
        extra = [torch.exp(scale * sim(v[i], neg[i, k])) for k in range(neg.shape[1])]
        denominator = torch.exp(scale * batch).sum() + sum(extra)
        v2a.append(-(scale * batch[i] - torch.log(denominator)))
        column = torch.stack([sim(v[j], a[i]) for j in range(b)])
        a2v.append(-(scale * column[i] - torch.logsumexp(scale * column, 0)))
    return 0.5 * (torch.stack(v2a).mean() + torch.stack(a2v).mean())


class ThreadHub:
    """An in-process all-gather between threads, one thread per simulated rank.

    Each rank drops its tensor in its slot and every rank concatenates all slots: the other ranks' rows
    stay in the autograd graph, so the backward of the summed rank losses sends every rank the sum of
    the gradients, exactly as ``all_gather``'s backward does under DDP.
    """

    def __init__(self, world: int) -> None:
        self.slots: list[torch.Tensor | None] = [None] * world
        self.barrier = threading.Barrier(world, timeout=30)


@dataclass(frozen=True)
class FakeGather:
    """Rank ``rank`` of a ``ThreadHub``; ``slot`` places its rows elsewhere to mislabel the rank."""

    rank: int
    hub: ThreadHub
    slot: int | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.hub.slots[self.rank if self.slot is None else self.slot] = x
        self.hub.barrier.wait()
        gathered = torch.cat([t for t in self.hub.slots if t is not None])
        self.hub.barrier.wait()  # nobody overwrites a slot before every rank has read it
        return gathered


def run_ranks(world: int, loss_of_rank: Callable[[int, ThreadHub], torch.Tensor]) -> list[torch.Tensor]:
    hub = ThreadHub(world)
    with ThreadPoolExecutor(max_workers=world) as pool:
        return list(pool.map(lambda rank: loss_of_rank(rank, hub), range(world)))


def test_temperature_starts_at_clip_value_and_is_clamped() -> None:
    temperature = LearnableTemperature()
    assert temperature.temperature == pytest.approx(0.07)
    assert temperature().item() == pytest.approx(1 / 0.07)
    with torch.no_grad():
        temperature.log_scale.fill_(math.log(1e4))
    assert temperature().item() == pytest.approx(100.0)
    with pytest.raises(ValueError, match="max_scale"):
        TemperatureConfig(initial=0.001)
    # A checkpoint stores asdict(config) and rebuilds the part from it.
    rebuilt = LearnableTemperature(TemperatureConfig(**dataclasses.asdict(temperature.config)))
    assert rebuilt.temperature == pytest.approx(0.07)


def test_loss_matches_the_written_out_objective() -> None:
    v, a, neg = _batch()
    scale = torch.tensor(1 / 0.07)
    loss, _ = contrastive_loss(v, a, neg, logit_scale=scale)
    torch.testing.assert_close(loss, _reference_loss(v, a, neg, 1 / 0.07))


def test_aligned_embeddings_give_lower_loss_than_random() -> None:
    v, a, neg = _batch(b=8, d=32, seed=3)
    scale = LearnableTemperature()()
    aligned, stats = contrastive_loss(v, v.detach().clone(), neg, logit_scale=scale)
    random, _ = contrastive_loss(v, a, neg, logit_scale=scale)
    assert aligned.item() < 0.01 < 1.0 < random.item()
    assert stats["acc_v2a"].item() == stats["acc_a2v"].item() == stats["acc_vs_extra"].item() == 1.0
    assert stats["sim_pos"].item() == pytest.approx(1.0)


def test_extra_negatives_that_match_the_positive_raise_the_loss() -> None:
    # A shifted "negative" identical to the positive music is as likely as the positive: the loss must
    # notice, which is why the shifts avoid whole beats.
    v, _, neg = _batch(seed=5)
    scale = torch.tensor(1 / 0.07)
    base, _ = contrastive_loss(v, v, neg, logit_scale=scale)
    confusing = neg.detach().clone()
    confusing[:, 0] = v.detach()
    confused, stats = contrastive_loss(v, v, confusing, logit_scale=scale)
    assert confused.item() > base.item() + 0.3
    assert stats["sim_extra_neg_0"].item() == pytest.approx(1.0)


def test_loss_is_computed_in_fp32_under_bf16_autocast() -> None:
    v, a, neg = (t.detach().bfloat16() for t in _batch(seed=17))
    scale = torch.tensor(1 / 0.07)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = contrastive_loss(v, a, neg, logit_scale=scale)
    reference, _ = contrastive_loss(v.float(), a.float(), neg.float(), logit_scale=scale)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, reference)


def test_no_extra_negatives_is_plain_symmetric_infonce() -> None:
    v, a, _ = _batch(seed=19)
    scale = torch.tensor(1 / 0.07)
    loss, stats = contrastive_loss(v, a, torch.empty(4, 0, 6, 8), logit_scale=scale)
    torch.testing.assert_close(loss, _reference_loss(v, a, torch.empty(4, 0, 6, 8), 1 / 0.07))
    assert "acc_vs_extra" not in stats


def test_gradients_flow_to_every_input_and_the_temperature() -> None:
    v, a, neg = _batch(seed=7)
    temperature = LearnableTemperature()
    loss, _ = contrastive_loss(v, a, neg, logit_scale=temperature())
    loss.backward()
    for tensor in (v, a, neg, temperature.log_scale):
        assert tensor.grad is not None
        assert torch.isfinite(tensor.grad).all()
        assert tensor.grad.abs().sum().item() > 0


def test_padded_frames_do_not_change_the_loss() -> None:
    v, a, neg = _batch(n=6, seed=9)
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[1, 4:] = False
    mask[3, 2:] = False
    scale = torch.tensor(10.0)
    loss, _ = contrastive_loss(v, a, neg, logit_scale=scale, mask=mask)
    noisy = [t.detach().clone() for t in (v, a, neg)]
    for t in noisy[:2]:
        t[~mask] = 1e3 * _randn(int((~mask).sum()), 8, seed=11)
    noisy[2].transpose(1, 2)[~mask] = 1e3 * _randn(int((~mask).sum()), 2, 8, seed=12)
    noisy_loss, _ = contrastive_loss(*noisy, logit_scale=scale, mask=mask)
    torch.testing.assert_close(loss, noisy_loss)


def test_fake_two_rank_gather_equals_the_concatenated_batch() -> None:
    b = 3
    v, a, neg = _batch(b=2 * b, seed=13)
    mask = torch.ones(2 * b, 6)
    mask[4, 3:] = 0
    scale = torch.tensor(1 / 0.07)
    full, _ = contrastive_loss(v, a, neg, logit_scale=scale, mask=mask)

    def rank_loss(rank: int, hub: ThreadHub) -> torch.Tensor:
        rows = slice(rank * b, (rank + 1) * b)
        local = (v[rows], a[rows], neg[rows])
        gather = FakeGather(rank=rank, hub=hub)
        return contrastive_loss(*local, logit_scale=scale, gather=gather, mask=mask[rows])[0]

    mean = torch.stack(run_ranks(2, rank_loss)).mean()
    torch.testing.assert_close(mean, full)
    # DDP averages gradients over ranks and all_gather's backward sums them into the owning rank, so
    # the gradient of the mean of per-rank losses is the full-batch gradient.
    expected = torch.autograd.grad(full, (v, a, neg))
    got = torch.autograd.grad(mean, (v, a, neg))
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e)


def test_targets_follow_the_rank() -> None:
    # With perfectly aligned pairs the loss is near zero, unless rank 1's rows are scored as if they were
    # rank 0's: then every video aims at the wrong music.
    b = 3
    v, _, neg = _batch(b=2 * b, seed=15)
    scale = torch.tensor(1 / 0.07)

    def losses(claimed_rank_of_1: int) -> list[float]:
        def rank_loss(rank: int, hub: ThreadHub) -> torch.Tensor:
            rows = slice(rank * b, (rank + 1) * b)
            gather = FakeGather(rank=claimed_rank_of_1 if rank == 1 else 0, hub=hub, slot=rank)
            return contrastive_loss(v[rows], v[rows], neg[rows], logit_scale=scale, gather=gather)[0]

        return [loss.item() for loss in run_ranks(2, rank_loss)]

    assert max(losses(1)) < 0.1
    right, wrong = losses(0)
    assert right < 0.1 < 1.0 < wrong


def test_local_gather_is_identity_on_rank_zero() -> None:
    x = _randn(2, 3, seed=0)
    assert LocalGather().rank == 0
    assert LocalGather()(x) is x


def test_ddp_gather_needs_a_process_group() -> None:
    with pytest.raises(RuntimeError, match="process group"):
        ddp_gather()


def _ddp_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        v, a, neg = _batch(b=2 * world, seed=21)
        rows = slice(2 * rank, 2 * rank + 2)
        local = [t[rows].detach().clone().requires_grad_() for t in (v, a, neg)]
        gather = ddp_gather()
        loss, _ = contrastive_loss(*local, logit_scale=torch.tensor(1 / 0.07), gather=gather)
        loss.backward()
        torch.save(
            {"rank": gather.rank, "loss": loss.detach(), "grads": [t.grad for t in local]},
            Path(out_dir) / f"rank{rank}.pt",
        )
    finally:
        # Without this barrier a worker aborted at teardown (SIGABRT) in about one run in seven here:
        # the ranks must leave their last collective before gloo is torn down.
        dist.barrier()
        dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_gather_over_two_gloo_processes(tmp_path: Path) -> None:
    world = 2
    mp.spawn(_ddp_worker, args=(world, str(tmp_path / "init"), str(tmp_path)), nprocs=world, join=True)
    v, a, neg = _batch(b=2 * world, seed=21)
    full, _ = contrastive_loss(v, a, neg, logit_scale=torch.tensor(1 / 0.07))
    expected = torch.autograd.grad(full, (v, a, neg))
    results = [torch.load(tmp_path / f"rank{r}.pt") for r in range(world)]
    assert [r["rank"] for r in results] == [0, 1]
    torch.testing.assert_close(sum(r["loss"] for r in results) / world, full.detach())
    for rank, result in enumerate(results):
        rows = slice(2 * rank, 2 * rank + 2)
        for got, want in zip(result["grads"], expected, strict=True):
            # DDP divides the summed gradients by the world size.
            torch.testing.assert_close(got / world, want[rows])
