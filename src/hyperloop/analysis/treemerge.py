"""Merge TTrees of results files on their serialized bytes, as ``hadd`` does: entries concatenated.

Each input's baskets become TBasket keys of the output: baskets stored in their own keys are
copied as they are (compressed bytes unchanged, the key's position fields rewritten), baskets
still inside the TTree object (a tree written without flushing them) are written as new keys.
The output's TTree is the first input's, re-serialized: every branch lists all baskets of all
inputs (position, first entry, size), its entry and byte counts are the sums, the baskets once
inside the TTree are gone, and every byte count and object/class reference that follows a
changed part is moved accordingly.

Every input's TTree must be the same outside those counters and basket lists (same branches,
leaves, classes, options): it is compared byte for byte once its counters are zeroed.
Anything this module does not understand raises :class:`rawmerge.Unsupported`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hyperloop.analysis.rawmerge import (
    BC,
    CLASS_MASK,
    MAP_OFFSET,
    NEW_CLASS,
    ObjectBytes,
    Unsupported,
)

_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_I16 = struct.Struct(">h")
_BRANCH_CLASSES = ("TBranch", "TBranchElement")
# leaf classes: the type of their fMinimum, fMaximum (None: TLeafElement has none)
_LEAF_CLASSES = {"TLeafB": "b", "TLeafS": "h", "TLeafI": "i", "TLeafL": "q", "TLeafG": "q"}
_LEAF_CLASSES |= {"TLeafC": "i", "TLeafF": "f", "TLeafD": "d", "TLeafO": "?", "TLeafElement": None}


@dataclass
class Embedded:
    """A basket written inside its branch (its bytes in the TTree object)."""

    header: bytes  # the key header (fKeylen bytes, ending with the TBasket fields and flag)
    payload: bytes  # what a key of its own holds uncompressed: data, then entry offsets
    entries: int  # fNevBuf


@dataclass
class Branch:
    """Where one branch's counters and basket lists are in the TTree bytes."""

    name: str
    at: int  # fWriteBasket (i4), then fEntryNumber (i8)
    max_at: int  # fMaxBaskets (i4)
    entries_at: int  # fEntries (i8), fFirstEntry, fTotBytes, fZipBytes
    baskets: tuple[int, int]  # the fBaskets TObjArray
    baskets_head: int  # its fName's end: nobjects, lowerbound follow
    arrays: tuple[int, int]  # fBasketBytes, fBasketEntry, fBasketSeek with their flags
    write_basket: int
    entries: int
    tot_bytes: int
    zip_bytes: int
    bytes_: np.ndarray
    first: np.ndarray
    seek: np.ndarray
    embedded: list[Embedded] = field(default_factory=list)


@dataclass
class Tree:
    """A parsed TTree: its counters, branches (in stream order) and what must be moved."""

    data: bytes
    keylen: int
    entries_at: int  # fEntries, fTotBytes, fZipBytes, fSavedBytes, fFlushedBytes (i8 each)
    branches: list[Branch]
    counts: list[tuple[int, int]]  # (byte count position, object end)
    refs: list[int]  # positions of object and class references
    deleted: list[tuple[int, int]]  # embedded baskets (inside the fBaskets arrays)
    extremes: list[tuple[int, str, bool]]  # leaves' fMinimum/fMaximum, TClonesArray fMaximum
    loose: list[tuple[int, int]]  # write-time hints kept from the first input (fAutoSave, ...)

    def extreme_values(self) -> list[Any]:
        return [struct.unpack_from(">" + f, self.data, p)[0] for p, f, _ in self.extremes]

    def counter(self, i: int) -> int:
        return _I64.unpack_from(self.data, self.entries_at + 8 * i)[0]


class _Walker(ObjectBytes):
    whole = "the tree"

    def __init__(self, data: bytes, keylen: int) -> None:
        self.b = data
        self.keylen = keylen
        self.counts: list[tuple[int, int]] = []
        self.refs: list[int] = []
        self.branches: list[Branch] = []
        self.deleted: list[tuple[int, int]] = []
        self.extremes: list[tuple[int, str, bool]] = []  # (position, type, is a maximum)
        self.loose: list[tuple[int, int]] = []  # (position, size)
        self.entries_at = -1

    def header(self, p: int, what: str) -> tuple[int, int, int]:
        """As for any object, and the byte count is remembered (it grows with the tree)."""
        version, start, end = super().header(p, what)
        self.counts.append((p, end))
        return version, start, end

    def skip(self, p: int, what: str) -> int:
        """Past an object with a byte count (its version not looked at)."""
        x = self.u32(p)
        if not x & BC or p + 4 + (x & ~BC) > len(self.b):
            raise Unsupported(f"{what} without byte count")
        self.counts.append((p, p + 4 + (x & ~BC)))
        return p + 4 + (x & ~BC)

    def tstring(self, p: int) -> int:
        n = self.b[p]
        return p + 5 + self.i32(p + 1) if n == 255 else p + 1 + n

    def tobject(self, p: int) -> int:
        bits = self.u32(p + 6)
        return p + 10 + (2 if bits & 0x10 else 0)

    def pointer(self, p: int, inside: str) -> int:
        x = self.u32(p)
        if x == 0:
            return p + 4
        if not x & BC:
            self.refs.append(p)
            return p + 4
        end = p + 4 + (x & ~BC)
        self.counts.append((p, end))
        tag = self.u32(p + 4)
        if tag == NEW_CLASS:
            stop = self.b.index(b"\x00", p + 8)
            cls, start = self.b[p + 8 : stop].decode("latin-1"), stop + 1
        elif tag & CLASS_MASK:
            self.refs.append(p + 4)
            at = (tag & ~CLASS_MASK) - MAP_OFFSET - self.keylen
            if at < 0 or self.u32(at) != NEW_CLASS:
                raise Unsupported("unresolvable class reference in a tree")
            stop = self.b.index(b"\x00", at + 4)
            cls, start = self.b[at + 4 : stop].decode("latin-1"), p + 8
        else:
            raise Unsupported("unexpected object tag in a tree")
        self.obj(cls, start, end, inside)
        return end

    def obj(self, cls: str, p: int, end: int, inside: str) -> None:
        if cls == "TObjArray":
            q = self.objarray(p, inside)
        elif cls in _BRANCH_CLASSES:
            q = self.branch(cls, p)
        elif cls in _LEAF_CLASSES:
            q = self.leaf(p, _LEAF_CLASSES[cls])
        elif cls in ("TList", "THashList"):
            q = self.tlist(p, inside)
        elif cls == "TBasket":
            if inside != "fBaskets":
                raise Unsupported("a TBasket outside a branch's basket list")
            self.deleted.append((p, end))  # registered by the branch
            return
        else:
            raise Unsupported(f"a {cls} inside the tree")
        if q != end:
            raise Unsupported(f"{cls}: unexpected layout")

    def objarray(self, p: int, inside: str) -> int:
        version, p, end = self.header(p, "TObjArray")
        if version < 3:
            raise Unsupported(f"TObjArray version {version}")
        p = self.tstring(self.tobject(p))
        n = self.i32(p)
        p += 8  # nobjects, lowerbound
        for _ in range(n):
            p = self.pointer(p, inside)
        if p != end:
            raise Unsupported("TObjArray: unexpected layout")
        return end

    def tlist(self, p: int, inside: str) -> int:
        version, p, end = self.header(p, "TList")
        if version < 4:
            raise Unsupported(f"TList version {version}")
        p = self.tstring(self.tobject(p))
        n = self.i32(p)
        p += 4
        for _ in range(n):
            p = self.pointer(p, inside)
            p += 1 + self.b[p]
        return p

    def leaf(self, p: int, extremes: str | None) -> int:
        _, p, end = self.header(p, "TLeaf")
        _, q, base_end = self.header(p, "TLeaf")
        q = self.skip(q, "TNamed")
        q = self.pointer(q + 14, "fLeafCount")  # after fLen fLenType fOffset fIsRange fIsUnsigned
        if q != base_end:
            raise Unsupported("TLeaf: unexpected layout")
        if extremes is not None:  # the largest (array length) seen: hadd keeps the largest
            size = struct.calcsize(">" + extremes)
            self.extremes += [(q, extremes, False), (q + size, extremes, True)]
            q += 2 * size
            return end if q == end else -1
        return end

    def branch(self, cls: str, p: int) -> int:
        version, p, end = self.header(p, cls)
        if cls == "TBranchElement":
            if not 8 <= version <= 10:
                raise Unsupported(f"TBranchElement version {version}")
            q = self.tbranch(p)
            for _ in range(3):  # fClassName fParentName fClonesName
                q = self.tstring(q)
            # fCheckSum, fClassVersion (Int_t before version 10), fID fType fStreamerType fMaximum
            q += 4 + (2 if version >= 10 else 4) + 4 * 4
            self.extremes.append((q - 4, "i", True))  # fMaximum: the largest clones array
            q = self.pointer(q, "fBranchCount")
            q = self.pointer(q, "fBranchCount2")
            return q if q == end else -1
        return self.tbranch(p - 6, own=(version, end))

    def tbranch(self, p: int, own: tuple[int, int] | None = None) -> int:
        if own is None:
            version, p, end = self.header(p, "TBranch")
        else:
            (version, end), p = own, p + 6
        if not 12 <= version <= 13:
            raise Unsupported(f"TBranch version {version}")
        named = p
        p = self.skip(self.skip(p, "TNamed"), "TAttFill")
        at = p + 12  # after fCompress fBasketSize fEntryOffsetLen
        self.loose.append((p + 4, 8))  # fBasketSize fEntryOffsetLen: ROOT adapts them
        p = at + 4 + 8
        if version >= 13:
            p = self.skip(p, "fIOFeatures")
        max_at = p + 4
        entries_at = p + 12
        p = entries_at + 32
        p = self.objarray(p, "fBranches")
        p = self.objarray(p, "fLeaves")
        deleted = len(self.deleted)
        baskets = p
        p = self.objarray(p, "fBaskets")
        baskets_head = self.tstring(self.tobject(baskets + 6))
        arrays = p
        n = self.i32(max_at)
        if n < 0 or self.b[p] != 1 or self.b[p + 1 + 4 * n] != 1:
            raise Unsupported("a branch's basket arrays in an unknown form")
        bytes_ = np.frombuffer(self.b, ">i4", n, p + 1)
        p += 1 + 4 * n
        first = np.frombuffer(self.b, ">i8", n, p + 1)
        p += 1 + 8 * n
        if self.b[p] not in (1, 2):
            raise Unsupported("a branch's basket positions in an unknown form")
        seek = np.frombuffer(self.b, ">i8", n, p + 1)
        p += 1 + 8 * n
        arrays_end = p
        p = self.tstring(p)  # fFileName
        if self.b[arrays_end] != 0:
            raise Unsupported("a branch whose baskets are in another file")
        name_end = self.tstring(self.tobject(named + 6))
        start = self.tobject(named + 6)
        name = self.b[start + 1 : name_end].decode("latin-1", "replace")
        wb = self.i32(at)
        br = Branch(
            name=name,
            at=at,
            max_at=max_at,
            entries_at=entries_at,
            baskets=(baskets, arrays),
            baskets_head=baskets_head,
            arrays=(arrays, arrays_end),
            write_basket=wb,
            entries=self.i64(entries_at),
            tot_bytes=self.i64(entries_at + 16),
            zip_bytes=self.i64(entries_at + 24),
            bytes_=bytes_,
            first=first,
            seek=seek,
        )
        if not 0 <= wb < n and not (wb == 0 and n == 0):
            raise Unsupported(f"branch {name}: fWriteBasket {wb} of {n}")
        for a, b in self.deleted[deleted:]:
            br.embedded.append(self.embedded(a, b, name))
        if len(br.embedded) > 1:
            raise Unsupported(f"branch {name}: several baskets inside the tree")
        self.deleted[deleted:] = []
        if br.embedded:
            self.deleted.append((baskets, arrays))  # the whole list is rewritten
        self.branches.append(br)
        if p != end:
            raise Unsupported(f"branch {name}: unexpected layout")
        return end

    def embedded(self, p: int, end: int, name: str) -> Embedded:
        """A TBasket streamed inside its branch: key header, entry offsets, whole buffer."""
        keylen = _I16.unpack_from(self.b, p + 14)[0]
        nevbuf, last = struct.unpack_from(">ii", self.b, p + keylen - 9)
        flag = self.b[p + keylen - 1]
        q = p + keylen
        offsets = b""
        if flag not in (11, 12):
            raise Unsupported(f"branch {name}: a basket inside the tree with flag {flag}")
        if flag == 11:
            n = self.i32(q)
            if n != nevbuf:
                raise Unsupported(f"branch {name}: a basket's entry offsets do not match")
            # in a key of its own, ROOT writes fNevBuf + 1 offsets (the last one 0)
            offsets = _I32.pack(n + 1) + self.b[q + 4 : q + 4 + 4 * n] + _I32.pack(0)
            q += 4 + 4 * n
        if q + last != end or last < keylen:
            raise Unsupported(f"branch {name}: a basket inside the tree of unknown layout")
        data = self.b[q + keylen : q + last]
        return Embedded(bytes(self.b[p : p + keylen]), bytes(data) + bytes(offsets), nevbuf)

    def ttree(self) -> None:
        version, p, end = self.header(0, "TTree")
        if version not in (19, 20):
            raise Unsupported(f"TTree version {version}")
        for what in ("TNamed", "TAttLine", "TAttFill", "TAttMarker"):
            p = self.skip(p, what)
        self.entries_at = p
        p += 5 * 8 + 8 + 4 * 4
        self.loose.append((p + 4 + 3 * 8, 16))  # fAutoSave fAutoFlush: ROOT adapts them
        nranges = self.u32(p)
        if nranges:
            raise Unsupported("a tree with cluster ranges")
        p += 4 + 6 * 8 + 2  # ..., fEstimate, then two empty arrays (their flags)
        if version >= 20:
            p = self.skip(p, "fIOFeatures")
        p = self.objarray(p, "fBranches")
        p = self.objarray(p, "fLeaves")
        p = self.pointer(p, "fAliases")
        p += 4 + 8 * self.i32(p)  # fIndexValues
        p += 4 + 4 * self.i32(p)  # fIndex
        for what in ("fTreeIndex", "fFriends", "fUserInfo", "fBranchRef"):
            p = self.pointer(p, what)
        if p != end or end != len(self.b):
            raise Unsupported("TTree: unexpected layout")


def parse(data: bytes, keylen: int) -> Tree:
    """Parse one serialized TTree (raises Unsupported for layouts not understood)."""
    w = _Walker(data, keylen)
    try:
        w.ttree()
    except (struct.error, IndexError, ValueError) as exc:
        raise Unsupported(f"a tree of unknown layout ({exc})") from exc
    tree = Tree(
        data, keylen, w.entries_at, w.branches, w.counts, w.refs, w.deleted, w.extremes, w.loose
    )
    for br in tree.branches:
        if br.entries != tree.counter(0):
            raise Unsupported(f"branch {br.name} has {br.entries} entries, its tree more")
    return tree


@dataclass
class BranchTotals:
    """One output branch: all its baskets and summed counters."""

    seek: list[int] = field(default_factory=list)
    bytes_: list[int] = field(default_factory=list)
    first: list[int] = field(default_factory=list)
    entries: int = 0
    tot_bytes: int = 0
    zip_bytes: int = 0


def serialize(
    tree: Tree,
    totals: list[BranchTotals],
    counters: tuple[int, ...],
    keylen: int,
    extremes: list[Any] | None = None,
) -> bytearray:
    """``tree``'s bytes with the given baskets and counters (references and counts moved),
    for a key header of ``keylen`` bytes (references count from the key's start).

    ``counters``: the tree's fEntries, fTotBytes, fZipBytes, fSavedBytes, fFlushedBytes;
    ``extremes``: values for :attr:`Tree.extremes` (None: zeros).
    """
    b = tree.data
    edits: list[tuple[int, int, bytes]] = []
    fixed: list[tuple[int, bytes]] = [(tree.entries_at, struct.pack(">5q", *counters))]
    values = extremes if extremes is not None else [0] * len(tree.extremes)
    for (pos, fmt, _), value in zip(tree.extremes, values, strict=True):
        fixed.append((pos, struct.pack(">" + fmt, value)))
    if extremes is None:
        fixed += [(pos, bytes(size)) for pos, size in tree.loose]
    for br, tot in zip(tree.branches, totals, strict=True):
        nb = len(tot.seek)
        maximum = max(10, nb + 1)
        fixed.append((br.at, struct.pack(">iq", nb, tot.entries)))
        fixed.append((br.max_at, _I32.pack(maximum)))
        fixed.append((br.entries_at, _I64.pack(tot.entries)))
        fixed.append((br.entries_at + 16, struct.pack(">qq", tot.tot_bytes, tot.zip_bytes)))
        a, z = br.baskets
        empty = bytearray(b[a : br.baskets_head]) + _I32.pack(0)
        empty += b[br.baskets_head + 4 : br.baskets_head + 8]
        _U32.pack_into(empty, 0, (len(empty) - 4) | BC)
        edits.append((a, z, bytes(empty)))
        sizes = np.zeros(maximum, ">i4")
        firsts = np.zeros(maximum, ">i8")
        seeks = np.zeros(maximum, ">i8")
        sizes[:nb], firsts[:nb], seeks[:nb] = tot.bytes_, tot.first, tot.seek
        if nb:  # after the last basket: the entries so far (a branch without data keeps 0)
            firsts[nb] = tot.entries
        a, z = br.arrays
        flag = b[a + 1 + 12 * len(br.bytes_) + 1 : a + 1 + 12 * len(br.bytes_) + 2]
        arrays = b"\x01" + sizes.tobytes() + b"\x01" + firsts.tobytes() + flag + seeks.tobytes()
        edits.append((a, z, arrays))
    edits.sort()
    starts = [e[0] for e in edits]
    stops = [e[1] for e in edits]
    deltas = np.cumsum([0] + [len(r) - (z - a) for a, z, r in edits])

    def inside(x: int) -> bool:
        i = int(np.searchsorted(starts, x, side="right")) - 1
        return i >= 0 and x < stops[i]

    def moved(x: int) -> int:
        return x + int(deltas[int(np.searchsorted(stops, x, side="right"))])

    out = bytearray()
    p = 0
    for a, z, r in edits:
        out += b[p:a]
        out += r
        p = z
    out += b[p:]
    for pos, end in tree.counts:
        if inside(pos):
            continue
        _U32.pack_into(out, moved(pos), (moved(end) - moved(pos) - 4) | BC)
    for pos in tree.refs:
        if inside(pos):
            continue
        tag = _U32.unpack_from(b, pos)[0]
        target = (tag & ~CLASS_MASK) - MAP_OFFSET - tree.keylen
        if inside(target) or target < 0:
            raise Unsupported("a reference to a basket inside the tree")
        new = moved(target) + MAP_OFFSET + keylen
        _U32.pack_into(out, moved(pos), new | (tag & CLASS_MASK))
    for pos, value in fixed:
        out[moved(pos) : moved(pos) + len(value)] = value
    return out


def normalized(tree: Tree) -> bytes:
    """The tree with no baskets, zero counters and extremes: equal for trees of the same
    layout."""
    empty = [BranchTotals() for _ in tree.branches]
    return bytes(serialize(tree, empty, (0, 0, 0, 0, 0), 0))


def basket_header(header: bytes, nbytes: int, objlen: int, seek: int, pdir: int) -> bytes:
    """A basket's key header with its sizes and positions rewritten (flag: not embedded)."""
    out = bytearray(header)
    _I32.pack_into(out, 0, nbytes)
    _I32.pack_into(out, 6, objlen)
    if _I16.unpack_from(out, 4)[0] > 1000:
        struct.pack_into(">qq", out, 18, seek, pdir)
    else:
        if seek >= 2**31:
            raise Unsupported("a basket beyond 2 GB in a small key")
        struct.pack_into(">ii", out, 18, seek, pdir)
    return bytes(out)


def moved_key(raw: bytes, seek: int, pdir: int) -> bytes:
    """A basket key copied from an input: its position fields rewritten."""
    out = bytearray(raw)
    if _I16.unpack_from(out, 4)[0] > 1000:
        struct.pack_into(">qq", out, 18, seek, pdir)
    else:
        if seek >= 2**31:
            raise Unsupported("a basket beyond 2 GB in a small key")
        struct.pack_into(">ii", out, 18, seek, pdir)
    return bytes(out)


def embedded_key(e: Embedded, compressed: bytes, seek: int, pdir: int) -> bytes:
    keylen = len(e.header)
    head = bytearray(basket_header(e.header, keylen + len(compressed), len(e.payload), seek, pdir))
    head[-1] = 0  # flag: a basket in a key of its own
    return bytes(head) + compressed


def combined_extremes(tree: Tree, each: list[list[Any]]) -> list[Any]:
    """The smallest of the minima and the largest of the maxima (``each``: every input's
    :meth:`Tree.extreme_values`, trees of ``tree``'s layout)."""
    columns = zip(*each, strict=True)
    return [
        (max if is_max else min)(values)
        for (_, _, is_max), values in zip(tree.extremes, columns, strict=True)
    ]
