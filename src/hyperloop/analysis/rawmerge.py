"""Merge ROOT objects on their serialized bytes: the fast path of results merging.

An object (a histogram, or a TList/THashList holding histograms and further lists, any
depth) is parsed once into its *additive regions*: the byte ranges of bin contents, Sumw2,
profile bin entries and the summed statistics (fEntries, fTsumw, ...). Every other byte
(names, titles, axes, labels, class versions, options) must be identical in each input; the
sums are then accumulated in the class's own storage type, in input order (as ``hadd``
adds them), and written back into the first input's bytes. The merged object keeps its
class version, so the output carries the inputs' StreamerInfo records.

Anything this module does not understand byte for byte raises :class:`Unsupported`; the
caller then merges that object by reading it with uproot (the slow path) or refuses it.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import uproot
from isal import isal_zlib

BC = 0x40000000  # kByteCountMask
CLASS_MASK = 0x80000000  # kClassMask
NEW_CLASS = 0xFFFFFFFF  # kNewClassTag
MAP_OFFSET = 2  # kMapOffset
AXIS_RANGE = 1 << 11  # TAxis::kAxisRange
AXIS_INTEGER = 1 << 13  # TAxis::kIsInteger

_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")
_I16 = struct.Struct(">h")
_F64 = struct.Struct(">d")
_I64 = struct.Struct(">q")
_ARRAY_DTYPES = {"C": ">i1", "S": ">i2", "I": ">i4", "F": ">f4", "D": ">f8"}
_INT_LIMITS = {">i1": 127, ">i2": 32767, ">i4": 2147483647}
TH_CLASSES = {f"TH{n}{t}" for n in "123" for t in "CSIFD"}
PROFILE_CLASSES = {"TProfile": 1, "TProfile2D": 2, "TProfile3D": 3}
LIST_CLASSES = ("TList", "THashList")
SPARSE_CLASSES = {"THnSparseT<TArrayD>": ">f8", "THnSparseT<TArrayF>": ">f4"}
DENSE_CLASSES = {"THnT<double>": ">f8", "THnT<float>": ">f4"}


class Unsupported(Exception):
    """The bytes hold something the fast path cannot merge exactly (the reason says what)."""


@dataclass
class Buffered:
    """A 1-D histogram whose fills are still in its buffer (automatic axis range)."""

    stats: int  # fEntries, fTsumw, fTsumw2, fTsumwx, fTsumwx2
    limits: int  # fXaxis fXmin, fXmax
    check: tuple  # (stats at, cells at, dtype, (nbins,))
    buffer: int  # fBuffer[0] (number of fills), then (w, x) pairs
    size: int  # fBufferSize


def needs_recomputed_stats(data: bytes, check: tuple, *, profile: bool) -> bool:
    """True where ROOT's GetStats would recompute the statistics from the bins (fTsumw 0 but
    in-range bins filled; histograms also need fEntries non-zero): hadd then adds other
    numbers than the stored ones."""
    stats, cells, dtype, nbins = check
    entries, tsumw = struct.unpack_from(">dd", data, stats)
    if tsumw != 0 or (entries == 0 and not profile):
        return False
    shape = tuple(n + 2 for n in reversed(nbins))
    count = int(np.prod(shape))
    arr = np.frombuffer(data, dtype, count, cells).reshape(shape)
    return bool(np.any(arr[tuple(slice(1, -1) for _ in shape)] != 0))


@dataclass
class Skeleton:
    """Where the additive numbers of one serialized object are.

    ``regions`` are (start, stop, dtype) byte ranges, sorted and disjoint; ``items`` the
    histograms found (path inside the object, class), for reports and listings.
    """

    regions: list[tuple[int, int, str]] = field(default_factory=list)
    items: list[tuple[str, str]] = field(default_factory=list)
    sparse: SparseLayout | None = None  # the last THnSparse parsed (a top-level one: its own)
    keep: list[tuple[int, int]] = field(default_factory=list)  # the first input's, unchecked
    checks: list[tuple] = field(default_factory=list)  # (stats at, cells at, dtype, nbins)
    profile_checks: list[tuple] = field(default_factory=list)  # cells: the bin entries
    buffered: list[Buffered] = field(default_factory=list)


class ObjectBytes:
    """Big-endian reading of one serialized object's bytes ``b`` (shared by the histogram
    and tree parsers)."""

    b: bytes
    whole = "the object"  # names the end a byte count must not pass

    def u32(self, p: int) -> int:
        return _U32.unpack_from(self.b, p)[0]

    def i32(self, p: int) -> int:
        return _I32.unpack_from(self.b, p)[0]

    def i64(self, p: int) -> int:
        return _I64.unpack_from(self.b, p)[0]

    def f64(self, p: int) -> float:
        return _F64.unpack_from(self.b, p)[0]

    def header(self, p: int, what: str) -> tuple[int, int, int]:
        """A versioned header with byte count: (version, body start, end)."""
        x = self.u32(p)
        if not x & BC:
            raise Unsupported(f"{what} without byte count")
        end = p + 4 + (x & ~BC)
        if end > len(self.b):
            raise Unsupported(f"{what}: byte count past the end of {self.whole}")
        version = _I16.unpack_from(self.b, p + 4)[0]
        if version <= 0:
            raise Unsupported(f"{what}: version with checksum")
        return version, p + 6, end


class _Reader(ObjectBytes):
    def __init__(self, data: bytes, keylen: int) -> None:
        self.b = data
        self.keylen = keylen
        self.sk = Skeleton()
        self.in_profile = False
        self.th1_info: dict[str, Any] = {}

    def skip(self, p: int, what: str) -> int:
        return self.header(p, what)[2]

    def tstring(self, p: int) -> int:
        n = self.b[p]
        if n == 255:
            return p + 5 + self.i32(p + 1)
        return p + 1 + n

    def tobject(self, p: int) -> tuple[int, int]:
        """TObject (no byte count): returns (fBits, end)."""
        bits = self.u32(p + 6)
        return bits, p + 10 + (2 if bits & 0x10 else 0)  # kIsReferenced: a pid follows

    def add(self, start: int, stop: int, dtype: str) -> None:
        if stop > start:
            self.sk.regions.append((start, stop, dtype))

    def tarray(self, p: int, dtype: str, additive: bool) -> int:
        n = self.i32(p)
        size = np.dtype(dtype).itemsize
        stop = p + 4 + n * size
        if n < 0 or stop > len(self.b):
            raise Unsupported("array past the end of the object")
        if additive:
            self.add(p + 4, stop, dtype)
        return stop

    def pointer(self, p: int) -> tuple[str | None, int, int]:
        """An object pointer: (class name or None, object start, end)."""
        x = self.u32(p)
        if not x & BC:
            if x == 0:
                return None, p + 4, p + 4
            raise Unsupported("a reference to an object written earlier")
        end = p + 4 + (x & ~BC)
        tag = self.u32(p + 4)
        if tag == NEW_CLASS:
            stop = self.b.index(b"\x00", p + 8)
            return self.b[p + 8 : stop].decode("latin-1"), stop + 1, end
        if tag & CLASS_MASK:
            at = (tag & ~CLASS_MASK) - MAP_OFFSET - self.keylen
            if at < 0 or self.u32(at) != NEW_CLASS:
                raise Unsupported("unresolvable class reference")
            stop = self.b.index(b"\x00", at + 4)
            return self.b[at + 4 : stop].decode("latin-1"), p + 8, end
        raise Unsupported("unexpected object tag")

    # ------------------------------------------------------------------ classes

    def obj(self, cls: str, p: int, end: int, path: str) -> None:
        if cls in LIST_CLASSES:
            self.tlist(p, end, path)
        elif cls in TH_CLASSES:
            self.th(cls, p, end)
            self.sk.items.append((path, cls))
        elif cls in PROFILE_CLASSES:
            self.profile(cls, p, end)
            self.sk.items.append((path, cls))
        elif cls in SPARSE_CLASSES:
            self.sparse(cls, p, end)
            self.sk.items.append((path, cls))
        elif cls in DENSE_CLASSES:
            self.dense(cls, p, end)
            self.sk.items.append((path, cls))
        else:
            raise Unsupported(f"{path or 'object'} is a {cls}")

    def tlist(self, p: int, end: int, path: str) -> None:
        version, p, stop = self.header(p, "TList")
        if version < 4 or stop != end:
            raise Unsupported(f"TList version {version}")
        _, p = self.tobject(p)
        p = self.tstring(p)
        n = self.i32(p)
        p += 4
        for _ in range(n):
            cls, start, item_end = self.pointer(p)
            if cls is None:
                raise Unsupported(f"{path}: a null entry in a list")
            name = self._name_of(start)
            self.obj(cls, start, item_end, f"{path}/{name}" if path else name)
            p = item_end
            p += 1 + self.b[p]  # the entry's option string
        if p != end:
            raise Unsupported(f"{path}: list bytes left over")

    def _name_of(self, p: int) -> str:
        """fName of a TNamed-derived object starting at ``p`` (its own and bases' headers)."""
        for _ in range(6):
            x = self.u32(p)
            if not x & BC:
                break
            q = p + 6
            y = self.u32(q)
            if y & BC:  # another base class header
                p = q
                continue
            # TNamed body: TObject then fName (TList: TObject then fName too)
            _, q = self.tobject(q)
            n = self.b[q]
            return self.b[q + 1 : q + 1 + n].decode("latin-1", "replace")
        return "?"

    def th1(self, p: int) -> tuple[int, int]:
        """TH1 base: registers its regions; returns (end, version)."""
        version, p, end = self.header(p, "TH1")
        if not 5 <= version <= 8:
            raise Unsupported(f"TH1 version {version}")
        for what in ("TNamed", "TAttLine", "TAttFill", "TAttMarker"):
            p = self.skip(p, what)
        p += 4  # fNcells
        nbins, limits, axis_bits = [], [], []
        for _ in range(3):
            _, body, axis_end = self.header(p, "TAxis")
            _, named_body, _ = self.header(body, "TNamed")
            bits, _ = self.tobject(named_body)
            if bits & AXIS_RANGE:
                raise Unsupported("an axis with a restricted range (statistics recomputed)")
            q = self.skip(self.skip(body, "TNamed"), "TAttAxis")
            nbins.append(self.i32(q))
            limits.append(q + 4)  # fXmin, fXmax
            axis_bits.append(bits)
            p = axis_end
        p += 4  # fBarOffset, fBarWidth
        stats = p
        self.add(p, p + 40, ">f8")  # fEntries fTsumw fTsumw2 fTsumwx fTsumwx2
        p += 64  # + fMaximum fMinimum fNormFactor
        p = self.tarray(p, ">f8", additive=False)  # fContour
        sumw2 = self.i32(p)
        p = self.tarray(p, ">f8", additive=True)  # fSumw2
        p = self.tstring(p)  # fOption
        p = self.skip(p, "fFunctions")  # '->': streamed in place, never null
        size = self.i32(p)
        p += 4
        self.th1_info = {"stats": stats, "nbins": nbins, "limits": limits, "buffer": None}
        if size > 0 and p < end and self.b[p] and self.f64(p + 1) != 0:
            overflows = self.i32(end - 4) if version >= 8 else 0  # fStatOverflows
            if overflows == 1 or sumw2 or axis_bits[0] & AXIS_INTEGER:
                raise Unsupported("fills in the histogram's buffer (with options not supported)")
            self.th1_info["buffer"] = (p + 1, size)
        return end, version

    def th(self, cls: str, p: int, end: int) -> int:
        ndim = int(cls[2])
        _, p, stop = self.header(p, cls)
        p = self.th_base(ndim, p)
        info = self.th1_info
        cells = p + 4
        p = self.tarray(p, _ARRAY_DTYPES[cls[3]], additive=True)
        if p != stop or stop != end:
            raise Unsupported(f"{cls}: unexpected layout")
        check = (info["stats"], cells, _ARRAY_DTYPES[cls[3]], tuple(info["nbins"][:ndim]))
        if info["buffer"] is not None:
            if ndim != 1 or self.in_profile:
                raise Unsupported("fills in the buffer of a histogram of 2-3 dimensions")
            xmin, xmax = struct.unpack_from(">dd", self.b, info["limits"][0])
            if xmax > xmin or self.b[info["stats"] : info["stats"] + 40] != bytes(40):
                raise Unsupported("fills in the buffer of a histogram with a fixed axis range")
            item = Buffered(info["stats"], info["limits"][0], check, *info["buffer"])
            self.sk.buffered.append(item)
            self.sk.keep += [
                (item.limits, item.limits + 16),
                (item.buffer, item.buffer + 8 * item.size),
            ]
            return p
        if not self.in_profile:
            self.sk.checks.append(check)
            if needs_recomputed_stats(self.b, check, profile=False):
                raise Unsupported("statistics to recompute (fTsumw 0, in-range bins filled)")
        return p

    def th_base(self, ndim: int, p: int) -> int:
        if ndim == 1:
            return self.th1(p)[0]
        version, body, end = self.header(p, f"TH{ndim}")
        p, _ = self.th1(body)
        if ndim == 2:
            p += 8  # fScalefactor
            self.add(p, p + 24, ">f8")  # fTsumwy fTsumwy2 fTsumwxy
            p += 24
        else:
            p = self.skip(p, "TAtt3D")
            self.add(p, p + 56, ">f8")
            p += 56
        if p != end:
            raise Unsupported(f"TH{ndim} version {version}: unexpected layout")
        return p

    def profile(self, cls: str, p: int, end: int) -> None:
        ndim = PROFILE_CLASSES[cls]
        version, p, stop = self.header(p, cls)
        self.in_profile = True
        try:
            p = self.th(f"TH{ndim}D", p, self.header(p, "TH1D")[2])
        finally:
            self.in_profile = False
        info = self.th1_info
        check = (info["stats"], p + 4, ">f8", tuple(info["nbins"][:ndim]))
        self.sk.profile_checks.append(check)
        if needs_recomputed_stats(self.b, check, profile=True):
            raise Unsupported("profile statistics to recompute (fTsumw 0, bin entries filled)")
        p = self.tarray(p, ">f8", additive=True)  # fBinEntries
        p += 4 + 16  # fErrorMode, fYmin, fYmax
        self.add(p, p + 16, ">f8")  # fTsumwy fTsumwy2
        p += 16
        if p < stop:
            p = self.tarray(p, ">f8", additive=True)  # fBinSumw2
        if p != stop or stop != end:
            raise Unsupported(f"{cls} version {version}: unexpected layout")

    def thn_base(self, p: int) -> int:
        """THnBase: statistics (fTsumw2 -1 means no errors: kept, not summed)."""
        _, p, base_end = self.header(p, "THnBase")
        p = self.skip(p, "TNamed")
        p += 4  # fNdimensions
        p = self.skip(p, "fAxes")
        self.thn_stats = p
        tsumw2 = self.f64(p + 16)
        self.add(p, p + 16, ">f8")  # fEntries fTsumw
        if tsumw2 >= 0:
            self.add(p + 16, p + 24, ">f8")
        # fTsumwx, fTsumwx2: THnBase::Add leaves them as they are, so hadd keeps the first's
        q = p + 24
        p = self.tarray(q, ">f8", additive=False)
        p = self.tarray(p, ">f8", additive=False)
        self.sk.keep.append((q, p))
        if p != base_end:
            raise Unsupported("THnBase: unexpected layout")
        return p

    def ndarray(self, p: int, dtype: str) -> int:
        """TNDArrayT<T>: TNDArray (sizes) then the data vector, summed."""
        _, q, end = self.header(p, "TNDArrayT")
        q = self.skip(q, "TNDArray")
        _, r, vector_end = self.header(q, "vector")
        r = self.tarray(r, dtype, additive=True)
        if r != vector_end or vector_end != end:
            raise Unsupported("TNDArrayT: unexpected layout")
        return end

    def dense(self, cls: str, p: int, end: int) -> None:
        _, p, stop = self.header(p, cls)
        _, p, thn_end = self.header(p, "THn")
        p = self.thn_base(p)
        p = self.ndarray(p, ">f8")  # fSumw2
        if p != thn_end:
            raise Unsupported("THn: unexpected layout")
        p = self.ndarray(p, DENSE_CLASSES[cls])
        if p != stop or stop != end:
            raise Unsupported(f"{cls}: unexpected layout")

    def sparse(self, cls: str, p: int, end: int) -> None:
        _, p, stop = self.header(p, cls)
        _, p, sparse_end = self.header(p, "THnSparse")
        named = self.header(p, "THnBase")[1]
        p = self.thn_base(p)
        layout = SparseLayout(named, self.thn_stats, SPARSE_CLASSES[cls])
        p += 4 + 8  # fChunkSize, fFilledBins
        _, q, chunks_end = self.header(p, "fBinContent")
        _, q = self.tobject(q)
        q = self.tstring(q)
        n = self.i32(q)
        q += 8  # nobjects, fLowerBound
        dtype = SPARSE_CLASSES[cls]
        for _ in range(n):
            chunk_cls, start, chunk_end = self.pointer(q)
            if chunk_cls is None:
                q += 4
                continue
            if chunk_cls != "THnSparseArrayChunk":
                raise Unsupported(f"a {chunk_cls} among sparse chunks")
            _, r, _ = self.header(start, chunk_cls)
            _, r = self.tobject(r)
            single = self.i32(r)
            r += 4  # fSingleCoordinateSize
            size = self.i32(r)
            r += 4
            coords = r + 1 if self.b[r] else None
            r += 1 + (size if self.b[r] else 0)  # fCoordinates (flag byte, bytes)
            arrays: list[int | None] = []
            for array_dtype in (dtype, ">f8"):  # fContent, fSumw2
                acls, a, a_end = self.pointer(r)
                arrays.append(a + 4 if acls is not None else None)
                if acls is not None:
                    self.tarray(a, array_dtype, additive=True)
                r = a_end
            n = size // single if single else 0
            layout.chunks.append((coords, single, n, arrays[0], arrays[1]))
            if r != chunk_end:
                raise Unsupported("THnSparseArrayChunk: unexpected layout")
            q = chunk_end
        if q != chunks_end or chunks_end != sparse_end or sparse_end != stop or stop != end:
            raise Unsupported(f"{cls}: unexpected layout")
        self.sk.sparse = layout


@dataclass
class SparseLayout:
    """Where a THnSparse keeps its name, axes, statistics and filled bins (chunks of
    (coordinates at, bytes per coordinate, filled bins, contents at, Sumw2 at or None))."""

    named: int  # start of TNamed: name, title, axes up to ``stats``
    stats: int  # fEntries, fTsumw, fTsumw2, then fTsumwx and fTsumwx2 (TArrayD)
    dtype: str
    chunks: list[tuple[int | None, int, int, int | None, int | None]] = field(default_factory=list)


def sparse_arrays(data: bytes, layout: SparseLayout, ndim: int) -> dict[str, Any]:
    """Packed coordinates (n, bytes), contents, Sumw2 (or None) and statistics of a
    THnSparse's bytes, read at the places :func:`parse` found."""
    coords, contents, sumw2 = [], [], []
    has_w2 = True
    for at, single, n, content_at, w2_at in layout.chunks:
        if n == 0:
            continue
        raw = np.frombuffer(data, np.uint8, n * single, at)
        coords.append(raw.reshape(n, single))
        contents.append(np.frombuffer(data, layout.dtype, n, content_at).astype(np.float64))
        if w2_at is None:
            has_w2 = False
        else:
            sumw2.append(np.frombuffer(data, ">f8", n, w2_at).astype(np.float64))
    p = layout.stats
    entries, tsumw, tsumw2 = struct.unpack_from(">ddd", data, p)
    stats: dict[str, Any] = {"fEntries": entries, "fTsumw": tsumw, "fTsumw2": tsumw2}
    p += 24
    for key in ("fTsumwx", "fTsumwx2"):
        n = _I32.unpack_from(data, p)[0]
        stats[key] = np.frombuffer(data, ">f8", n, p + 4).astype(np.float64)
        p += 4 + 8 * n
    width = coords[0].shape[1] if coords else 0
    return {
        "coords": np.concatenate(coords) if coords else np.zeros((0, width), np.uint8),
        "contents": np.concatenate(contents) if contents else np.zeros(0),
        "sumw2": (np.concatenate(sumw2) if sumw2 else np.zeros(0)) if has_w2 else None,
        "stats": stats,
    }


def parse(classname: str, data: bytes, keylen: int) -> Skeleton:
    """The additive regions of one key's object (raises :class:`Unsupported`)."""
    r = _Reader(data, keylen)
    try:
        r.obj(classname, 0, len(data), "")
    except (struct.error, IndexError, ValueError) as exc:
        raise Unsupported(f"unexpected bytes ({exc})") from None
    r.sk.regions.sort()
    return r.sk


class Accumulator:
    """One object's running sum over the inputs, on the first input's bytes."""

    def __init__(self, data: bytes, skeleton: Skeleton) -> None:
        self.template = bytearray(data)  # becomes the result: written over at the end
        self.skeleton = skeleton
        fixed = [(a, b, "") for a, b in skeleton.keep]
        self.gaps = _gaps(sorted(skeleton.regions + fixed), len(data))
        self.ranges: dict[str, list[tuple[int, int]]] = {}  # dtype -> (offset, count)
        for start, stop, dtype in skeleton.regions:
            size = np.dtype(dtype).itemsize
            self.ranges.setdefault(dtype, []).append((start, (stop - start) // size))
        self.fills = [[_buffer_fills(data, b)] for b in skeleton.buffered]
        self.sums: dict[str, np.ndarray] = {}
        for dtype, ranges in self.ranges.items():
            self.sums[dtype] = np.empty(sum(n for _, n in ranges), dtype=_native(dtype))
            self._each(data, dtype, np.copyto)

    def _each(self, data: bytes, dtype: str, op: Any) -> None:
        acc, pos = self.sums[dtype], 0
        for a, n in self.ranges[dtype]:
            op(acc[pos : pos + n], np.frombuffer(data, dtype, n, a))
            pos += n

    def same_layout(self, data: bytes) -> bool:
        """Same bytes outside the sums (and nothing ROOT would recompute or empty otherwise)."""
        if len(data) != len(self.template):
            return False
        t, d = memoryview(self.template), memoryview(data)
        if not all(d[a:b] == t[a:b] for a, b in self.gaps):
            return False
        sk = self.skeleton
        if any(needs_recomputed_stats(data, c, profile=False) for c in sk.checks):
            return False
        if any(needs_recomputed_stats(data, c, profile=True) for c in sk.profile_checks):
            return False
        for b in sk.buffered:  # every input still buffered, nothing in the bins
            xmin, xmax = struct.unpack_from(">dd", data, b.limits)
            if xmax > xmin or data[b.stats : b.stats + 40] != bytes(40):
                return False
            if struct.unpack_from(">d", data, b.buffer)[0] <= 0:
                return False
        return True

    def add(self, data: bytes) -> None:
        """Add another input's object (call :meth:`same_layout` first)."""
        for fills, b in zip(self.fills, self.skeleton.buffered, strict=True):
            fills.append(_buffer_fills(data, b))
        for dtype, acc in self.sums.items():
            self._each(data, dtype, _iadd)
            if dtype in _INT_LIMITS:  # TH1I/S/C saturate like their AddBinContent
                limit = _INT_LIMITS[dtype]
                np.clip(acc, -limit, limit, out=acc)

    def result(self) -> bytearray:
        """The merged object's bytes (call once: the first input's bytes are reused)."""
        out = self.template
        for dtype, acc in self.sums.items():
            pos = 0
            for a, n in self.ranges[dtype]:
                np.frombuffer(out, dtype, n, a)[...] = acc[pos : pos + n]
                pos += n
        for fills, b in zip(self.fills, self.skeleton.buffered, strict=True):
            _empty_buffer(out, b, fills)
        return out


def _iadd(acc: np.ndarray, new: np.ndarray) -> None:
    np.add(acc, new, out=acc, casting="unsafe")


def _buffer_fills(data: bytes, b: Buffered) -> tuple[np.ndarray, np.ndarray]:
    """(x, w) of the fills in a histogram's buffer, in fill order."""
    n = int(struct.unpack_from(">d", data, b.buffer)[0])
    if n < 0 or 2 * n + 1 > b.size:
        raise Unsupported("a fill buffer with a negative or impossible count")
    pairs = np.frombuffer(data, ">f8", 2 * n, b.buffer + 8).astype(np.float64).reshape(n, 2)
    return pairs[:, 1], pairs[:, 0]


def _empty_buffer(out: bytearray, b: Buffered, fills: list) -> None:
    """What hadd writes for histograms whose fills are still in their buffers.

    hadd adds the inputs one at a time into the first. While the sum is still buffered
    (TH1Merger::BufferMerge) an input's fills go into its buffer; once the buffer is full the
    axis range is chosen from its fills (THLimitsFinder), they are filled in (TH1::DoFillN)
    and the rest directly (TH1::Fill). Once the sum has an axis, each further input is
    emptied on its own (its own range: it must be the same) and added bin by bin with its
    statistics (TH1Merger::SameAxesMerge). A sum that never filled its buffer stays buffered.
    The emptied buffer keeps its capacity (hadd deletes it: only that size field differs).
    """
    _, cells, dtype, (nbins,) = b.check
    room = 0
    while 2 * room + 2 < b.size:
        room += 1  # TH1::BufferFill empties the buffer when 2n + 2 >= fBufferSize
    state: dict[str, Any] | None = None  # the emptied sum, once there is one
    xs, ws = fills[0]
    for x_k, w_k in fills[1:]:
        if state is None:
            xs, ws = np.concatenate([xs, x_k]), np.concatenate([ws, w_k])
            if len(xs) > room:
                state = _fill(xs, ws, room, nbins, dtype)
            continue
        alone = _fill(x_k, w_k, room, nbins, dtype)
        if (alone["xmin"], alone["xmax"]) != (state["xmin"], state["xmax"]):
            raise Unsupported("buffered histograms whose fills give other axis ranges")
        state["contents"] += alone["contents"]
        state["stats"] = [a + c for a, c in zip(state["stats"], alone["stats"], strict=True)]
    if state is None:  # everything still fits in the buffer: the sum stays buffered
        pairs = np.empty((len(xs), 2))
        pairs[:, 0], pairs[:, 1] = ws, xs
        np.frombuffer(out, ">f8", b.size, b.buffer)[...] = 0.0
        np.frombuffer(out, ">f8", 1 + 2 * len(xs), b.buffer)[...] = [len(xs), *pairs.ravel()]
        return
    struct.pack_into(">dd", out, b.limits, state["xmin"], state["xmax"])
    struct.pack_into(">5d", out, b.stats, *state["stats"])
    np.frombuffer(out, dtype, nbins + 2, cells)[...] = state["contents"]
    np.frombuffer(out, ">f8", b.size, b.buffer)[...] = 0.0


def _fill(xs: np.ndarray, ws: np.ndarray, room: int, nbins: int, dtype: str) -> dict[str, Any]:
    """Empty a buffer of fills (the first ``room`` choose the axis range) into new bins."""
    if np.any(ws != 1.0):
        raise Unsupported("weighted fills in a buffer (ROOT would switch on Sumw2)")
    first = xs[: min(len(xs), room)]
    xmin, xmax = find_good_limits(float(first.min()), float(first.max()), nbins)
    inside = (xs >= xmin) & (xs < xmax)
    if not np.all(inside[len(first) :]):
        raise Unsupported("fills beyond the buffer's axis range (ROOT extends the axis)")
    bins = np.where(xs >= xmax, nbins + 1, 0)
    idx = np.nonzero(inside)[0]
    bins[idx] = 1 + (nbins * (xs[idx] - xmin) / (xmax - xmin)).astype(np.int64)
    contents = np.zeros(nbins + 2, dtype=np.int64 if dtype in _INT_LIMITS else dtype)
    np.add.at(contents, bins, ws.astype(contents.dtype))
    counted = (bins >= 1) & (bins <= nbins)
    w, x = ws[counted], xs[counted]
    stats = [float(len(xs))]
    for values in (w, w * w, w * x, w * x * x):
        stats.append(float(np.cumsum(values)[-1]) if len(values) else 0.0)  # in fill order
    return {"xmin": xmin, "xmax": xmax, "contents": contents, "stats": stats}


def _optimize(a1: float, a2: float, nold: int) -> tuple[float, float, int, float]:
    """THLimitsFinder::Optimize: round bin width and limits (binlow, binhigh, n, width)."""
    al, ah = min(a1, a2), max(a1, a2)
    if al == ah:
        ah = al + 1
    ntemp = max(nold, 2)
    while True:
        awidth = (ah - al) / ntemp
        if not 0 < awidth < 3.4028234663852886e38:
            raise Unsupported("no axis range can be found for the buffered fills")
        jlog = int(math.log10(awidth))
        if jlog < -200 or jlog > 200:
            return 0.0, 1.0, 100, 0.01
        if awidth <= 1:
            jlog -= 1
        sigfig = awidth * math.pow(10, -jlog) - 1e-10
        if sigfig <= 1:
            siground = 1.0
        elif sigfig <= 2:
            siground = 2.0
        elif sigfig <= 5:
            siground = 5.0
        else:
            siground = 1.0
            jlog += 1
        width = siground * math.pow(10, jlog)
        alb = al / width
        if abs(alb) > 1e9:
            return al, ah, nold, width
        lwid = int(alb) - (1 if alb < 0 else 0)
        binlow = width * lwid
        alb = ah / width + 1.00001
        kwid = int(alb) - (1 if alb < 0 else 0)
        binhigh = width * kwid
        nbins = kwid - lwid
        if nold <= 5:
            if nold <= 1 and nbins != 1:
                width *= 2
                nbins = 1
            break
        if 2 * nbins == nold:
            ntemp += 1
            continue
        break
    old = (binlow, binhigh, nbins)
    atest = width * 0.0001
    if al - binlow >= atest:
        binlow += width
        nbins -= 1
    if binhigh - ah >= atest:
        binhigh -= width
        nbins -= 1
    if binlow >= binhigh:
        binlow, binhigh, nbins = old
    return binlow, binhigh, nbins, width


def find_good_limits(xmin: float, xmax: float, nbins: int) -> tuple[float, float]:
    """The axis range ROOT (6.40, the hadd compared with) chooses when it empties the fill
    buffer of a histogram of ``nbins`` bins (not an integer axis): THLimitsFinder's rounded
    limits (FindGoodLimits / OptimizeLimits), widened where needed to leave 1% of the fills'
    range beyond the lowest and highest fill."""
    if xmin >= xmax:
        xmin, xmax = xmin - 1, xmax + 1
    low, high = _good_limits(xmin, xmax, nbins)
    margin = 0.01 * (xmax - xmin)
    return min(low, xmin - margin), max(high, xmax + margin)


def _good_limits(xmin: float, xmax: float, nbins: int) -> tuple[float, float]:
    dx = 0.1 * (xmax - xmin)
    umin, umax = xmin - dx, xmax + dx
    if umin < 0 and xmin >= 0:
        umin = 0.0
    if umax > 0 and xmax <= 0:
        umax = 0.0
    binlow, binhigh, _, width = _optimize(umin, umax, nbins) if umin < umax else (0, 0, 0, 0)
    if width <= 0 or width > 1e39:
        return -1.0, 1.0
    return binlow, binhigh


def _native(dtype: str) -> type:
    return np.int64 if dtype in _INT_LIMITS else np.dtype(dtype).newbyteorder("=").type


def _gaps(regions: list[tuple[int, int, str]], size: int) -> list[tuple[int, int]]:
    out, p = [], 0
    for start, stop, _ in regions:
        if start > p:
            out.append((p, start))
        p = stop
    if p < size:
        out.append((p, size))
    return out


# ----------------------------------------------------------------------------- key payloads


class _IsalZLIB(uproot.compression.ZLIB):
    """ROOT's ZLIB blocks written with ISA-L (same format, several times faster)."""

    def compress(self, data: bytes) -> bytes:
        return isal_zlib.compress(data, self.level)


def fast_codec(codec: Any) -> Any:
    """The same compression, through ISA-L for zlib levels 1-3 (what hadd writes by default)."""
    if type(codec) is uproot.compression.ZLIB and 1 <= codec.level <= 3:
        return _IsalZLIB(codec.level)
    return codec


_BLOCK = 0xFFFFFF  # a ROOT compression block holds at most 2**24 - 1 bytes
_INLINE = 1 << 20  # less than this many bytes: (de)compressed on the calling thread


def _compress_block(codec: Any, block: bytes) -> bytes | None:
    packed = codec.compress(block)
    # with its 9-byte header a block must be smaller than the bytes it holds: ROOT reads a
    # payload that is not smaller than the object as stored uncompressed
    if len(packed) + 9 >= len(block) or len(packed) > _BLOCK:
        return None
    n, c = len(block), len(packed)
    head = codec._2byte + codec._method + bytes((c & 255, c >> 8 & 255, c >> 16))
    return head + bytes((n & 255, n >> 8 & 255, n >> 16)) + packed


def compress_many(datas: list[bytes], codec: Any, pool: Any) -> list[bytes]:
    """Key payloads as ROOT writes them (9-byte block headers; an object whose blocks do not
    shrink is stored as is), blocks compressed on ``pool``'s threads."""
    if codec is None or codec.level == 0:
        return [bytes(d) for d in datas]
    if not isinstance(codec, uproot.compression.ZLIB | uproot.compression.ZSTD):
        return [uproot.compression.compress(bytes(d), codec) for d in datas]
    jobs = [(i, memoryview(d)[a : a + _BLOCK]) for i, d in enumerate(datas) for a in _starts(d)]
    small = sum(len(job[1]) for job in jobs) < _INLINE or len(jobs) == 1
    packed = (map if small else pool.map)(lambda job: _compress_block(codec, job[1]), jobs)
    out: list[list[bytes] | None] = [[] for _ in datas]
    for (i, _), block in zip(jobs, packed, strict=True):
        if block is None or out[i] is None:
            out[i] = None
        else:
            out[i].append(block)
    return [
        bytes(d) if parts is None else b"".join(parts) for d, parts in zip(datas, out, strict=True)
    ]


def _starts(data: bytes) -> range:
    return range(0, max(len(data), 1), _BLOCK)


def _blocks(raw: bytes) -> list[tuple[bytes, int, memoryview]]:
    view, out, p = memoryview(raw), [], 0
    while p < len(view):
        head = bytes(view[p : p + 9])
        if len(head) < 9:
            raise ValueError("truncated compression block header")
        csize = head[3] | head[4] << 8 | head[5] << 16
        usize = head[6] | head[7] << 8 | head[8] << 16
        block = view[p + 9 : p + 9 + csize]
        if len(block) != csize:
            raise ValueError("truncated compression block")
        out.append((head[:2], usize, block))
        p += 9 + csize
    return out


def _decompress_block(algo: bytes, usize: int, block: memoryview) -> bytes:
    if algo == b"ZL":
        data = isal_zlib.decompress(block)
    elif algo == b"L4":
        import lz4.block

        data = lz4.block.decompress(bytes(block[8:]), uncompressed_size=usize)
    elif algo == b"ZS":
        import zstandard

        data = zstandard.ZstdDecompressor().decompress(bytes(block), max_output_size=usize)
    elif algo == b"XZ":
        import lzma

        data = lzma.decompress(bytes(block))
    else:
        raise Unsupported(f"compression {algo!r}")
    if len(data) != usize:
        raise ValueError("a compression block of the wrong size")
    return data


def decompress_many(payloads: list[tuple[bytes, int]], pool: Any) -> list[bytes | Exception]:
    """Object bytes of several key payloads ``(raw, uncompressed size)``, blocks
    decompressed on ``pool``'s threads; an exception in place of a payload that is corrupt."""
    jobs: list[tuple[int, tuple]] = []
    out: list[Any] = [None] * len(payloads)
    for i, (raw, size) in enumerate(payloads):
        if len(raw) == size:
            out[i] = bytes(raw)
            continue
        try:
            jobs += [(i, b) for b in _blocks(raw)]
        except ValueError as exc:
            out[i] = exc
        out[i] = out[i] if out[i] is not None else []

    def run(job: tuple[int, tuple]) -> bytes | Exception:
        try:
            return _decompress_block(*job[1])
        except Unsupported:
            raise
        except Exception as exc:  # zlib.error, lz4/zstd errors: a corrupt block
            return ValueError(f"corrupt compressed data ({type(exc).__name__}: {exc})")

    small = sum(len(job[1][2]) for job in jobs) < _INLINE or len(jobs) == 1
    results = map(run, jobs) if small else pool.map(run, jobs)
    for (i, _), data in zip(jobs, results, strict=True):
        if isinstance(out[i], list):
            if isinstance(data, Exception):
                out[i] = data
            else:
                out[i].append(data)
    for i, (_, size) in enumerate(payloads):
        if isinstance(out[i], list):
            data = out[i][0] if len(out[i]) == 1 else b"".join(out[i])
            ok = len(data) == size
            out[i] = (
                data if ok else ValueError(f"{len(data)} bytes uncompressed, the key says {size}")
            )
    return out
