"""Which samples each process and loader worker reads in an epoch: pure functions of
(seed, epoch) and the data's layout, so two runs with one seed see the same batches, and a
resumed run can skip exactly the batches it already trained on.

Two layouts:

- files read one by one (an image folder): a permutation of the samples, each rank taking
  every ``world``-th of it, cut into batches;
- shards (``data=shards``): the shard order is permuted, rank ``r`` takes shards
  ``r, r + world, ...``, each DataLoader worker of that rank takes every ``workers``-th of those,
  and rows are permuted within each shard. A worker batches its own stream, and the DataLoader
  hands the workers' batches out round robin (a worker that has run out is passed over);
  :func:`rank_batches` gives that order, which is what a resume skips into.

Under DDP every rank must run the same number of training steps, or the gradient exchange of
the longest one waits forever; each rank stops at the shortest rank's count of batches. That is
the documented remainder: at most the batches one rank has beyond the shortest, in shards
(different samples each epoch, as the shard order changes).
"""

from __future__ import annotations

import math

import numpy as np


def generator(seed: int, epoch: int, *salt: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(epoch), *map(int, salt)])


# -- files read one by one -------------------------------------------------------------------


def sample_batches(
    n: int, batch_size: int, seed: int, epoch: int, rank: int, world: int, shuffle: bool
) -> list[np.ndarray]:
    """This rank's batches of sample indices: with ``shuffle``, an equal share for every rank
    (``n // world``, the rest left out that epoch); without, every sample once."""
    order = generator(seed, epoch).permutation(n) if shuffle else np.arange(n)
    if world > 1:
        share = n // world if shuffle else math.ceil(n / world)
        order = order[rank::world][:share]
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


# -- shards ----------------------------------------------------------------------------------


def shard_order(num_shards: int, seed: int, epoch: int, shuffle: bool) -> np.ndarray:
    return generator(seed, epoch).permutation(num_shards) if shuffle else np.arange(num_shards)


def worker_shards(
    rows: list[int], seed: int, epoch: int, rank: int, world: int, workers: int, shuffle: bool
) -> list[np.ndarray]:
    """The shard ids each worker of ``rank`` reads, in reading order."""
    mine = shard_order(len(rows), seed, epoch, shuffle)[rank::world]
    return [mine[w :: max(workers, 1)] for w in range(max(workers, 1))]


def worker_batches(
    rows: list[int], shards: np.ndarray, batch_size: int, seed: int, epoch: int, shuffle: bool
) -> list[np.ndarray]:
    """One worker's batches, each an (n, 2) array of (shard, row): its shards one after the
    other, rows permuted within each shard, the last batch possibly short."""
    parts = []
    for shard in shards:
        count = rows[shard]
        order = generator(seed, epoch, 1 + int(shard)).permutation(count) if shuffle else None
        order = np.arange(count) if order is None else order
        parts.append(np.stack([np.full(count, shard), order], axis=1))
    stream = np.concatenate(parts) if parts else np.zeros((0, 2), dtype=np.int64)
    return [stream[i : i + batch_size] for i in range(0, len(stream), batch_size)]


def interleave(counts: list[int]) -> list[tuple[int, int]]:
    """(worker, its batch number) in the order a DataLoader yields them: round robin over the
    workers, passing over those that have run out."""
    out: list[tuple[int, int]] = []
    for turn in range(max(counts, default=0)):
        out.extend((w, turn) for w, count in enumerate(counts) if turn < count)
    return out


def _batch_counts(rows, shards_per_worker, batch_size) -> list[int]:
    return [math.ceil(sum(rows[s] for s in shards) / batch_size) for shards in shards_per_worker]


def rank_length(
    rows: list[int],
    batch_size: int,
    seed: int,
    epoch: int,
    world: int,
    workers: int,
    shuffle: bool,
    rank: int,
) -> int:
    """Batches this rank yields in the epoch: under DDP training, the shortest rank's count."""

    def count(r: int) -> int:
        shards = worker_shards(rows, seed, epoch, r, world, workers, shuffle)
        return sum(_batch_counts(rows, shards, batch_size))

    if world > 1 and shuffle:
        return min(count(r) for r in range(world))
    return count(rank)


def rank_batches(
    rows: list[int],
    batch_size: int,
    seed: int,
    epoch: int,
    rank: int,
    world: int,
    workers: int,
    shuffle: bool,
) -> list[tuple[int, int]]:
    """(worker, batch number within that worker) for each batch this rank yields, in order."""
    shards = worker_shards(rows, seed, epoch, rank, world, workers, shuffle)
    order = interleave(_batch_counts(rows, shards, batch_size))
    return order[: rank_length(rows, batch_size, seed, epoch, world, workers, shuffle, rank)]
