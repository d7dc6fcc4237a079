"""Event mixing as in O2Physics: a binning policy and mixed pairs of collisions.

O2 writes::

    using BinningType = ColumnBinningPolicy<aod::collision::PosZ, aod::mult::MultFT0C>;
    BinningType binning{{axisVertex, axisMultiplicity}, true};
    SameKindPair<aod::Collisions, aod::Tracks, BinningType> pair{binning, nMix, -1, &cache};
    for (auto& [c1, tracks1, c2, tracks2] : pair) { ... }

Here, for all collision pairs of a dataframe at once::

    binning = BinningPolicy(fPosZ=self.binsVtxZ, fMultFT0C=self.binsMult)
    mixed = SameKindPair(binning, depth=self.nMix).mix(collisions, tracks)
    mixed.first, mixed.second      # track rows: every track of c1 with every track of c2

Collisions are put in bins of the policy's columns (outside the edges: no bin, never mixed).
Within a bin, in row order, each collision is paired with the next ``depth`` collisions of
the same bin (O2's ``CombinationsBlockStrictlyUpperSameIndexPolicy``): a collision is never
mixed with itself, and each pair of collisions appears once. Mixing stays within one
dataframe, as in O2, so the pairs do not depend on how files are split over cores.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from hyperloop.analysis.frame import Grouping, Table

__all__ = ["BinningPolicy", "MixedPairs", "Pair", "SameKindPair", "mixed_collision_pairs"]


def _edges(column: str, axis: Any) -> np.ndarray:
    """Bin edges from a ``ConfigurableAxis`` value (fixed or variable) or a list of edges."""
    edges = getattr(axis, "edges", axis)
    try:
        edges = np.array(edges, dtype=np.float64)  # a copy, made read-only
    except (TypeError, ValueError):
        raise ValueError(f"binning of {column}: bin edges must be numbers, got {axis!r}") from None
    if edges.ndim != 1 or len(edges) < 2 or not np.all(np.isfinite(edges)):
        raise ValueError(f"binning of {column}: need at least two finite edges, got {axis!r}")
    if np.any(np.diff(edges) <= 0):
        raise ValueError(f"binning of {column}: edges must increase strictly, got {list(edges)}")
    edges.flags.writeable = False
    return edges


class BinningPolicy:
    """O2's ``ColumnBinningPolicy`` with overflows ignored: the mixing bin of each collision
    from bin edges per column, ``BinningPolicy(fPosZ=[-10, 0, 10], fMultFT0C=[0, 50, 500])``.

    Edges are lists of numbers or ``ConfigurableAxis`` values (fixed or variable width). A
    value belongs to bin ``i`` when ``edges[i] <= v < edges[i + 1]``; values outside, and NaN,
    give bin -1 (not mixed). The bin number is row-major over the columns, first one slowest.
    """

    #: configuration only, no state between dataframes: a task holding one may run as
    #: several copies over the dataframes (see ``plan.pipeline_blocker``)
    stateless: ClassVar[bool] = True

    def __init__(self, **axes: Sequence[float] | Any) -> None:
        if not axes:
            raise ValueError("a binning policy needs at least one column, e.g. fPosZ=[...]")
        self.axes: dict[str, np.ndarray] = {c: _edges(c, a) for c, a in axes.items()}

    @property
    def columns(self) -> list[str]:
        return list(self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        """Bins per column."""
        return tuple(len(e) - 1 for e in self.axes.values())

    @property
    def nbins(self) -> int:
        return int(np.prod(self.shape))

    def bin(self, collisions: Table) -> np.ndarray:
        """The bin of each row of ``collisions`` (a table or view with the policy's
        columns, joined as needed: ``Collisions + Mults``), -1 outside the edges."""
        out = np.zeros(len(collisions), dtype=np.int64)
        valid = np.ones(len(collisions), dtype=bool)
        for column, edges in self.axes.items():
            values = np.asarray(collisions[column], dtype=np.float64)
            b = np.searchsorted(edges, values, side="right") - 1
            valid &= (b >= 0) & (b < len(edges) - 1) & ~np.isnan(values)
            out = out * (len(edges) - 1) + np.clip(b, 0, len(edges) - 2)
        out[~valid] = -1
        return out

    def __repr__(self) -> str:
        axes = ", ".join(f"{c}[{len(e) - 1}]" for c, e in self.axes.items())
        return f"<BinningPolicy {axes}>"


def mixed_collision_pairs(bins: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``(c1, c2)`` of collisions to mix: in each bin (>= 0), in row order, each
    collision with the next ``depth`` collisions of the bin (c1 < c2, never c1 == c2).
    Ordered by bin, then c1, then c2."""
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ValueError(f"mixing depth must be a positive integer, got {depth!r}")
    bins = np.asarray(bins, dtype=np.int64)
    rows = np.flatnonzero(bins >= 0)
    order = rows[np.argsort(bins[rows], kind="stable")]  # by bin, then row
    sorted_bins = bins[order]
    n = len(order)
    firsts, seconds = [], []
    for k in range(1, min(int(depth), max(n - 1, 0)) + 1):
        pos = np.flatnonzero(sorted_bins[k:] == sorted_bins[:-k])  # position of c1
        if not len(pos):
            break  # no bin holds k + 1 collisions, so none holds more
        firsts.append(pos)
        seconds.append(pos + k)
    if not firsts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy()
    first, second = np.concatenate(firsts), np.concatenate(seconds)
    ordering = np.lexsort((second, first))
    return order[first[ordering]], order[second[ordering]]


def _cross(
    g1: Grouping, c1: np.ndarray, g2: Grouping, c2: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (row of group c1[p] in g1, row of group c2[p] in g2), for each p; and p."""
    n1, n2 = g1.counts[c1], g2.counts[c2]
    per_pair = n1 * n2
    pair = np.repeat(np.arange(len(c1), dtype=np.int64), per_pair)
    starts = np.cumsum(per_pair) - per_pair
    local = np.arange(len(pair), dtype=np.int64) - starts[pair]
    width = n2[pair]
    first = g1.sorted_rows[g1.offsets[c1][pair] + local // width]
    second = g2.sorted_rows[g2.offsets[c2][pair] + local % width]
    return first, second, pair


@dataclass(frozen=True)
class MixedPairs:
    """The mixed pairs of one dataframe.

    Per collision pair: ``collision1``, ``collision2`` (rows of the collisions view) and
    their ``bin``. Per track pair: ``first`` (row of the first tracks view, in collision1),
    ``second`` (row of the second view, in collision2) and ``pair`` (its collision pair).
    """

    collision1: np.ndarray
    collision2: np.ndarray
    bin: np.ndarray
    first: np.ndarray
    second: np.ndarray
    pair: np.ndarray
    grouping1: Grouping
    grouping2: Grouping

    def __len__(self) -> int:
        """Number of collision pairs."""
        return len(self.collision1)

    def __iter__(self) -> Iterator[tuple[int, Table, int, Table]]:
        """O2's ``for (auto& [c1, tracks1, c2, tracks2] : pair)``, for the rare loop: the
        two collision rows and their tracks as views (prefer ``first``/``second``)."""
        for c1, c2 in zip(self.collision1.tolist(), self.collision2.tolist(), strict=True):
            yield c1, self.grouping1.slice(c1), c2, self.grouping2.slice(c2)


class _Mixing:
    stateless: ClassVar[bool] = True  # a policy and a depth: nothing kept between dataframes

    def __init__(self, binning: BinningPolicy, depth: int = 5) -> None:
        if not isinstance(binning, BinningPolicy):
            raise TypeError(f"mixing needs a BinningPolicy, got {type(binning).__name__}")
        mixed_collision_pairs(np.zeros(0, dtype=np.int64), depth)  # checks depth
        self.binning = binning
        self.depth = int(depth)

    def _mix(self, collisions: Table, tracks1: Table, tracks2: Table) -> MixedPairs:
        bins = self.binning.bin(collisions)
        c1, c2 = mixed_collision_pairs(bins, self.depth)
        g1 = tracks1.grouped_by(collisions)
        g2 = g1 if tracks2 is tracks1 else tracks2.grouped_by(collisions)
        first, second, pair = _cross(g1, c1, g2, c2)
        return MixedPairs(c1, c2, bins[c1], first, second, pair, g1, g2)


class SameKindPair(_Mixing):
    """O2's ``SameKindPair<Collisions, Tracks, Binning>``: pairs of collisions of the same
    bin, and every track of one with every track of the other."""

    def mix(self, collisions: Table, tracks: Table) -> MixedPairs:
        """Mixed pairs of this dataframe: ``collisions`` (a view with the binning columns)
        and ``tracks`` (a view with an index column to them)."""
        return self._mix(collisions, tracks, tracks)


class Pair(_Mixing):
    """O2's ``Pair<Collisions, TracksA, TracksB, Binning>``: pairs of collisions of the same
    bin, every row of ``tracks1`` in the first with every row of ``tracks2`` in the second."""

    def mix(self, collisions: Table, tracks1: Table, tracks2: Table) -> MixedPairs:
        return self._mix(collisions, tracks1, tracks2)
