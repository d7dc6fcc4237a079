"""Fast path for AO2D trees: flat numeric branches read straight from their baskets.

uproot parses a whole TTree (every TBranch and TLeaf, through generic models) before it can
read a single branch: ~5-15 ms per tree, which dominates the reading of dataframes with
tens of thousands of rows. AO2D trees are simple (one leaf per branch, fixed-size numeric
types, baskets on disk), so this module decodes just what reading needs: per branch its
type (from the ``name/F`` leaf list in its title) and basket positions (``fBasketSeek``,
``fBasketBytes``, ``fBasketEntry``). Anything unexpected returns None and the caller falls
back to uproot, so exotic layouts stay correct.
"""

from __future__ import annotations

import contextlib
import lzma
import mmap
import re
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

_BYTECOUNT = 0x40000000
_CLASS_MASK = 0x80000000
_NEW_CLASS = 0xFFFFFFFF
_IS_REFERENCED = 1 << 4
_MAP_OFFSET = 2

_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")
_VERSION = struct.Struct(">H")
_TTREE20 = struct.Struct(">qqqqqdiiiiIqqqqqq")
_TBRANCH13_A = struct.Struct(">iiiiq")
_TBRANCH13_B = struct.Struct(">iIiqqqq")
_BASKET_KEY = struct.Struct(">ihiIhh")  # fNbytes, fVersion, fObjlen, fDatime, fKeylen, fCycle
_BASKET_TAIL = struct.Struct(">hiiiib")  # fVersion, fBufferSize, fNevBufSize, fNevBuf, fLast, flag

# leaf-list type codes (TBranch title "name/F", "name[2]/I")
_LEAF_TYPES = {
    "B": ">i1",
    "b": ">u1",
    "S": ">i2",
    "s": ">u2",
    "I": ">i4",
    "i": ">u4",
    "L": ">i8",
    "l": ">u8",
    "G": ">i8",
    "g": ">u8",
    "F": ">f4",
    "D": ">f8",
    "O": "?",
}
_DIM_RE = re.compile(r"\[(\d+)\]")
_LEAF_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)/([BbSsIiLlGgFDO])$")


class Unsupported(Exception):
    """The layout is not the simple AO2D one: use uproot instead."""


@dataclass(frozen=True)
class FlatBranch:
    """A branch with one fixed-size numeric leaf and all baskets on disk."""

    name: str
    dtype: np.dtype  # big-endian item type as stored (with inner shape for fixed arrays)
    entries: int
    basket_seek: np.ndarray
    basket_bytes: np.ndarray
    basket_entry: np.ndarray  # first entry of each basket, plus the total at the end
    tot_bytes: int
    zip_bytes: int


class FlatTree:
    """A TTree's branch list; each branch's baskets are decoded when first asked for."""

    def __init__(self, name: str, entries: int, data: bytes, keylen: int, spans: dict) -> None:
        self.name = name
        self.entries = entries
        self.branch_names: list[str] = list(spans)  # all branches, in order
        self._data = data
        self._keylen = keylen
        self._spans: dict[str, tuple[int, int]] = spans
        self._branches: dict[str, FlatBranch | None] = {}

    def branch(self, name: str) -> FlatBranch | None:
        """The branch if it has the simple layout (None: read it with uproot)."""
        if name not in self._branches:
            start, end = self._spans[name]
            r = _Reader(self._data, self._keylen)
            r.pos = start
            try:
                branch = _parse_branch(r)
            except (Unsupported, struct.error, ValueError, IndexError, UnicodeDecodeError):
                branch = None
            if branch is not None and (branch.name != name or branch.entries != self.entries):
                branch = None
            self._branches[name] = branch
        return self._branches[name]


class _Reader:
    """A minimal big-endian reader over a key's uncompressed bytes."""

    def __init__(self, data: bytes, keylen: int) -> None:
        self.data = data
        self.pos = 0
        self.keylen = keylen
        self.class_refs: dict[int, str] = {}

    def unpack(self, fmt: struct.Struct) -> tuple:
        out = fmt.unpack_from(self.data, self.pos)
        self.pos += fmt.size
        return out

    def u8(self) -> int:
        self.pos += 1
        return self.data[self.pos - 1]

    def string(self) -> str:
        n = self.u8()
        if n == 255:
            (n,) = self.unpack(_I32)
        out = self.data[self.pos : self.pos + n].decode("utf-8", "surrogateescape")
        self.pos += n
        return out

    def version_header(self) -> tuple[int, int]:
        """Byte count + version of an object: returns (end position, version)."""
        (count,) = _U32.unpack_from(self.data, self.pos)
        if not count & _BYTECOUNT:
            raise Unsupported("object without byte count")
        end = self.pos + (count & ~_BYTECOUNT) + 4
        self.pos += 4
        (version,) = self.unpack(_VERSION)
        return end, version

    def skip_object(self) -> None:
        end, _ = self.version_header()
        self.pos = end

    def tobject(self) -> None:
        self.pos += 2  # version
        _, bits = struct.unpack_from(">II", self.data, self.pos)
        self.pos += 8
        if bits & _IS_REFERENCED:
            self.pos += 2

    def object_pointer(self) -> tuple[str | None, int]:
        """An object written with ``TBuffer << obj``: (class name or None, end position)."""
        beg = self.pos
        (count,) = self.unpack(_U32)
        if count == 0:
            return None, self.pos
        if not count & _BYTECOUNT:
            raise Unsupported("object reference")
        tag_pos = self.pos
        (tag,) = self.unpack(_U32)
        end = beg + (count & ~_BYTECOUNT) + 4
        if tag == _NEW_CLASS:
            stop = self.data.index(b"\x00", self.pos)
            classname = self.data[self.pos : stop].decode()
            self.pos = stop + 1
            self.class_refs[tag_pos + self.keylen + _MAP_OFFSET] = classname
        elif tag & _CLASS_MASK:
            classname = self.class_refs.get(tag & ~_CLASS_MASK)
            if classname is None:
                raise Unsupported("unknown class reference")
        else:
            raise Unsupported("object reference")
        return classname, end

    def objarray_header(self) -> tuple[int, int]:
        """A TObjArray up to its elements: (end position, number of elements)."""
        end, _ = self.version_header()
        self.tobject()
        self.string()  # fName
        nobjects, _lower = self.unpack(struct.Struct(">ii"))
        return end, nobjects


PARSE_ERRORS = (Unsupported, struct.error, ValueError, IndexError, UnicodeDecodeError)


def parse_tree(key: Any) -> FlatTree | None:
    """Decode a TTree key's branches, or None if the layout is not the simple one."""
    try:
        chunk, cursor = key.get_uncompressed_chunk_cursor()
        data = bytes(chunk.raw_data)
        return _parse_tree(data, key.fKeylen, key.fName)
    except PARSE_ERRORS:
        return None


def parse_tree_object(data: bytes | bytearray, key: KeyInfo) -> FlatTree | None:
    """Decode the (uncompressed) object bytes of a TTree key, or None if not simple."""
    try:
        return _parse_tree(data, key.keylen, key.name)
    except PARSE_ERRORS:
        return None


def tree_entries(data: bytes | bytearray, key: KeyInfo) -> int:
    """A TTree's fEntries from its object bytes, skipping TNamed and the TAtt* bases."""
    r = _Reader(data, key.keylen)
    _, version = r.version_header()
    if version != 20:
        raise Unsupported(f"TTree version {version}")
    for _ in range(4):
        r.skip_object()
    return int(r.unpack(_TTREE20)[0])


# ---------------------------------------------------------------------------------------
# file bytes, directories and keys (without uproot's generic models: ~50x less Python)


class FileBytes:
    """Random access to a file's bytes: a read-only memory map of a local file (slices
    are zero-copy views), or any uproot source (fsspec URLs)."""

    def __init__(self, path: str | None = None, source: Any = None) -> None:
        self._mm: mmap.mmap | None = None
        self._view: memoryview | None = None
        self._source = source
        if path is not None:
            with open(path, "rb") as fh:
                self._mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            self._view = memoryview(self._mm)
            self.size = len(self._mm)
        else:
            self.size = int(source.num_bytes)

    def get(self, start: int, n: int) -> memoryview:
        """``n`` bytes from ``start``; ValueError if the file is shorter."""
        if start < 0 or n < 0 or start + n > self.size:
            raise ValueError(f"bytes {start}..{start + n} lie beyond the end ({self.size})")
        if self._view is not None:
            return self._view[start : start + n]
        return memoryview(self._source.chunk(start, start + n).raw_data).cast("B")

    def many(self, ranges: list[tuple[int, int]]) -> list[memoryview]:
        """Several (start, stop) ranges at once (one request for remote sources)."""
        if self._view is not None:
            return [self.get(a, b - a) for a, b in ranges]
        for a, b in ranges:
            if a < 0 or b > self.size or b < a:
                raise ValueError(f"bytes {a}..{b} lie beyond the end ({self.size})")
        chunks = self._source.chunks(ranges, notifications=_NullQueue())
        return [memoryview(c.raw_data).cast("B") for c in chunks]

    def close(self) -> None:
        # a view still referenced (e.g. by an exception's traceback) keeps the map open
        # until it is garbage collected
        if self._view is not None:
            with contextlib.suppress(BufferError):
                self._view.release()
            self._view = None
        if self._mm is not None:
            with contextlib.suppress(BufferError):
                self._mm.close()
            self._mm = None


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A TKey header: where an object lies in the file and how it is stored."""

    name: str
    classname: str
    seek: int
    nbytes: int
    objlen: int
    keylen: int
    cycle: int


_KEY_HEAD = struct.Struct(">ihiIhh")  # fNbytes, fVersion, fObjlen, fDatime, fKeylen, fCycle
_SEEKS32 = struct.Struct(">ii")
_SEEKS64 = struct.Struct(">qq")
_DIR_HEAD = struct.Struct(">hIIii")  # fVersion, fDatimeC, fDatimeM, fNbytesKeys, fNbytesName
_DIR_SEEKS32 = struct.Struct(">iii")  # fSeekDir, fSeekParent, fSeekKeys
_DIR_SEEKS64 = struct.Struct(">qqq")


def _tstring(buf: memoryview | bytes, pos: int) -> tuple[str, int]:
    n = buf[pos]
    pos += 1
    if n == 255:
        (n,) = _I32.unpack_from(buf, pos)
        pos += 4
    return bytes(buf[pos : pos + n]).decode("utf-8", "surrogateescape"), pos + n


def _key_at(buf: memoryview | bytes, pos: int) -> tuple[KeyInfo, int]:
    nbytes, version, objlen, _, keylen, cycle = _KEY_HEAD.unpack_from(buf, pos)
    p = pos + _KEY_HEAD.size
    if version > 1000:
        seek, _ = _SEEKS64.unpack_from(buf, p)
        p += _SEEKS64.size
    else:
        seek, _ = _SEEKS32.unpack_from(buf, p)
        p += _SEEKS32.size
    classname, p = _tstring(buf, p)
    name, p = _tstring(buf, p)
    _, p = _tstring(buf, p)  # title
    if nbytes < keylen or keylen <= 0 or objlen < 0:
        raise ValueError(f"key {name!r} has inconsistent sizes")
    return KeyInfo(name, classname, seek, nbytes, objlen, keylen, cycle), p


def directory_keys(data: FileBytes, seek: int, keylen: int) -> dict[str, KeyInfo]:
    """The keys of the (sub)directory whose TKey starts at ``seek``: name -> highest cycle.
    A directory record is never compressed; its key list lies at ``fSeekKeys``."""
    head = data.get(seek + keylen, _DIR_HEAD.size)
    version, _, _, nbytes_keys, _ = _DIR_HEAD.unpack_from(head, 0)
    seeks = _DIR_SEEKS64 if version > 1000 else _DIR_SEEKS32
    _, _, seek_keys = seeks.unpack_from(data.get(seek + keylen + _DIR_HEAD.size, seeks.size), 0)
    buf = data.get(seek_keys, nbytes_keys)
    header, _ = _key_at(buf, 0)
    (nkeys,) = _I32.unpack_from(buf, header.keylen)
    pos = header.keylen + 4
    keys: dict[str, KeyInfo] = {}
    for _ in range(nkeys):
        key, pos = _key_at(buf, pos)
        old = keys.get(key.name)
        if old is None or old.cycle < key.cycle:
            keys[key.name] = key
    return keys


def key_object(data: FileBytes, key: KeyInfo) -> bytes | bytearray:
    """The uncompressed object bytes of a key (a copy: no view into the file remains)."""
    raw = data.get(key.seek, key.nbytes)
    body = raw[key.keylen :]
    if len(body) == key.objlen:
        return bytes(body)
    out = bytearray(key.objlen)
    _inflate_into(body, memoryview(out))
    return out


def _parse_tree(data: bytes, keylen: int, name: str) -> FlatTree | None:
    r = _Reader(data, keylen)
    _, version = r.version_header()
    if version != 20:
        return None
    for _ in range(4):  # TNamed, TAttLine, TAttFill, TAttMarker
        r.skip_object()
    fields = r.unpack(_TTREE20)
    entries, n_cluster_range = fields[0], fields[10]
    r.pos += 1 + 8 * n_cluster_range  # speedbump + fClusterRangeEnd
    r.pos += 1 + 8 * n_cluster_range  # speedbump + fClusterSize
    r.skip_object()  # fIOFeatures
    end, n_branches = r.objarray_header()
    spans: dict[str, tuple[int, int]] = {}
    for _ in range(n_branches):
        classname, obj_end = r.object_pointer()
        if classname is None:
            continue
        if classname != "TBranch":
            return None
        start = r.pos
        r.version_header()  # TBranch
        r.version_header()  # TNamed
        r.tobject()
        spans[r.string()] = (start, obj_end)
        r.pos = obj_end
    r.pos = end
    return FlatTree(name, int(entries), data, keylen, spans)


def _parse_branch(r: _Reader) -> FlatBranch | None:
    end, version = r.version_header()
    if version != 13:
        return None
    named_end, _ = r.version_header()
    r.tobject()
    name = r.string()
    title = r.string()
    r.pos = named_end
    r.skip_object()  # TAttFill
    _compress, _basket_size, offset_len, write_basket, _entry_number = r.unpack(_TBRANCH13_A)
    r.skip_object()  # fIOFeatures
    _, max_baskets, _split, entries, _first, tot_bytes, zip_bytes = r.unpack(_TBRANCH13_B)
    sub_end, n_sub = r.objarray_header()
    r.pos = sub_end
    r.skip_object()  # fLeaves (the type comes from the title's leaf list)
    baskets_end, n_baskets = r.objarray_header()
    embedded = any(r.data[r.pos : r.pos + 4 * min(n_baskets, 64)])  # non-null basket pointers
    r.pos = baskets_end
    match = _LEAF_RE.match(title)
    if n_sub or embedded or offset_len or match is None or match.group(1) != name:
        return None
    if write_basket > max_baskets or (write_basket == 0 and entries):
        return None
    basket_bytes = np.frombuffer(r.data, ">i4", write_basket, r.pos + 1).astype(np.int64)
    r.pos += 1 + 4 * max_baskets
    bounds = np.empty(write_basket + 1, np.int64)
    bounds[:write_basket] = np.frombuffer(r.data, ">i8", write_basket, r.pos + 1)
    bounds[write_basket] = entries
    r.pos += 1 + 8 * max_baskets
    basket_seek = np.frombuffer(r.data, ">i8", write_basket, r.pos + 1).astype(np.int64)
    r.pos = end
    base = np.dtype(_LEAF_TYPES[match.group(3)])
    shape = tuple(int(x) for x in _DIM_RE.findall(match.group(2))) if match.group(2) else ()
    if write_basket and (bounds[0] != 0 or bool((bounds[1:] < bounds[:-1]).any())):
        return None
    return FlatBranch(
        name,
        np.dtype((base, shape)) if shape else base,
        int(entries),
        basket_seek,
        basket_bytes,
        bounds,
        int(tot_bytes),
        int(zip_bytes),
    )


# ---------------------------------------------------------------------------------------
# baskets


_ZSTD: Any = None


def _zstd() -> Any:
    global _ZSTD
    if _ZSTD is None:
        import zstandard

        _ZSTD = zstandard.ZstdDecompressor()
    return _ZSTD


def _inflate_into(raw: memoryview, dest: memoryview) -> None:
    """Inflate ROOT compressed blocks (9-byte header: algorithm, sizes; then the payload)
    straight into ``dest`` (ZSTD without an intermediate buffer)."""
    pos, produced, size = 0, 0, len(dest)
    while produced < size:
        head = bytes(raw[pos : pos + 9])
        algo = head[:2]
        csize = head[3] | head[4] << 8 | head[5] << 16
        usize = head[6] | head[7] << 8 | head[8] << 16
        payload = raw[pos + 9 : pos + 9 + csize]
        target = dest[produced : produced + usize]
        if algo == b"ZS":
            done = 0
            with _zstd().stream_reader(payload, read_across_frames=False) as reader:
                while done < usize:
                    n = reader.readinto(target[done:])
                    if n == 0:
                        break
                    done += n
            block_size = done
        else:
            if algo == b"L4":
                import lz4.block

                block = lz4.block.decompress(payload[8:], uncompressed_size=usize)
            elif algo == b"ZL":
                block = zlib.decompress(payload)
            elif algo == b"XZ":
                block = lzma.decompress(payload)
            else:
                raise Unsupported(f"compression {algo!r}")
            block_size = len(block)
            if block_size == usize:
                target[:] = block
        if block_size != usize:
            raise ValueError(f"basket block inflated to {block_size} bytes, expected {usize}")
        produced += usize
        pos += 9 + csize


def read_branch(
    source: FileBytes | Any, branch: FlatBranch, out: np.ndarray | None = None
) -> np.ndarray:
    """All entries of a flat branch as a native-endian array: baskets are inflated into the
    output and byte-swapped in place (no per-row Python, no intermediate copies).

    ``out`` (C-contiguous, native item type, ``(entries, *inner shape)``) receives them, e.g.
    a column of a shared-memory segment; ``source`` is a ``FileBytes`` or uproot source."""
    native = branch.dtype.base.newbyteorder("=")
    shape = (branch.entries, *branch.dtype.shape)
    if out is None:
        out = np.empty(shape, dtype=native)
    elif out.shape != shape or out.dtype != native or not out.flags.c_contiguous:
        raise ValueError(f"branch {branch.name}: out must be {shape} {native}, contiguous")
    if branch.entries == 0:
        return out
    ranges = [
        (s, s + n)
        for s, n in zip(branch.basket_seek.tolist(), branch.basket_bytes.tolist(), strict=True)
    ]
    if isinstance(source, FileBytes):
        raws = source.many(ranges)
    else:
        raws = [
            memoryview(c.raw_data).cast("B")
            for c in source.chunks(ranges, notifications=_NullQueue())
        ]
    row_bytes = out.itemsize * (out.size // branch.entries)
    dest_all = memoryview(out.reshape(-1).view(np.uint8))
    entry = branch.basket_entry.tolist()
    for i, raw in enumerate(raws):
        nbytes, _, objlen, _, keylen, _ = _BASKET_KEY.unpack_from(raw, 0)
        _, _, _, nevbuf, last, _ = _BASKET_TAIL.unpack_from(raw, keylen - _BASKET_TAIL.size)
        first, stop = entry[i], entry[i + 1]
        if (
            nevbuf != stop - first
            or last - keylen != nevbuf * row_bytes
            or objlen < nevbuf * row_bytes
        ):
            raise ValueError(
                f"basket {i} of {branch.name}: {nevbuf} entries / {last - keylen} bytes, "
                f"expected {stop - first} entries of {row_bytes} bytes"
            )
        dest = dest_all[first * row_bytes : stop * row_bytes]
        body = raw[keylen:nbytes]
        if nbytes - keylen == objlen:
            dest[:] = body[: len(dest)]
        elif objlen == len(dest):
            _inflate_into(body, dest)
        else:
            buffer = np.empty(objlen, np.uint8)
            _inflate_into(body, memoryview(buffer))
            dest[:] = memoryview(buffer)[: len(dest)]
    if native.itemsize > 1 and np.little_endian:  # stored big-endian
        out.byteswap(inplace=True)
    return out


class _NullQueue:
    """uproot sources notify a queue per chunk; reading here is synchronous."""

    def put(self, item: object) -> None:
        pass
