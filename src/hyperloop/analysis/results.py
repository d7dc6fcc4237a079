"""Write and read ``AnalysisResults.root``: one TDirectory per task instance, ROOT histograms.

Histograms are held as :class:`StoredHistogram` (flat ROOT-layout arrays plus the additive
statistics ROOT keeps), the common currency of writing, reading and merging.
1-3 dimensions become TH1/TH2/TH3 (Mean storage: TProfile/2D/3D), more become a real
``THnT<double>`` (THnD), or ``THnSparseT<TArrayD>`` on request; uproot cannot write those,
so :mod:`hyperloop.analysis.thn` serialises them with their StreamerInfo.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import uproot
import uproot.writing.identify as ident

from hyperloop.analysis.ao2d_writer import COMPRESSIONS
from hyperloop.analysis.thn import DEFAULT_CHUNK_SIZE, WritableTHn, unpack_coordinates

TH_STATS = {
    1: ("fEntries", "fTsumw", "fTsumw2", "fTsumwx", "fTsumwx2"),
    2: ("fEntries", "fTsumw", "fTsumw2", "fTsumwx", "fTsumwx2", "fTsumwy", "fTsumwy2", "fTsumwxy"),
    3: (
        *("fEntries", "fTsumw", "fTsumw2", "fTsumwx", "fTsumwx2", "fTsumwy", "fTsumwy2"),
        *("fTsumwxy", "fTsumwz", "fTsumwz2", "fTsumwxz", "fTsumwyz"),
    ),
}
PROFILE_STATS = {1: ("fTsumwy", "fTsumwy2"), 2: ("fTsumwz", "fTsumwz2"), 3: ("fTsumwt", "fTsumwt2")}
PROFILE_OPTIONS = {
    1: ("fYmin", "fYmax", "fErrorMode"),
    2: ("fZmin", "fZmax", "fErrorMode"),
    3: ("fTmin", "fTmax", "fErrorMode"),
}
THN_STATS = ("fEntries", "fTsumw", "fTsumw2", "fTsumwx", "fTsumwx2")
_TH_RE = re.compile(r"^TH([123])([CSIFD])$")
_PROFILE_RE = re.compile(r"^TProfile(2D|3D)?$")
_THN_RE = re.compile(r"^THnT<(double|float)>$")
_SPARSE_RE = re.compile(r"^THnSparseT<TArray([FD])>$")
_DTYPES = {"C": np.int8, "S": np.int16, "I": np.int32, "F": np.float32, "D": np.float64}


class ResultsError(ValueError):
    """A results file or histogram that cannot be written or read as asked."""


@dataclass
class Axis:
    """One ROOT axis: ``edges`` is None for regular binning; ``labels`` names bins (cut flows)."""

    nbins: int
    low: float
    high: float
    edges: np.ndarray | None = None
    labels: list[str] | None = None
    title: str = ""

    def all_edges(self) -> np.ndarray:
        if self.edges is not None:
            return np.asarray(self.edges, dtype=np.float64)
        return np.linspace(self.low, self.high, self.nbins + 1)

    def centers(self) -> np.ndarray:
        e = self.all_edges()
        return 0.5 * (e[:-1] + e[1:])

    def same_binning(self, other: Axis) -> bool:
        """Same bins (edges and labels); titles may differ."""
        return (
            self.nbins == other.nbins
            and np.allclose(self.all_edges(), other.all_edges(), rtol=1e-12, atol=0.0)
            and (self.labels or None) == (other.labels or None)
        )


@dataclass
class StoredHistogram:
    """A ROOT histogram as arrays: everything merging adds up, plus what it keeps from the first.

    ``contents``/``sumw2``/``bin_entries``/``bin_sumw2`` are flat, float64, in ROOT's storage
    order with under/overflow (TH*: x fastest; THn: axis 0 slowest). ``sumw2`` is None when the
    histogram has no Sumw2 (then the variance is the content). ``stats`` holds ROOT's additive
    statistics (fEntries, fTsumw, fTsumw2, fTsumwx, ...; arrays per axis for THn).
    """

    classname: str
    title: str
    axes: list[Axis]
    contents: np.ndarray
    sumw2: np.ndarray | None
    stats: dict[str, Any]
    bin_entries: np.ndarray | None = None
    bin_sumw2: np.ndarray | None = None
    options: dict[str, float] = field(default_factory=dict)
    coords: np.ndarray | None = None  # THnSparse: (n, ndim) bin indices of the filled bins

    @property
    def ndim(self) -> int:
        return len(self.axes)

    @property
    def entries(self) -> float:
        return float(self.stats["fEntries"])

    @property
    def is_profile(self) -> bool:
        return self.classname.startswith("TProfile")

    @property
    def is_thn(self) -> bool:
        """THn or THnSparse (statistics kept per axis, fTsumw2 = -1 without Sumw2)."""
        return self.classname.startswith("THn")

    @property
    def is_sparse(self) -> bool:
        return self.coords is not None

    def _shaped(self, flat: np.ndarray) -> np.ndarray:
        """Flat ROOT layout -> array indexed [x, y, z, ...] with flow bins (sparse: densified)."""
        shape = tuple(a.nbins + 2 for a in self.axes)
        if self.is_sparse:
            dense = np.zeros(shape)
            np.add.at(dense, tuple(self.coords.T), flat)
            return dense
        if self.is_thn:
            return flat.reshape(shape)
        return flat.reshape(shape[::-1]).T

    def _cut(self, arr: np.ndarray, flow: bool) -> np.ndarray:
        return arr if flow else arr[tuple(slice(1, -1) for _ in self.axes)]

    def values(self, flow: bool = False) -> np.ndarray:
        """Bin contents (profiles: the mean per bin), indexed [x, y, ...]."""
        data = self._shaped(self.contents)
        if self.is_profile:
            n = self._shaped(self.bin_entries)
            with np.errstate(divide="ignore", invalid="ignore"):
                data = np.where(n != 0, data / np.where(n != 0, n, 1), 0.0)
        return self._cut(data, flow)

    def variances(self, flow: bool = False) -> np.ndarray:
        """Sum of weights squared per bin (the contents where there is no Sumw2)."""
        if self.is_profile:
            raise ResultsError("variances() of a profile are not defined here; use bin_sumw2")
        flat = self.sumw2 if self.sumw2 is not None else self.contents
        return self._cut(self._shaped(flat), flow)

    def to_hist(self) -> Any:
        """A hist.Hist with the same bins and contents (Weight storage if it has Sumw2)."""
        import hist

        if self.is_profile:
            raise ResultsError(f"{self.classname} cannot be converted to hist here")
        axes = []
        for i, a in enumerate(self.axes):
            if a.labels:
                axes.append(hist.axis.StrCategory(a.labels, name=f"x{i}", label=a.title))
            elif a.edges is not None:
                axes.append(hist.axis.Variable(a.edges, name=f"x{i}", label=a.title))
            else:
                axes.append(hist.axis.Regular(a.nbins, a.low, a.high, name=f"x{i}", label=a.title))
        weighted = self.sumw2 is not None
        storage = hist.storage.Weight() if weighted else hist.storage.Double()
        h = hist.Hist(*axes, storage=storage, label=self.title)
        view = h.view(flow=True)
        vals = self.values(flow=True)
        region = _flow_region(h.axes)
        if weighted:
            view.value = vals[region]
            view.variance = self.variances(flow=True)[region]
        else:
            view[...] = vals[region]
        return h


# ----------------------------------------------------------------------------- from hist


@dataclass
class HistogramOutput:
    """A hist.Hist with what ROOT needs and hist lacks: the number of fills and a title.

    ``title`` may be O2-style ``"title;x label;y label"`` (axis titles override axis labels).
    Any object with ``.hist`` (and optional ``.entries``, ``.title``, ``.sparse``) is accepted
    likewise.
    """

    hist: Any
    entries: float | None = None
    title: str | None = None
    sparse: bool = False  # write a THnSparseD (O2's kTHnSparseD) instead of TH*/THnD


def _flow_region(axes: Any) -> tuple[slice, ...]:
    """Where hist's flow view sits inside ROOT's (n+2)-per-axis layout."""
    region = []
    for ax in axes:
        n = len(ax)
        start = 0 if ax.traits.underflow else 1
        stop = n + 2 if ax.traits.overflow else n + 1
        region.append(slice(start, stop))
    return tuple(region)


def _axis_from_hist(ax: Any, title_override: str | None) -> Axis:
    import boost_histogram as bh

    label = vars(ax).get("label") or getattr(ax, "label", "") or ""
    if re.fullmatch(r"Axis \d+", label) and not getattr(ax, "name", ""):
        label = ""  # hist's placeholder for an unlabelled axis
    title = title_override if title_override is not None else label
    if isinstance(ax, bh.axis.StrCategory | bh.axis.IntCategory):
        labels = [str(v) for v in ax] or [""]  # a growing axis never filled: one empty bin
        return Axis(len(labels), 0.0, float(len(labels)), None, labels, title)
    edges = np.asarray(ax.edges, dtype=np.float64)
    regular = isinstance(ax, bh.axis.Regular) and getattr(ax, "transform", None) is None
    return Axis(len(ax), float(edges[0]), float(edges[-1]), None if regular else edges, None, title)


def _stats(inner: np.ndarray, inner_w2: np.ndarray, axes: list[Axis], thn: bool) -> dict:
    """ROOT's fTsumw, fTsumw2, fTsumwx... from in-range bins at bin centres (as ResetStats)."""
    c = [a.centers() for a in axes]
    nd = len(axes)
    proj = [inner.sum(axis=tuple(j for j in range(nd) if j != i)) for i in range(nd)]
    sumx = [float(p @ ci) for p, ci in zip(proj, c, strict=True)]
    sumx2 = [float(p @ ci**2) for p, ci in zip(proj, c, strict=True)]
    out: dict[str, Any] = {"fTsumw": float(inner.sum()), "fTsumw2": float(inner_w2.sum())}
    if thn:
        out["fTsumwx"] = np.array(sumx)
        out["fTsumwx2"] = np.array(sumx2)
        return out
    names = "xyz"
    for i in range(nd):
        out[f"fTsumw{names[i]}"] = sumx[i]
        out[f"fTsumw{names[i]}2"] = sumx2[i]
    for i in range(nd):
        for j in range(i + 1, nd):
            pij = inner.sum(axis=tuple(k for k in range(nd) if k not in (i, j)))
            out[f"fTsumw{names[i]}{names[j]}"] = float(c[i] @ pij @ c[j])
    return out


def from_hist(
    h: Any, *, entries: float | None = None, title: str | None = None, sparse: bool = False
) -> StoredHistogram:
    """Convert a hist.Hist (Double/Int64/Weight storage) into a TH1D/TH2D/TH3D or THnD.

    ``entries`` is ROOT's fEntries (number of fill calls). If None: ``h.metadata["entries"]``
    when metadata is a dict, else the sum of all contents (exact for unweighted fills) or, for
    weighted storage, the effective entries (sum w)^2 / sum w^2. ``sparse`` makes a
    THnSparseD of the non-empty bins (any dimension).
    """
    import boost_histogram as bh

    meta = vars(h).get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    if title is None:
        title = meta.get("title") or getattr(h, "label", None) or getattr(h, "name", None) or ""
    parts = title.split(";")
    axis_titles = parts[1:] + [None] * h.ndim
    axes = [_axis_from_hist(ax, axis_titles[i]) for i, ax in enumerate(h.axes)]
    storage = h.storage_type
    if storage in (bh.storage.Mean, bh.storage.WeightedMean):
        if sparse or h.ndim > 3:
            raise ResultsError("profiles (Mean storage) exist in 1-3 dimensions, not sparse")
        return _profile_from_hist(h, axes, parts[0], entries, meta)
    weighted = storage is bh.storage.Weight
    view = h.view(flow=True)
    shape = tuple(a.nbins + 2 for a in axes)
    data = np.zeros(shape)
    w2 = np.zeros(shape) if weighted else None
    region = _flow_region(h.axes)
    if weighted:
        data[region] = view.value
        w2[region] = view.variance
    else:
        data[region] = np.asarray(view, dtype=np.float64)
    inner = tuple(slice(1, -1) for _ in axes)
    thn = h.ndim > 3 or sparse
    stats = _stats(data[inner], (w2 if weighted else data)[inner], axes, thn)
    if entries is None:
        entries = meta.get("entries")
    if entries is None:
        if weighted:
            sw2 = w2.sum()
            entries = data.sum() ** 2 / sw2 if sw2 > 0 else 0.0
        else:
            entries = data.sum()
    stats["fEntries"] = float(entries)
    if thn and not weighted:
        stats["fTsumw2"] = -1.0  # THnBase::GetCalculateErrors() is fTsumw2 >= 0
    if sparse:
        filled = np.nonzero(data != 0 if w2 is None else (data != 0) | (w2 != 0))
        return StoredHistogram(
            classname="THnSparseT<TArrayD>",
            title=parts[0],
            axes=axes,
            contents=data[filled],
            sumw2=w2[filled] if weighted else None,
            stats=stats,
            coords=np.stack(filled, axis=1).astype(np.int64),
        )
    if thn:
        classname = "THnT<double>"
        flat = lambda a: a.reshape(-1)  # noqa: E731 - C order, axis 0 slowest
    else:
        classname = f"TH{h.ndim}D"
        flat = lambda a: a.T.reshape(-1)  # noqa: E731 - ROOT order, x fastest
    return StoredHistogram(
        classname=classname,
        title=parts[0],
        axes=axes,
        contents=flat(data),
        sumw2=flat(w2) if weighted else None,
        stats=stats,
    )


def _profile_from_hist(
    h: Any, axes: list[Axis], title: str, entries: float | None, meta: dict
) -> StoredHistogram:
    """hist Mean/WeightedMean storage -> TProfile/2D/3D (sums of w, w*y, w*y^2, w^2 per bin)."""
    import boost_histogram as bh

    view = h.view(flow=True)
    if h.storage_type is bh.storage.WeightedMean:
        sw, sw2, dev = (
            view[k]
            for k in ("sum_of_weights", "sum_of_weights_squared", "_sum_of_weighted_deltas_squared")
        )
    else:
        sw = view["count"]
        sw2, dev = sw, view["_sum_of_deltas_squared"]
    mean = view["value"]
    shape = tuple(a.nbins + 2 for a in axes)
    region = _flow_region(h.axes)
    arrays = {}
    for key, src in (("n", sw), ("n2", sw2), ("wy", sw * mean), ("wy2", dev + sw * mean**2)):
        full = np.zeros(shape)
        full[region] = src
        arrays[key] = full
    inner = tuple(slice(1, -1) for _ in axes)
    stats = _stats(arrays["n"][inner], arrays["n2"][inner], axes, thn=False)
    ykey = {1: "y", 2: "z", 3: "t"}[h.ndim]
    stats[f"fTsumw{ykey}"] = float(arrays["wy"][inner].sum())
    stats[f"fTsumw{ykey}2"] = float(arrays["wy2"][inner].sum())
    if entries is None:
        entries = meta.get("entries", arrays["n"].sum())
    stats["fEntries"] = float(entries)
    flat = {k: a.T.reshape(-1) for k, a in arrays.items()}
    return StoredHistogram(
        classname={1: "TProfile", 2: "TProfile2D", 3: "TProfile3D"}[h.ndim],
        title=title,
        axes=axes,
        contents=flat["wy"],
        sumw2=flat["wy2"],
        stats=stats,
        bin_entries=flat["n"],
        bin_sumw2=flat["n2"] if h.storage_type is bh.storage.WeightedMean else None,
        options={k: 0.0 if k != "fErrorMode" else 0 for k in PROFILE_OPTIONS[h.ndim]},
    )


def _as_stored(obj: Any) -> StoredHistogram:
    if isinstance(obj, StoredHistogram):
        return obj
    if hasattr(obj, "hist") and not hasattr(obj, "axes"):
        settle = getattr(obj, "settle", None)
        if callable(settle):  # a registry histogram: its weighted parts added (in order)
            settle()
        stored = from_hist(
            obj.hist,
            entries=getattr(obj, "entries", None),
            title=getattr(obj, "title", None),
            sparse=bool(getattr(obj, "sparse", False)),
        )
        for axis, labels in (getattr(obj, "bin_labels", None) or {}).items():
            if any(labels):  # TAxis::SetBinLabel on numeric bins
                stored.axes[axis].labels = list(labels)
        return stored
    if hasattr(obj, "axes") and hasattr(obj, "view"):
        return from_hist(obj)
    raise ResultsError(f"cannot write {type(obj).__name__} as a ROOT histogram")


# ----------------------------------------------------------------------------- to uproot


def _to_taxis(axis: Axis, name: str) -> Any:
    labels = None
    if axis.labels:
        items = []
        for i, text in enumerate(axis.labels):
            if text == "":
                continue
            s = ident.to_TObjString(text)
            s._bases[0]._members["@fUniqueID"] = i + 1  # TAxis::SetBinLabel convention
            items.append(s)
        labels = ident.to_THashList(items)
    edges = np.asarray(axis.edges, dtype=">f8") if axis.edges is not None else None
    return ident.to_TAxis(
        fName=name,
        fTitle=axis.title,
        fNbins=axis.nbins,
        fXmin=axis.low,
        fXmax=axis.high,
        fXbins=edges,
        fLabels=labels,
    )


def to_writable(h: StoredHistogram, name: str | None = None) -> Any:
    """An uproot-writable model of ``h`` in its ROOT class (TH*x, TProfile*, THn*).

    ``name`` sets the object's own fName (needed inside a TList; a key name overrides it).
    """
    model = _to_writable(h)
    if name is not None:
        if isinstance(model, WritableTHn):
            model.name = name
        else:
            _tnamed(model)._members["fName"] = name
    return model


def _tnamed(model: Any) -> Any:
    if isinstance(model, uproot.models.TNamed.Model_TNamed):
        return model
    for base in getattr(model, "_bases", ()):
        found = _tnamed(base)
        if found is not None:
            return found
    return None


def list_writable(items: Mapping[str, StoredHistogram], name: str, classname: str = "TList"):
    """A TList/THashList of histograms (O2's ``OutputObj<TList>``), with their StreamerInfos."""
    return list_of_models([to_writable(h, n) for n, h in items.items()], name, classname)


def list_of_models(models: list[Any], name: str, classname: str = "TList") -> Any:
    """A TList/THashList of uproot-writable models (lists too), with all their StreamerInfos."""
    make = ident.to_THashList if classname == "THashList" else ident.to_TList
    container = make(models, name=name)
    streamers: dict[Any, Any] = {}
    for m in [container, *models]:
        for s in m.class_rawstreamers:
            key = (s[2], s[3]) if isinstance(s, tuple) else (s.name, s.class_version)
            streamers.setdefault(key, s)
    container.class_rawstreamers = tuple(streamers.values())
    return container


def _to_writable(h: StoredHistogram) -> Any:
    if h.is_thn:
        return WritableTHn(
            title=h.title,
            taxes=[_to_taxis(a, f"axis{i}") for i, a in enumerate(h.axes)],
            nbins=[a.nbins for a in h.axes],
            stats=h.stats,
            contents=h.contents,
            sumw2=h.sumw2,
            single=h.classname in ("THnT<float>", "THnSparseT<TArrayF>"),
            coords=h.coords,
            chunk_size=int(h.options.get("fChunkSize", DEFAULT_CHUNK_SIZE)),
        )
    names = ("xaxis", "yaxis", "zaxis")
    taxes = {f"f{n[0].upper()}axis": _to_taxis(a, n) for a, n in zip(h.axes, names, strict=False)}
    sumw2 = np.asarray(h.sumw2, dtype=np.float64) if h.sumw2 is not None else None
    m = _TH_RE.match(h.classname)
    if m:
        dtype = _DTYPES[m.group(2)]
        data = h.contents
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            data = np.clip(np.rint(data), info.min, info.max)
        stats = {k: h.stats[k] for k in TH_STATS[h.ndim]}
        build = {1: ident.to_TH1x, 2: ident.to_TH2x, 3: ident.to_TH3x}[h.ndim]
        return build(
            fName=None, fTitle=h.title, data=data.astype(dtype), fSumw2=sumw2, **stats, **taxes
        )
    if _PROFILE_RE.match(h.classname):
        stats = {k: h.stats[k] for k in TH_STATS[h.ndim] + PROFILE_STATS[h.ndim]}
        build = {1: ident.to_TProfile, 2: ident.to_TProfile2D, 3: ident.to_TProfile3D}[h.ndim]
        bin_sumw2 = h.bin_sumw2 if h.bin_sumw2 is not None else np.array([], np.float64)
        return build(
            fName=None,
            fTitle=h.title,
            data=h.contents.astype(np.float64),
            fSumw2=sumw2,
            fBinEntries=h.bin_entries.astype(np.float64),
            fBinSumw2=bin_sumw2.astype(np.float64),
            **stats,
            **taxes,
            **h.options,
        )
    raise ResultsError(f"writing {h.classname} is not supported")


# ----------------------------------------------------------------------------- files


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def make_codec(compression: str, level: int) -> Any:
    try:
        return COMPRESSIONS[compression](level)
    except KeyError:
        raise ResultsError(
            f"unknown compression {compression!r}; choose one of {', '.join(COMPRESSIONS)}"
        ) from None


def get_directory(root: Any, path: str) -> Any:
    """The writable directory at ``path`` ("a/b"), created as needed; "" is the file itself."""
    d = root
    for part in [p for p in path.split("/") if p]:
        d = d[part] if part in d.keys(recursive=False, cycle=False) else d.mkdir(part)
    return d


def write_histogram(directory: Any, name: str, h: StoredHistogram) -> None:
    """Write one histogram into an open uproot writable directory."""
    directory[name] = to_writable(h)


def write_results(
    path: str | os.PathLike,
    directories: Mapping[str, Mapping[str, Any]],
    *,
    compression: str = "zlib",
    level: int = 1,
) -> Path:
    """Write ``AnalysisResults.root``: ``{task-instance dir: {name: histogram}}``.

    A histogram is a :class:`HistogramOutput`, an object with ``.hist``/``.entries``/``.title``
    (the task registry's), a bare hist.Hist, or a :class:`StoredHistogram`. Directory names may
    contain "/" for nesting. Written atomically (temporary file renamed at the end).
    """
    codec = make_codec(compression, level)
    with atomic_output(path) as tmp, uproot.recreate(tmp, compression=codec) as f:
        for dname, hists in directories.items():
            if not dname.strip("/"):
                raise ResultsError(f"{path}: empty directory name for a task instance")
            d = get_directory(f, dname)
            for hname, obj in hists.items():
                try:
                    write_histogram(d, hname, _as_stored(obj))
                except ResultsError as exc:
                    raise ResultsError(f"{path}: {dname}/{hname}: {exc}") from None
    return Path(path)


# ----------------------------------------------------------------------------- reading


def _find_tarray(obj: Any) -> Any:
    if isinstance(obj, uproot.models.TArray.Model_TArray):
        return obj
    for base in getattr(obj, "_bases", ()):
        found = _find_tarray(base)
        if found is not None:
            return found
    return None


def _axis_from_root(ax: Any) -> Axis:
    nbins = int(ax.member("fNbins"))
    xbins = np.asarray(ax.member("fXbins"), dtype=np.float64)
    labels = None
    raw = ax.member("fLabels")
    if raw is not None and len(raw) > 0:
        labels = [""] * nbins
        for pos, item in enumerate(raw):
            idx = int(item.member("@fUniqueID")) or pos + 1
            if 1 <= idx <= nbins:
                labels[idx - 1] = str(item)
    return Axis(
        nbins,
        float(ax.member("fXmin")),
        float(ax.member("fXmax")),
        xbins if len(xbins) else None,
        labels,
        str(ax.member("fTitle")),
    )


def _optional(arr: Any) -> np.ndarray | None:
    a = np.asarray(arr, dtype=np.float64) if arr is not None else None
    return a if a is not None and a.size else None


def is_histogram_class(classname: str) -> bool:
    """True for the ROOT classes :func:`from_uproot` converts (and merging sums)."""
    patterns = (_TH_RE, _PROFILE_RE, _THN_RE, _SPARSE_RE)
    return any(p.match(classname) for p in patterns)


def from_uproot(obj: Any) -> StoredHistogram | None:
    """A StoredHistogram from an object uproot read, or None if its class is not a histogram
    this module handles (TH1-3 C/S/I/F/D, TProfile/2D/3D, THnT<double|float>,
    THnSparseT<TArrayD|F>)."""
    cls = obj.classname
    m = _TH_RE.match(cls)
    p = _PROFILE_RE.match(cls)
    if m or p:
        nd = int(m.group(1)) if m else {None: 1, "2D": 2, "3D": 3}[p.group(1)]
        axes = [_axis_from_root(obj.member(f"f{c}axis")) for c in "XYZ"[:nd]]
        keys = TH_STATS[nd] + (PROFILE_STATS[nd] if p else ())
        h = StoredHistogram(
            classname=cls,
            title=str(obj.member("fTitle")),
            axes=axes,
            contents=np.asarray(_find_tarray(obj), dtype=np.float64),
            sumw2=_optional(obj.member("fSumw2")),
            stats={k: float(obj.member(k)) for k in keys},
        )
        if p:
            h.bin_entries = np.asarray(obj.member("fBinEntries"), dtype=np.float64)
            h.bin_sumw2 = _optional(obj.member("fBinSumw2"))
            h.options = {k: obj.member(k) for k in PROFILE_OPTIONS[nd]}
        return h
    if _THN_RE.match(cls) or _SPARSE_RE.match(cls):
        axes = [_axis_from_root(ax) for ax in obj.member("fAxes")]
        stats = {k: float(obj.member(k)) for k in ("fEntries", "fTsumw", "fTsumw2")}
        for k in ("fTsumwx", "fTsumwx2"):
            stats[k] = np.asarray(obj.member(k), dtype=np.float64)
        if _SPARSE_RE.match(cls):
            return _sparse_from_uproot(obj, axes, stats)
        return StoredHistogram(
            classname=cls,
            title=str(obj.member("fTitle")),
            axes=axes,
            contents=np.asarray(obj.member("fArray").member("fData"), dtype=np.float64),
            sumw2=_optional(obj.member("fSumw2").member("fData")),
            stats=stats,
        )
    return None


def _sparse_from_uproot(obj: Any, axes: list[Axis], stats: dict) -> StoredHistogram:
    """THnSparse chunks -> filled-bin coordinates, contents and (optional) Sumw2."""
    coords, contents, sumw2 = [], [], []
    nbins = [a.nbins for a in axes]
    for chunk in obj.member("fBinContent"):
        size = int(chunk.member("fSingleCoordinateSize"))
        raw = np.asarray(chunk.member("fCoordinates")).view(np.uint8)
        n = len(raw) // size if size else 0
        coords.append(unpack_coordinates(raw[: n * size].reshape(n, size), nbins))
        contents.append(np.asarray(chunk.member("fContent"), dtype=np.float64)[:n])
        w2 = chunk.member("fSumw2")
        sumw2.append(None if w2 is None else np.asarray(w2, dtype=np.float64)[:n])
    has_w2 = bool(sumw2) and all(w is not None for w in sumw2)
    ndim = len(axes)
    return StoredHistogram(
        classname=obj.classname,
        title=str(obj.member("fTitle")),
        axes=axes,
        contents=np.concatenate(contents) if contents else np.zeros(0),
        sumw2=(np.concatenate(sumw2) if has_w2 else None) if stats["fTsumw2"] >= 0 else None,
        stats=stats,
        options={"fChunkSize": int(obj.member("fChunkSize"))},
        coords=np.concatenate(coords) if coords else np.zeros((0, ndim), dtype=np.int64),
    )


LIST_CLASSES = ("TList", "THashList")


def read_list(obj: Any, prefix: str = "") -> dict[str, dict[str, StoredHistogram]]:
    """The histograms of a TList/THashList, nested lists included: ``{sub-list path (""
    for the list itself): {name: histogram}}``. Items of other classes are left out; a second
    item of the same name gets " (2)" after its name."""
    out: dict[str, dict[str, StoredHistogram]] = {}
    for item in obj:
        if item is None:
            continue
        name = str(item.member("fName")) if item.has_member("fName") else ""
        if item.classname in LIST_CLASSES:
            path = f"{prefix}/{name}" if prefix else name
            for sub, hists in read_list(item, path).items():
                out.setdefault(sub, {}).update(hists)
            continue
        h = from_uproot(item)
        if h is None:
            continue
        here = out.setdefault(prefix, {})
        key, n = name, 1
        while key in here:
            n += 1
            key = f"{name} ({n})"
        here[key] = h
    return out


def walk(directory: Any, prefix: str = "") -> Iterator[tuple[str, str, str, Any]]:
    """Yield (directory path, object name, classname, directory) for every object, recursively.

    Objects should be read from the yielded directory (``directory[name]``): a path lookup
    from the file re-reads every directory on the way, quadratic in the number of objects.
    """
    for name, cls in directory.classnames(recursive=False, cycle=False).items():
        if cls in ("TDirectory", "TDirectoryFile"):
            yield from walk(directory[name], f"{prefix}{name}/")
        else:
            yield prefix.rstrip("/"), name, cls, directory


def read_results(path: str | os.PathLike) -> dict[str, dict[str, StoredHistogram]]:
    """Read every histogram of a results file: ``{dir path: {name: StoredHistogram}}``.

    Histograms inside a TList appear under ``"dir/listname"``, inside nested lists under
    ``"dir/listname/sublist"``; a second one of the same name gets " (2)". Objects that are
    not histograms (or of unsupported classes) are left out.
    """
    out: dict[str, dict[str, StoredHistogram]] = {}
    try:
        f = uproot.open(path)
    except Exception as exc:  # uproot raises several types for broken files
        raise ResultsError(f"{path}: cannot open as a ROOT file ({exc})") from exc
    with f:
        for dname, name, cls, d in walk(f):
            if cls in LIST_CLASSES:
                base = f"{dname}/{name}" if dname else name
                for sub, items in read_list(d[name]).items():
                    if items:
                        out.setdefault(f"{base}/{sub}" if sub else base, {}).update(items)
                continue
            h = from_uproot(d[name])
            if h is not None:
                out.setdefault(dname, {})[name] = h
    return out


# ----------------------------------------------------------------------------- listing


@dataclass
class ObjectInfo:
    """One object of a results file, nested lists included.

    ``path`` is where it sits ("dir/list/sublist/name"); ``key`` the path of the file key
    holding it; ``positions`` its index in each enclosing list (empty for a key's own object);
    ``bins`` (e.g. "100x50") and ``entries`` are set for histograms, ``items`` for lists and
    ``entries`` for trees (their number of entries).
    """

    path: str
    classname: str
    key: str
    positions: tuple[int, ...] = ()
    bins: str = ""
    entries: float | None = None
    items: int | None = None

    @property
    def depth(self) -> int:
        return self.path.count("/")


def _bins(obj: Any) -> str:
    cls = obj.classname
    if _THN_RE.match(cls) or _SPARSE_RE.match(cls):
        return "x".join(str(int(ax.member("fNbins"))) for ax in obj.member("fAxes"))
    nd = (
        3
        if cls.startswith(("TH3", "TProfile3D"))
        else 2
        if cls.startswith(("TH2", "TProfile2D"))
        else 1
    )
    return "x".join(str(int(obj.member(f"f{c}axis").member("fNbins"))) for c in "XYZ"[:nd])


def _list_entries(obj: Any, path: str, key: str, positions: tuple[int, ...], out: list) -> None:
    cls = obj.classname
    info = ObjectInfo(path, cls, key, positions)
    out.append(info)
    if cls in LIST_CLASSES or cls == "TObjArray":
        items = list(obj)
        info.items = len(items)
        for i, item in enumerate(items):
            if item is None:
                continue
            name = str(item.member("fName")) if item.has_member("fName") else f"#{i}"
            _list_entries(item, f"{path}/{name}", key, (*positions, i), out)
    elif is_histogram_class(cls):
        info.bins = _bins(obj)
        info.entries = float(obj.member("fEntries"))


def list_objects(path: str | os.PathLike) -> list[ObjectInfo]:
    """Every object of a results file in file order: directories, histograms, TLists and
    their contents (nested to any depth, same-named items each listed), trees and others."""
    label = Path(path).name  # messages may reach web users: no server paths
    try:
        f = uproot.open(path)
    except Exception as exc:  # uproot raises several types for broken files
        raise ResultsError(f"{label}: cannot open as a ROOT file ({exc})") from exc
    out: list[ObjectInfo] = []

    def visit(d: Any, prefix: str) -> None:
        for name, cls in d.classnames(recursive=False, cycle=False).items():
            full = f"{prefix}{name}"
            if cls in ("TDirectory", "TDirectoryFile"):
                out.append(ObjectInfo(full, cls, full))
                visit(d[name], f"{full}/")
            elif cls in ("TTree", "TNtuple"):
                out.append(ObjectInfo(full, cls, full, entries=float(d[name].num_entries)))
            else:
                try:
                    obj = d[name]
                except Exception as exc:
                    raise ResultsError(f"{label}: {full}: cannot read {cls} ({exc})") from exc
                _list_entries(obj, full, full, (), out)

    with f:
        visit(f, "")
    return out
