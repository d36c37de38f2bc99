"""Which of its rows a rank trains in one iteration, and in which order: H2O-3's row visiting.

H2O-3 does not read an iteration's rows off a stream. Every iteration runs over every
chunk of the training data with the row-usage fraction ``f = tspi / N`` (divided by the
number of ranks when every rank holds all rows). Each chunk gets ``repeats = ceil(f)``
passes, and each pass keeps a row with probability ``keep = f / repeats``. The chunk's
rows are visited in an order shuffled once per chunk and iteration when ``keep < 0.999``
or shuffling is on; otherwise they are scanned in order, ``repeats`` times. A rank starts
no new chunk once it has trained ``f * N`` rows. H2O's cores train chunks at the same
time; hpcdl interleaves its chunks' visits to the same effect (:func:`interleave`). So the number of rows an iteration trains
is random (binomial), and epochs count the rows actually trained.

hpcdl's chunks are near-equal contiguous blocks of a rank's row list (:func:`chunk_count`
says how many). Every function here is pure: the rows of any iteration follow from
(seed, rank, iteration, chunk) and the counts, so a resumed run needs only the iteration
number to visit the rows an uninterrupted run would. docs/mpi.md, "Rows per iteration".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# Below this keep probability H2O samples (and therefore shuffles) even when shuffling is off.
SAMPLE_BELOW = 0.999
# Tags the chunk RNG so its streams differ from other uses of the same (seed, rank, iteration).
_CHUNK_TAG = 0x43484E4B


def mix_seed(*values: int) -> int:
    """A 63-bit seed from several integers (splitmix64 steps)."""
    x = 0x9E3779B97F4A7C15
    for v in values:
        x = (x ^ (int(v) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 31
    return x & 0x7FFFFFFFFFFFFFFF


def row_fraction(tspi: int, n_rows: int, replicas: int = 1) -> float:
    """H2O's row-usage fraction ``tspi / N / replicas``, in float32 as H2O computes it.

    ``n_rows`` is N, the cluster-wide rows of one epoch; ``replicas`` the number of
    training ranks when every one holds all rows (1 for sharded data).
    """
    return float(np.float32(tspi) / np.float32(n_rows) / np.float32(replicas))


def repeats_and_keep(fraction: float) -> tuple[int, float]:
    """Passes over a chunk and the keep probability per row and pass (float32, as H2O)."""
    repeats = max(1, math.ceil(fraction))
    return repeats, float(np.float32(fraction) / np.float32(repeats))


def chunk_count(n_rows: int, *, threads: int, reproducible: bool, force_load_balance: bool) -> int:
    """Chunks of one rank's rows: H2O's rebalancing, per rank.

    ``reproducible``: one chunk (H2O trains a single chunk with one thread).
    ``force_load_balance``: ``min(4 * threads, rows)`` chunks, H2O's count per node for
    data with fewer chunks. Otherwise one chunk, as H2O's parser makes of a small file.
    """
    if reproducible or not force_load_balance:
        return 1
    return max(1, min(4 * max(1, int(threads)), int(n_rows)))


def shuffles(shuffle_training_data: bool, *, tspi: int, n_rows: int, n_chunks: int, replicated_ranks: int) -> bool:
    """Whether visiting shuffles even where the keep probability alone would scan in order.

    H2O forces it when tspi is one epoch on a single chunk (the same order over and over
    otherwise). hpcdl also always shuffles replicated data on several training ranks: H2O
    forces that only when each rank makes exactly one full pass; with other whole numbers
    of passes its ranks train the same rows in the same order, so averaging gains nothing.
    """
    return bool(shuffle_training_data) or replicated_ranks > 1 or (tspi == n_rows and n_chunks == 1)


def chunk_bounds(n_rows: int, n_chunks: int) -> np.ndarray:
    """Starts of ``n_chunks`` near-equal contiguous blocks of ``n_rows`` rows, then ``n_rows``."""
    k = np.arange(n_chunks + 1, dtype=np.int64)
    return (k * int(n_rows)) // int(n_chunks)


def visit(
    n_rows: int,
    *,
    fraction: float,
    n_chunks: int,
    shuffle: bool,
    stop_after: float,
    seed: int,
    rank: int,
    iteration: int,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Positions (0 .. n_rows-1) in one rank's row list that it trains this iteration, in order.

    ``weights`` (one per position, all > 0, not all equal): observation weights, visited as H2O-3
    does (:func:`weighted_pass`).

    ``fraction`` is :func:`row_fraction`; ``stop_after`` the rows after which the rank
    starts no new chunk (``fraction * N``). A sampled chunk draws from one RNG seeded by
    (seed, rank, iteration, chunk): with several passes its permutation and its keep/skip
    decisions, every pass walking the same permutation, as H2O does; with one pass the
    same law, drawn faster (:func:`bernoulli_in_random_order`).
    """
    repeats, keep = repeats_and_keep(fraction)
    sampled = keep < SAMPLE_BELOW or shuffle
    bounds = chunk_bounds(n_rows, n_chunks)
    parts, done = [], 0
    for chunk in range(n_chunks):
        if done >= stop_after:
            break
        start, stop = int(bounds[chunk]), int(bounds[chunk + 1])
        if stop == start:
            continue
        rng = np.random.default_rng(mix_seed(seed, rank, iteration, chunk, _CHUNK_TAG))
        if weights is not None:
            part = start + weighted_pass(rng, weights[start:stop], fraction, float(np.mean(weights)))
        elif not sampled:
            part = np.tile(np.arange(start, stop, dtype=np.int64), repeats)
        elif repeats == 1:
            part = start + bernoulli_in_random_order(rng, stop - start, keep)
        else:
            order = start + rng.permutation(stop - start)
            kept = rng.random((repeats, stop - start)) <= keep
            part = np.broadcast_to(order, kept.shape)[kept]
        parts.append(part)
        done += part.size
    return interleave(parts)


def weighted_pass(rng: np.random.Generator, w: np.ndarray, fraction: float, mean_weight: float) -> np.ndarray:
    """One chunk's positions in an iteration with observation weights ``w`` (all > 0), H2O-3's
    importance sampling (hex/FrameTask.java, ``map``): the chunk's share of the iteration grows
    with its weight (fraction x chunk mean weight / the rank's mean weight), and every second row
    trained is drawn from the chunk's weight distribution (so a row of weight 2 comes twice as
    often there), the others in a shuffled order of the chunk's rows. The count of rows is drawn
    as without weights (binomial, :func:`repeats_and_keep`); H2O-3 trains every row of every pass
    instead, ignoring a fraction below one pass (docs/differences.md)."""
    n = w.size
    repeats, keep = repeats_and_keep(fraction * float(np.mean(w)) / mean_weight)
    count = int(rng.binomial(n * repeats, min(1.0, keep)))
    cdf = np.cumsum(w, dtype=np.float64)
    drawn = np.searchsorted(cdf / cdf[-1], rng.random((count + 1) // 2), side="left")
    shuffled = np.concatenate([rng.permutation(n) for _ in range(-(-(count // 2) // n))] or [np.empty(0, np.int64)])
    out = np.empty(count, np.int64)
    out[0::2], out[1::2] = np.minimum(drawn, n - 1), shuffled[: count // 2]
    return out


def bernoulli_in_random_order(rng: np.random.Generator, n: int, keep: float) -> np.ndarray:
    """Positions 0..n-1, each kept with probability ``keep``, in uniformly random order.

    The same distribution as H2O's one pass (a permutation of the chunk, then a keep/skip
    draw per row in that order: a Bernoulli subset, in an order independent of which rows
    it holds), drawn as a binomial count and then that many distinct rows in random order.
    That costs O(rows kept) random draws instead of O(n): with tspi at 5% of 2M rows the
    full permutation took 0.47 us per trained row, ~10% of a hidden=[32] net's sample."""
    count = int(rng.binomial(n, keep))
    return rng.choice(n, size=count, replace=False, shuffle=True).astype(np.int64, copy=False)


def interleave(parts: list[np.ndarray]) -> np.ndarray:
    """The chunks' visits merged as if they were trained at the same time, each keeping its order.

    H2O trains its chunks concurrently, one per core, so the shared weights see rows of many
    chunks at once. A rank with fewer threads than chunks would otherwise walk its chunks one
    after another, i.e. a file sorted by the response in order (iris, 1 thread: one class per
    third of an epoch, 67% accuracy). Row ``i`` of a part of length ``L`` goes to position
    ``(i + 1/2) / L`` of the iteration; ties keep the chunks' order.
    """
    if len(parts) <= 1:
        return parts[0] if parts else np.empty(0, np.int64)
    keys = np.concatenate([(np.arange(p.size) + 0.5) / p.size for p in parts])
    return np.concatenate(parts)[np.argsort(keys, kind="stable")]


def cut_to(counts: list[int], remaining: int) -> list[int]:
    """Rows each rank keeps so that an iteration trains at most ``remaining`` rows cluster-wide.

    When the ranks drew more than ``remaining``, each keeps the first rows of its visit, in
    shares proportional to what it drew (largest remainder): the run ends at exactly
    ``epochs * N`` samples instead of overshooting as H2O does.
    """
    if sum(counts) <= remaining:
        return list(counts)
    return split_shares(max(0, remaining), [float(c) for c in counts])


def split_shares(total: int, weights: list[float]) -> list[int]:
    """Integer shares of ``total`` proportional to ``weights`` (largest remainder), summing to total."""
    w = np.asarray(weights, dtype=np.float64)
    if w.sum() <= 0:
        return [0] * len(weights)
    exact = total * w / w.sum()
    shares = np.floor(exact).astype(np.int64)
    for i in np.argsort(-(exact - shares), kind="stable")[: total - int(shares.sum())]:
        shares[i] += 1
    return shares.tolist()


@dataclass(frozen=True)
class Visiting:
    """One rank's row visiting for a whole run; :meth:`positions` gives one iteration's rows."""

    n_local: int  # rows in this rank's list
    n_rows: int  # N: cluster-wide rows of one epoch
    replicas: int  # training ranks that each hold all rows (1 for sharded data)
    n_chunks: int
    shuffle: bool
    seed: int
    rank: int
    weights: np.ndarray | None = field(default=None, compare=False, repr=False)  # per position, or None

    def positions(self, iteration: int, tspi: int) -> np.ndarray:
        """Positions in the rank's row list to train in ``iteration`` with ``tspi`` cluster-wide."""
        fraction = row_fraction(tspi, self.n_rows, self.replicas)
        return visit(
            self.n_local,
            fraction=fraction,
            n_chunks=self.n_chunks,
            shuffle=self.shuffle,
            stop_after=fraction * self.n_rows,
            seed=self.seed,
            rank=self.rank,
            iteration=iteration,
            weights=self.weights,
        )


# -- which rows of the frame a rank holds (replicate_training_data = false) ------------------
# A shard is blocks of rows dealt round-robin over the whole frame: rank r holds blocks r,
# r + ranks, r + 2 ranks, ... A contiguous slice per rank trained each rank on a biased
# sample of a sorted file (by time, customer or label) and the averaged model drifted
# (sorted iris, 3 ranks: 20% error against 2.7% replicated); interleaved blocks give every
# rank rows from all over the file, as H2O-3's chunks spread over its nodes. The pattern is
# one regular HDF5 hyperslab (start, stride, count, block), so a rank reads only its rows.
SHARD_BLOCK_ROWS = 4096  # at most: 16 blocks to an HDF5 chunk of 65,536 rows
SHARD_BLOCKS_PER_RANK = 16  # at least, so that a small frame's blocks are small (iris, 3 ranks: 3 rows)


@dataclass(frozen=True)
class Shard:
    """One rank's rows of an ``nrow``-row frame: blocks of ``block`` rows starting at frame row
    ``first``, one block every ``step`` rows, the last one cut at the frame's end."""

    first: int
    block: int
    step: int
    nrow: int

    @property
    def whole(self) -> bool:
        """The shard is every row of the frame, in order."""
        return self.first == 0 and self.step == self.block and self.block >= self.nrow

    @property
    def n_blocks(self) -> int:
        return 0 if self.first >= self.nrow else -(-(self.nrow - self.first) // self.step)

    @property
    def size(self) -> int:
        """Rows in the shard."""
        n = self.n_blocks
        if n == 0:
            return 0
        last = self.first + (n - 1) * self.step
        return (n - 1) * self.block + min(self.block, self.nrow - last)

    def frame_rows(self, positions: np.ndarray) -> np.ndarray:
        """Frame rows of positions 0 .. size-1 in the shard (its rows in frame order)."""
        p = np.asarray(positions, dtype=np.int64)
        return self.first + (p // self.block) * self.step + p % self.block


def shard_block_rows(nrow: int, ranks: int) -> int:
    """Rows per block: at most SHARD_BLOCK_ROWS, and small enough that every rank gets at least
    SHARD_BLOCKS_PER_RANK blocks (a representative mix of a small sorted frame)."""
    return max(1, min(SHARD_BLOCK_ROWS, int(nrow) // (max(1, int(ranks)) * SHARD_BLOCKS_PER_RANK)))


def shard(nrow: int, rank: int, ranks: int, *, replicated: bool = False) -> Shard:
    """The rows of ``rank`` out of ``ranks``: all of them when replicated or alone, else every
    ranks-th block from block ``rank`` on. Each row belongs to exactly one rank; shard sizes
    differ by at most one block."""
    nrow = int(nrow)
    if replicated or ranks <= 1:
        whole = max(1, nrow)
        return Shard(0, whole, whole, nrow)
    block = shard_block_rows(nrow, ranks)
    return Shard(int(rank) * block, block, int(ranks) * block, nrow)


def unrepresentative_class(counts: np.ndarray, classes: list[str]) -> str | None:
    """What makes the shards unrepresentative of the frame, or None: ``counts`` is ranks x classes
    (each rank's usable training rows per class). A class is flagged when a rank that trains has
    none of it although it should hold at least 5 rows of it, or when its share on a rank is
    under half or over twice its share of the frame, more than 4 standard deviations away from
    what a random draw of the rank's rows would give (so random shards of unsorted data pass).
    The worst such class is named."""
    counts = np.asarray(counts, dtype=np.float64)
    total, per_rank = counts.sum(axis=0), counts.sum(axis=1)
    if total.sum() <= 0:
        return None
    share = total / total.sum()
    expected = per_rank[:, None] * share[None, :]
    sd = np.sqrt(expected * (1.0 - share[None, :]))
    with np.errstate(divide="ignore", invalid="ignore"):
        rank_share = np.where(per_rank[:, None] > 0, counts / per_rank[:, None], share[None, :])
    missing = (counts == 0) & (expected >= 5)
    gross = ((rank_share < share / 2) | (rank_share > 2 * share)) & (np.abs(counts - expected) > 4 * sd)
    flagged = (missing | gross) & (per_rank[:, None] > 0) & (total[None, :] > 0)
    if not flagged.any():
        return None
    if (flagged & (counts == 0)).any():  # a missing class says the most: name it first
        flagged &= counts == 0
    z = np.where(flagged, np.abs(counts - expected) / np.maximum(sd, 1e-12), -1.0)
    r, c = np.unravel_index(int(np.argmax(z)), z.shape)
    frame_pct = f"{100 * share[c]:.3g}% of the frame's rows"
    if counts[r, c] == 0:
        return f"class {classes[c]!r} is missing from rank {r}'s shard ({frame_pct})"
    return f"class {classes[c]!r} is {100 * rank_share[r, c]:.3g}% of rank {r}'s shard against {frame_pct}"
