import numpy as np
import pytest

from training.data.samplers import DurationBalancedBatchSampler


def draws(sampler: DurationBalancedBatchSampler) -> list[list[int]]:
    return [[index for index, _ in batch] for batch in sampler]


def test_no_video_twice_in_a_batch():
    sampler = DurationBalancedBatchSampler(
        [5.0, 60.0, 3600.0, 20.0, 7.0], batch_size=4, seed=0, num_batches=300
    )
    batches = list(sampler)
    assert len(batches) == len(sampler) == 300
    assert all(len(batch) == 4 and len({index for index, _ in batch}) == 4 for batch in batches)
    # Even a video 60x longer than the rest appears at most once per batch.
    assert sum(2 in [index for index, _ in batch] for batch in batches) == 300


def test_draws_are_proportional_to_duration():
    durations = [1.0, 2.0, 3.0, 4.0]
    sampler = DurationBalancedBatchSampler(durations, batch_size=1, seed=3, num_batches=20_000)
    counts = np.bincount([batch[0] for batch in draws(sampler)], minlength=4)
    np.testing.assert_allclose(counts / counts.sum(), np.array(durations) / 10.0, atol=0.015)
    # A video of zero usable seconds is never drawn.
    never = DurationBalancedBatchSampler([0.0, 1.0, 1.0], batch_size=2, seed=0, num_batches=50)
    assert all(0 not in batch for batch in draws(never))


def test_batches_are_a_function_of_seed_and_epoch():
    def make():
        return DurationBalancedBatchSampler(list(range(1, 21)), batch_size=3, seed=5, num_batches=10)

    first, second = make(), make()
    assert list(first) == list(second)
    epoch_zero = list(first)
    first.set_epoch(1)
    assert list(first) != epoch_zero
    second.set_epoch(1)
    assert list(first) == list(second)
    other_seed = DurationBalancedBatchSampler(list(range(1, 21)), batch_size=3, seed=6, num_batches=10)
    assert list(other_seed) != epoch_zero


def test_ranks_get_disjoint_slices_of_one_global_batch():
    durations = np.linspace(1.0, 30.0, 12).tolist()
    ranks = [
        DurationBalancedBatchSampler(durations, batch_size=2, seed=1, rank=rank, world_size=3, num_batches=40)
        for rank in range(3)
    ]
    for rank in ranks:
        rank.set_epoch(2)
    for step in zip(*(list(rank) for rank in ranks), strict=True):
        videos = [index for batch in step for index, _ in batch]
        keys = [key for batch in step for _, key in batch]
        assert len(set(videos)) == 6  # no video shared between ranks in a step
        assert len(set(keys)) == 6
    assert draws(ranks[0]) != draws(ranks[1])


def test_default_epoch_length_and_checks():
    assert len(DurationBalancedBatchSampler([1.0] * 10, batch_size=2, seed=0, world_size=1)) == 5
    assert len(DurationBalancedBatchSampler([1.0] * 10, batch_size=2, seed=0, rank=1, world_size=2)) == 2
    with pytest.raises(ValueError, match="distinct videos"):
        DurationBalancedBatchSampler([1.0, 1.0, 0.0], batch_size=3, seed=0)
    with pytest.raises(ValueError, match="rank"):
        DurationBalancedBatchSampler([1.0] * 4, batch_size=1, seed=0, rank=2, world_size=2)
    with pytest.raises(ValueError, match="non-negative"):
        DurationBalancedBatchSampler([1.0, -1.0], batch_size=1, seed=0)
