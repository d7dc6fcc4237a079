"""The histogram registry a task fills (O2's ``HistogramRegistry``), backed by hist.

Histograms are declared in ``Task.init`` with an O2-style title ``"title;x label;y label"``
and axes given as ``(nbins, lo, hi)``, a list of edges, a binning configurable value, or a
hist axis. Fills are vectorised; the number of entries (ROOT's ``fEntries``) is counted.

The kind is O2's ``HistType`` (``kTH1D``, ``kTH2F``, ``kTHnSparseD``, ``kTProfile``, ...):
histograms are written as TH1D/TH2D/TH3D/THnD (float and int kinds too: contents are
doubles), THnSparseD, or TProfile/TProfile2D/TProfile3D. A profile is filled with one
array per axis plus the values averaged per bin (``fill(mult, pt)`` for <pT> vs
multiplicity), as O2's ``fill(HIST("p"), mult, pt)``.

Bit-identical sums on any number of cores (SPEC §7): unweighted fills add whole numbers,
exact in any order, and go straight into the histogram. Weighted fills (weights need not
be whole) go into a scratch histogram of the current dataframe; the runtime *seals* it after
each dataframe, and the histogram's weighted part is the sum of the dataframes' parts added
one after the other **in input order** (profiles, whose sums of values are not whole
numbers either, too), whichever process filled them: one process adds
each part as it is sealed; processes that share the dataframes (several cores) keep their
parts (the bins they touched) and the one that finalizes adds all of them in dataframe
order (``settle``, before ``finalize``). So 1, 2 or N cores give the same bits.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import hist
import numpy as np

from hyperloop.analysis.configurables import histogram_bin_limit

LAST = 2**62  # the key of fills settled without a seal: after every dataframe


class HistogramError(ValueError):
    """A histogram declared or filled wrongly."""


class HistType:
    """O2's ``HistType`` names (``HistType.kTProfile``); strings ``"TProfile"`` work too."""

    kTH1F = "TH1F"
    kTH1D = "TH1D"
    kTH1I = "TH1I"
    kTH1C = "TH1C"
    kTH2F = "TH2F"
    kTH2D = "TH2D"
    kTH2I = "TH2I"
    kTH2C = "TH2C"
    kTH3F = "TH3F"
    kTH3D = "TH3D"
    kTH3I = "TH3I"
    kTH3C = "TH3C"
    kTHnF = "THnF"
    kTHnD = "THnD"
    kTHnI = "THnI"
    kTHnC = "THnC"
    kTHnSparseF = "THnSparseF"
    kTHnSparseD = "THnSparseD"
    kTHnSparseI = "THnSparseI"
    kTHnSparseC = "THnSparseC"
    kTProfile = "TProfile"
    kTProfile2D = "TProfile2D"
    kTProfile3D = "TProfile3D"


_KIND_RE = re.compile(r"^k?(?:(TH([123])|THn|THnSparse)[FDIC]|TProfile(2D|3D)?)$")


def _parse_kind(name: str, kind: str, naxes: int) -> tuple[bool, bool]:
    """(profile, sparse) of an O2 kind; the number of axes must fit it."""
    match = _KIND_RE.match(str(kind))
    if match is None:
        known = ", ".join(k for k in vars(HistType) if k.startswith("k"))
        raise HistogramError(f"histogram {name!r}: unknown kind {kind!r} (kinds: {known})")
    fixed, dim, pdim = match.group(1), match.group(2), match.group(3)
    profile = fixed is None
    want = int(dim) if dim else (int(pdim[0]) if pdim else 1) if profile else None
    if want is not None and naxes != want:
        raise HistogramError(f"histogram {name!r}: a {kind} has {want} axes, got {naxes}")
    return profile, bool(fixed and fixed.startswith("THnSparse"))


@dataclass
class Histogram:
    """A hist.Hist plus what ROOT needs and hist lacks: a title and the entry count."""

    name: str
    title: str
    hist: hist.Hist
    entries: float = 0.0
    sparse: bool = False  # written as THnSparseD (O2's kTHnSparse*)
    #: axis -> one label per bin ("" unlabelled), ROOT's TAxis::SetBinLabel
    bin_labels: dict[int, list[str]] = field(default_factory=dict)
    _direct: Any = field(default=None, init=False, repr=False, compare=False)
    _labels: dict[str, int] | None = field(default=None, init=False, repr=False, compare=False)
    # weighted fills of the current dataframe; their sum over the sealed dataframes; or the
    # sealed parts themselves (dataframe key, flat bin indices, values) when kept
    _pending: Any = field(default=None, init=False, repr=False, compare=False)
    _touched: bool = field(default=False, init=False, repr=False, compare=False)
    _folded: Any = field(default=None, init=False, repr=False, compare=False)
    _parts: list[tuple[int, Any, Any]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        # regular/variable axes only: their C++ fill takes float arrays as they are
        if all(isinstance(ax, hist.axis.Regular | hist.axis.Variable) for ax in self.hist.axes):
            self._direct = getattr(self.hist, "_hist", None)
        axes = self.hist.axes
        if (
            len(axes) == 1
            and isinstance(axes[0], hist.axis.StrCategory)
            and not axes[0].traits.growth
            and isinstance(self.hist.storage_type(), hist.storage.Double)
        ):
            # a labelled histogram (cut flow): bin of each label; unknown labels -> overflow
            self._labels = {label: i for i, label in enumerate(axes[0])}

    @property
    def ndim(self) -> int:
        return self.hist.ndim

    @property
    def is_profile(self) -> bool:
        return isinstance(self.hist.storage_type(), hist.storage.Mean | hist.storage.WeightedMean)

    @property
    def kind(self) -> str:
        """The ROOT class it is written as (``TH1D``, ``TProfile``, ``THnSparseD``, ...)."""
        if self.is_profile:
            return {1: "TProfile", 2: "TProfile2D", 3: "TProfile3D"}[self.ndim]
        if self.sparse:
            return "THnSparseD"
        return f"TH{self.ndim}D" if self.ndim <= 3 else "THnD"

    def set_bin_label(self, bin: int, label: str, axis: int = 0) -> None:
        """Name bin ``bin`` (1-based, as ROOT's ``GetXaxis()->SetBinLabel(bin, label)``)."""
        if not 0 <= axis < self.ndim:
            raise HistogramError(f"histogram {self.name!r} has no axis {axis}")
        ax = self.hist.axes[axis]
        if not isinstance(ax, hist.axis.Regular | hist.axis.Variable | hist.axis.Integer):
            raise HistogramError(f"histogram {self.name!r}: axis {axis} already has labels")
        n = int(ax.size)
        if not 1 <= int(bin) <= n:
            raise HistogramError(
                f"histogram {self.name!r}: bin {bin} out of range 1..{n} (bins count from 1)"
            )
        labels = self.bin_labels.setdefault(axis, [""] * n)
        labels[int(bin) - 1] = str(label)

    def set_bin_labels(self, labels: Sequence[str], axis: int = 0) -> None:
        """Name the first ``len(labels)`` bins of an axis in order."""
        for i, label in enumerate(labels, start=1):
            self.set_bin_label(i, label, axis)

    def fill(self, *values: Any, weight: Any = None) -> None:
        """Fill with one array per axis (same length), optionally weighted; a profile takes
        one more array, the values averaged in each bin."""
        if self.is_profile:
            self._fill_profile(values, weight)
            return
        if len(values) != self.hist.ndim:
            raise HistogramError(
                f"histogram {self.name!r} has {self.hist.ndim} axes, fill got {len(values)} arrays"
            )
        arrays = [np.asarray(v) for v in values]
        n = arrays[0].size if arrays[0].ndim else 1
        if weight is None and self._labels is not None and arrays[0].dtype.kind in "US":
            self._fill_labels(arrays[0].reshape(-1))
        elif weight is None:
            _fill(self.hist, self._direct, arrays, None)
        else:  # into this dataframe's part (see the module doc)
            if self._pending is None:
                self._pending = _empty_like(self.hist)
            pending = self._pending
            _fill(pending, pending._hist if self._direct is not None else None, arrays, weight)
            self._touched = True
        self.entries += n

    def _fill_profile(self, values: tuple[Any, ...], weight: Any) -> None:
        if len(values) != self.ndim + 1:
            raise HistogramError(
                f"profile {self.name!r} has {self.ndim} axes: fill it with {self.ndim} arrays "
                f"of positions and one of values, got {len(values)} arrays"
            )
        arrays = [np.asarray(v) for v in values]
        # sums of values are not whole numbers: into this dataframe's part, added in input
        # order like weighted fills (see the module doc), so profiles too are bit-identical
        if self._pending is None:
            self._pending = _empty_like(self.hist)
        if weight is None:
            self._pending.fill(*arrays[:-1], sample=arrays[-1])
        else:
            self._pending.fill(*arrays[:-1], sample=arrays[-1], weight=np.asarray(weight, float))
        self._touched = True
        self.entries += arrays[0].size if arrays[0].ndim else 1

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if not self._touched:
            state["_pending"] = None  # an empty scratch histogram: not worth sending
        return state

    def keep_parts(self) -> None:
        """Keep each sealed dataframe's weighted part instead of adding it at once: this
        process sees only some of the dataframes (the one that finalizes adds them all)."""
        if self._parts is None:
            self._parts = []

    def seal(self, key: int) -> None:
        """End of dataframe number ``key`` (input order) for this histogram: add its weighted
        part to the sum of the previous ones, or keep it (``keep_parts``)."""
        if not self._touched:
            return
        self._touched = False
        pending = self._pending
        if self._parts is not None:
            views = _value_arrays(pending)
            if views is None:  # a storage whose merge is not a sum (means): the whole part
                self._parts.append((key, None, pending.copy()))
            else:
                touched = np.zeros(views[0].shape, dtype=bool)
                for v in views:
                    touched |= v != 0
                index = np.flatnonzero(touched)
                self._parts.append((key, index, [v.reshape(-1)[index] for v in views]))
        else:
            if self._folded is None:
                self._folded = _empty_like(self.hist)
            self._folded += pending
        pending.reset()

    def settle(self) -> None:
        """Add the weighted parts, in dataframe order, to the histogram (before ``finalize``
        and before the histogram is written or read as a whole). Fills not sealed yet count
        as the last dataframe's."""
        if self._touched:
            self.seal(LAST)
        if self._parts:
            if self._folded is None:
                self._folded = _empty_like(self.hist)
            folded = _value_arrays(self._folded)
            for _key, index, values in sorted(self._parts, key=lambda part: part[0]):
                if index is None:
                    self._folded += values
                    continue
                for view, vals in zip(folded, values, strict=True):  # type: ignore[arg-type]
                    where = np.unravel_index(index, view.shape)
                    view[where] = view[where] + vals
            self._parts = []
        if self._folded is not None:
            self.hist += self._folded
            self._folded = None

    def _fill_labels(self, labels: np.ndarray) -> None:
        """Count labels run by run: cut flows are filled with ``np.repeat(labels, counts)``,
        long runs of one label that hist would look up one string at a time (~100 ns each)."""
        n = labels.size
        if n == 0:
            return
        width = labels.dtype.itemsize
        word = np.uint64 if width % 8 == 0 else np.uint32 if width % 4 == 0 else np.uint8
        k = width // np.dtype(word).itemsize
        flat = np.ascontiguousarray(labels).view(word)
        # one contiguous pass: a word differing from the same word of the previous label
        starts = np.unique(np.flatnonzero(flat[k:] != flat[:-k]) // k) + 1
        starts = np.concatenate(([0], starts))
        if starts.size > 64 and starts.size * 8 > n:  # no long runs: hist's own fill
            self.hist.fill(labels)
            return
        lengths = np.diff(np.append(starts, n))
        view = self.hist.view(flow=True)
        overflow = len(self._labels)  # StrCategory: the flow bin follows the labels
        for start, length in zip(starts.tolist(), lengths.tolist(), strict=True):
            label = labels[start]
            label = label.decode() if isinstance(label, bytes) else str(label)
            view[self._labels.get(label, overflow)] += length

    def merge(self, other: Histogram) -> None:
        """Add ``other`` (the same histogram filled elsewhere, e.g. by a pipelined copy)."""
        if other.hist.axes != self.hist.axes:
            raise HistogramError(
                f"histogram {self.name!r}: cannot add a histogram with different axes"
            )
        if other._touched:  # fills of the other not sealed: its last dataframe's
            other.seal(LAST)
        self.hist += other.hist  # unweighted fills: whole numbers, exact in any order
        self.entries += other.entries
        for axis, labels in other.bin_labels.items():
            self.bin_labels.setdefault(axis, list(labels))
        if other._parts:
            self.keep_parts()
            self._parts.extend(other._parts)  # type: ignore[union-attr]
        if other._folded is not None:
            if self._folded is None:
                self._folded = _empty_like(self.hist)
            self._folded += other._folded

    def reset(self) -> None:
        self.hist.reset()
        self.entries = 0.0
        self._touched = False
        for h in (self._pending, self._folded):
            if h is not None:
                h.reset()
        if self._parts is not None:
            self._parts = []


def _empty_like(h: hist.Hist) -> hist.Hist:
    out = h.copy()
    out.reset()
    return out


def _value_arrays(h: hist.Hist) -> list[np.ndarray] | None:
    """Writable views of a histogram's bins (with flow): the sums, and the sums of squared
    weights for a weighted storage; None for a storage that is not sums (a profile's means:
    its parts are kept and merged whole, in order)."""
    view = h.view(flow=True)
    if not view.dtype.names:
        return [view]
    if set(view.dtype.names) == {"value", "variance"}:
        return [view["value"], view["variance"]]
    return None


def _fill(h: hist.Hist, direct: Any, arrays: list[np.ndarray], weight: Any) -> None:
    if direct is not None and all(a.dtype.kind in "fiub" for a in arrays):
        # numeric arrays on regular/variable axes: straight to boost-histogram's C++ fill
        # (it converts to double itself), which is what hist's fill ends up calling
        # after ~0.4 ms of per-call Python checks and casts
        if weight is None:
            direct.fill(*arrays)
        else:
            direct.fill(*arrays, weight=np.asarray(weight, dtype=np.float64))
    elif weight is None:
        h.fill(*arrays)
    else:
        h.fill(*arrays, weight=weight)


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
        kind: str | None = None,
        *,
        weighted: bool = False,
        categories: Sequence[str] | None = None,
    ) -> Histogram:
        """Declare a histogram; ``title`` is O2-style ``"title;x;y;z"``.

        ``kind`` is O2's ``HistType`` (``HistType.kTProfile``, ``"TH2F"``,
        ``"THnSparseD"``; default: TH1D/TH2D/TH3D/THnD by the number of axes).
        ``weighted`` keeps the sum of squared weights (ROOT's Sumw2) for weighted fills.
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
        bins = 1
        for ax in axis_list:
            bins *= int(ax.size)
        limit = histogram_bin_limit()
        if bins > limit:
            shape = " x ".join(str(int(ax.size)) for ax in axis_list)
            size = f"{shape} = {bins}" if len(axis_list) > 1 else str(bins)
            raise HistogramError(
                f"histogram {name!r} of {self.owner or 'a task'}: {size} bins is more than "
                f"the limit of {limit} (setting max_histogram_bins)"
            )
        profile, sparse = _parse_kind(name, kind, len(axis_list)) if kind else (False, False)
        if profile:
            storage = hist.storage.WeightedMean() if weighted else hist.storage.Mean()
        else:
            storage = hist.storage.Weight() if weighted else hist.storage.Double()
        h = hist.Hist(*axis_list, storage=storage, name=name, label=parts[0])
        item = Histogram(name=name, title=parts[0], hist=h, sparse=sparse)
        self._items[name] = item
        return item

    def add_clone(self, source: str, target: str) -> list[Histogram]:
        """O2's ``addClone``: copy every histogram whose name starts with ``source`` (a
        folder such as ``"data/"``) to the same name under ``target`` (``"mc/"``), empty."""
        made = []
        for hname, h in list(self._items.items()):
            if not hname.startswith(source):
                continue
            new_name = target + hname[len(source) :]
            if new_name in self._items:
                raise HistogramError(f"histogram {new_name!r} declared twice in {self.owner}")
            clone = Histogram(
                name=new_name,
                title=h.title,
                hist=h.hist.copy(),
                sparse=h.sparse,
            )
            clone.hist.reset()
            clone.bin_labels = {a: list(v) for a, v in h.bin_labels.items()}
            self._items[new_name] = clone
            made.append(clone)
        if not made:
            raise HistogramError(f"{self.owner}: no histogram starts with {source!r} to clone")
        return made

    addClone = add_clone  # noqa: N815 - O2's spelling

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

    def keep_parts(self) -> None:
        """See ``Histogram.keep_parts``: this process runs the task on some dataframes only."""
        for h in self._items.values():
            h.keep_parts()

    def seal(self, key: int) -> None:
        """The task is done with dataframe number ``key`` (input order)."""
        for h in self._items.values():
            if h._touched:
                h.seal(key)

    def settle(self) -> None:
        """Every histogram whole (weighted parts added in dataframe order)."""
        for h in self._items.values():
            h.settle()
