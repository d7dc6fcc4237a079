"""The histogram registry a task fills (O2's ``HistogramRegistry``), backed by hist.

Histograms are declared in ``Task.init`` with an O2-style title ``"title;x label;y label"``
and axes given as ``(nbins, lo, hi)``, a list of edges, a binning configurable value, or a
hist axis. Fills are vectorised; the number of entries (ROOT's ``fEntries``) is counted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import hist
import numpy as np


class HistogramError(ValueError):
    """A histogram declared or filled wrongly."""


@dataclass
class Histogram:
    """A hist.Hist plus what ROOT needs and hist lacks: a title and the entry count."""

    name: str
    title: str
    hist: hist.Hist
    entries: float = 0.0
    _direct: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # regular/variable axes only: their C++ fill takes float arrays as they are
        if all(isinstance(ax, hist.axis.Regular | hist.axis.Variable) for ax in self.hist.axes):
            self._direct = getattr(self.hist, "_hist", None)

    @property
    def ndim(self) -> int:
        return self.hist.ndim

    def fill(self, *values: Any, weight: Any = None) -> None:
        """Fill with one array per axis (same length), optionally weighted."""
        if len(values) != self.hist.ndim:
            raise HistogramError(
                f"histogram {self.name!r} has {self.hist.ndim} axes, fill got {len(values)} arrays"
            )
        arrays = [np.asarray(v) for v in values]
        n = arrays[0].size if arrays[0].ndim else 1
        if weight is None and self._direct and all(a.dtype.kind == "f" for a in arrays):
            # unweighted float arrays: straight to boost-histogram's C++ fill, which is what
            # hist's fill ends up calling after ~0.4 ms of per-call Python checks
            self._direct.fill(*arrays)
        elif weight is None:
            self.hist.fill(*arrays)
        else:
            self.hist.fill(*arrays, weight=weight)
        self.entries += n

    def reset(self) -> None:
        self.hist.reset()
        self.entries = 0.0


def make_axis(spec: Any, index: int, labels: Sequence[str]) -> hist.axis.AxesMixin:
    """An axis from ``(n, lo, hi)``, a list of edges, a binning value or a hist axis."""
    name = f"x{index}"
    label = labels[index] if index < len(labels) else ""
    if isinstance(spec, hist.axis.AxesMixin) or hasattr(spec, "traits") and hasattr(spec, "edges"):
        return spec
    axis_method = getattr(spec, "axis", None)
    if callable(axis_method):  # a BinningValue from a ConfigurableAxis
        return axis_method(name, label)
    if isinstance(spec, tuple) and len(spec) == 3:
        nbins, lo, hi = spec
        if int(nbins) != nbins or nbins <= 0 or not lo < hi:
            raise HistogramError(f"fixed binning needs (nbins > 0, min < max), got {spec}")
        return hist.axis.Regular(int(nbins), float(lo), float(hi), name=name, label=label)
    if isinstance(spec, (list, np.ndarray)):
        edges = np.asarray(spec, dtype=float)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise HistogramError(f"variable binning needs increasing edges, got {list(spec)}")
        return hist.axis.Variable(edges, name=name, label=label)
    raise HistogramError(f"cannot make a histogram axis from {spec!r}")


class HistogramRegistry:
    """Named histograms of one task instance, written to its AnalysisResults directory."""

    def __init__(self, owner: str = "") -> None:
        self.owner = owner
        self._items: dict[str, Histogram] = {}

    def add(
        self,
        name: str,
        title: str,
        axes: Sequence[Any],
        *,
        weighted: bool = False,
        categories: Sequence[str] | None = None,
    ) -> Histogram:
        """Declare a histogram; ``title`` is O2-style ``"title;x;y;z"``.

        ``categories`` makes a 1D labelled histogram (e.g. an event-selection cut flow);
        fill it with bin indices or labels.
        """
        if name in self._items:
            raise HistogramError(f"histogram {name!r} declared twice in {self.owner}")
        parts = title.split(";")
        labels = parts[1:]
        if categories is not None:
            axis_list = [
                hist.axis.StrCategory(
                    list(categories), name="x0", label=labels[0] if labels else ""
                )
            ]
        else:
            if not axes:
                raise HistogramError(f"histogram {name!r} needs at least one axis")
            axis_list = [make_axis(spec, i, labels) for i, spec in enumerate(axes)]
        storage = hist.storage.Weight() if weighted else hist.storage.Double()
        h = hist.Hist(*axis_list, storage=storage, name=name, label=parts[0])
        item = Histogram(name=name, title=parts[0], hist=h)
        self._items[name] = item
        return item

    def fill(self, name: str, *values: Any, weight: Any = None) -> None:
        self[name].fill(*values, weight=weight)

    def __getitem__(self, name: str) -> Histogram:
        try:
            return self._items[name]
        except KeyError:
            raise HistogramError(
                f"{self.owner}: no histogram {name!r}; declared: {', '.join(self._items) or 'none'}"
            ) from None

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[Histogram]:
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def names(self) -> list[str]:
        return list(self._items)
