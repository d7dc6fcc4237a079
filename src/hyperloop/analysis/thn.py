"""ROOT ``THnT<T>`` (THnD/THnF) and ``THnSparseT<TArrayT>`` written member by member.

uproot cannot write THn or THnSparse; these classes serialise them exactly as ROOT's
StreamerInfo describes (checked byte-for-byte against ROOT 6.40 output) and carry the
StreamerInfo records a file needs for ROOT to read them. Also packs/unpacks THnSparse's
bit-compressed bin coordinates (THnSparseCoordCompression).
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import uproot
import uproot.model
import uproot.serialization

# TStreamerInfo records as ROOT 6.40 writes them (name, class version, byte length), extracted
# once from ROOT-written THnD/THnF/THnSparseD/THnSparseF; zlib + base64 of their concatenation.
_STREAMER_INDEX = (
    ("THnT<double>", 1, 377),
    ("THnT<float>", 1, 375),
    ("THn", 1, 405),
    ("THnBase", 1, 1242),
    ("TNDArrayT<double>", 2, 367),
    ("TNDArrayT<float>", 2, 365),
    ("TNDArray", 2, 354),
    ("THnSparseT<TArrayD>", 1, 267),
    ("THnSparseT<TArrayF>", 1, 267),
    ("THnSparse", 3, 662),
    ("THnSparseArrayChunk", 1, 988),
    ("TArrayD", 1, 381),
    ("TArray", 1, 227),
)
_STREAMER_BLOB = (
    "eNrdmF1sFFUUx6e7SykUTBupgCK99RPWVqFBxFBKu/1QCNkWOspHP/Du7p3utLMzy51Z+gHGSIKKH7VoYnzxRZ+M8cUX"
    "n4j6BD4b45u+mhijDz6S6LlnZnfn404/xER0mkza25k5//M755577u1TGpw/4VLHHM5oifFjpmYpfUrDlLK5T1HuVxrg"
    "R1xw36I+b6o9BauSM1ivcmt2/AkxDs924xdGcjP9nNMF8TZRkt573pUQN/jgmwFjGWozMeooSbjPKCm4H66ZhCsJJtPi"
    "KZI3qG0TzeKkVDEcvaugl5hp65ZJDVLUbcea5rSkSK4b346P+P9OZfrHhlzhykJADTjA8o7QQ5UE3MdRT7tfT6OGLjZn"
    "dJPkLdNhpgOjR1zf4q9WNTuIL9bxASQuBT+B4Hf6wTcjeM2wqNOrtPAPfvW4749wb/9vcJ+P4f4Scj/3j3FvqXP36AGj"
    "ZSn2RcTe6scuIFTdELhPR3APxeF+S4q7grhn0b0ev3sbwZJ46PEBq1SyTJIT5AVzc+28m2c2nojj/VEM76vI+xUUNBDk"
    "PVYpzXU/lQPejHOLdxKDLi4QahhWnjoghxRpuQzKCDxRo/y350Lqe1lQUl9hUNr8QamiqvoL7qU+DAcm9Vo4ME1eYN6R"
    "BmYOA1NCDr0BDmoWniuk1SITQdHdmUCJKUaJhSDJHvFXJ3F0x2B7FUEydP305fGeuNC8HBak59WFMqrKYXQmUNWTflVb"
    "tGwtLext2UopxzixNFIfFFNYGFopEEnddODLizG54be+x299g9Y/z+w2cRNGHUDjT8xVE2BTLVKyeNTd5yjAiBanJm3I"
    "dLjO7EfrrjN3pJPYZfgUhOYijOeLFXPW9qLftJKmRjcVIzgCgs6joLNRIo2aasN02aZaDsxS+FUommP6dNFZp/VP4q2/"
    "gdavoPWTgeLhWu/ukZkn9oUK5axwmHTtJ7pGTMudzzaBUZKnRr5iUIcV1idzWZIz/eaCW+OETAtlHpHInN8jkZk+g/OK"
    "0XyxnsSKmIuKsmMlSRtVTKRBMPZ+vKZ51MRRU18wk1xN3WmpqDuWJazNSJcbFStbu7+ySQrjI8tHD4pVBV54OLL4tMYt"
    "Pq9Ka9ws1jiKELoDEKp2d2Xkyw5Fi5Lr7SXnO1ldE7TtgIgx9YTQMIUaRlHD9mBNGaQOTRXgBiz+WI3vPRchuBavcUJ+"
    "kLxApSjFfQpx7/bjjvYGNz8/dM6j/VCEdstdTZvLaE+ihpE7pr3Vo+1hcmFvEFAmpbCfQ9j3+WHXvK56ISC3RyBvjYNc"
    "kUI+jw6+gA4+Fuyn3PnfihWUnBoZUb3FGv6ZCfu3/MDXXXHL8yUZWA3tnkG7D4baJn2R2Zty2KZWRJO6Ot4WD+8Jy5w+"
    "eOB8jXCLINIoI6z8joQ7/ITvhb5orEy5zdQer/r0Kgdv/zzqOXIjDFv5LAy7wYP9nhT2ZXSaR3vFTTXLncegM+cazbud"
    "gY2D6+lh3+3ouSqLRPIOUQz3Ks8kRof/LygS12UoEpcQxXY/irqg6gdBeeJUGADMxhCA1N25kXk9vj8ysBBqqOmQX9Nm"
    "bUD0gWJmkkjDWF/gsVlcR998JV7KNEqh0ca9WRvWDYMVYBtrt9W1aDhIoGrYOO9X6cOaqpUiAqTevVsoQUcJTwclgPEB"
    "dwu9C+MvFNTSBEcGPBTraOXhueQPsqxMfrPSBPWZ++X27WtulJNL4fxMXg7nZ+O/vTBcjw//RWRfRusZv/U2WB7MaYMN"
    "WBYv6Cb03SIp2zEzIQiU2Phv4i4f1WfWkZNL8aJsFOVucY/6RbVodTm2kNJR1SN2dkEpJFfRNMY9/mtRdDOqaNTSRW0U"
    "oj5FUYso6nhwh+sTtW88LHESNJXKFPbecfr2Vot43LUhX6Q8LZ6KAJClZ6QVqG0wfO6cxcwYQ3c6gvsMb8aFDrCGVpvq"
    "3kYiHXNWGTR/Gs2fRPO7Jac5mzPV0xx7LbabvDYiLRbfeWmnl5Odz3hbnwvP/nbAOzg7HGn09sY1epel89ltuNyziK7g"
    "+Qx+cmd/zna4yAfsnt1lB08upZ6VO76Im9bLK+areyQxhTo6JeeTO8a17CSpVVUtS9wdipCxb9VYu89iTia0rOeaMPuj"
    "tPO5hfC3+eFX3/E8FA59HGl2luOanbn46jGBjr8YPfoAoTvqC5lLnxkMlno8+lhTmVD+Ak2xdqQ="
)


def _rawstreamers(names: Sequence[str]) -> list[tuple]:
    raw = zlib.decompress(base64.b64decode("".join(_STREAMER_BLOB)))
    records, pos = {}, 0
    for name, version, length in _STREAMER_INDEX:
        records[name] = (None, raw[pos : pos + length], name, version)
        pos += length
    return [records[n] for n in names]


_nbv = uproot.serialization.numbytes_version
DEFAULT_CHUNK_SIZE = 16384  # ROOT's THnSparse default (1024 * 16 bins per chunk)


# ----------------------------------------------------------------------------- coordinates


def coordinate_bits(nbins: Sequence[int]) -> np.ndarray:
    """Bit offsets of each axis in a packed THnSparse coordinate (``ndim + 1`` entries)."""
    widths = [int(n + 2).bit_length() for n in nbins]  # bins incl. under/overflow
    return np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)


def pack_coordinates(coords: np.ndarray, nbins: Sequence[int]) -> np.ndarray:
    """(n, ndim) bin indices (0 = underflow) -> (n, nbytes) uint8, little-endian bit packing."""
    offsets = coordinate_bits(nbins)
    nbytes = (int(offsets[-1]) + 7) // 8
    bits = np.zeros((len(coords), nbytes * 8), dtype=np.uint8)
    for i in range(len(nbins)):
        for j in range(int(offsets[i + 1] - offsets[i])):
            bits[:, offsets[i] + j] = (coords[:, i] >> j) & 1
    return np.packbits(bits, axis=1, bitorder="little")


def unpack_coordinates(packed: np.ndarray, nbins: Sequence[int]) -> np.ndarray:
    """(n, nbytes) uint8 -> (n, ndim) int64 bin indices (0 = underflow)."""
    offsets = coordinate_bits(nbins)
    bits = np.unpackbits(packed, axis=1, bitorder="little").astype(np.int64)
    out = np.empty((len(packed), len(nbins)), dtype=np.int64)
    for i in range(len(nbins)):
        width = int(offsets[i + 1] - offsets[i])
        out[:, i] = bits[:, offsets[i] : offsets[i] + width] @ (1 << np.arange(width))
    return out


# ----------------------------------------------------------------------------- pieces


def _tobject(bits: int = 0x03000000) -> bytes:
    return struct.pack(">hII", 1, 0, bits)


def _object_any(classname: str, payload: bytes) -> bytes:
    """``TBuffer << obj``: byte count, new-class tag and name, then the object's streamer."""
    name = classname.encode() + b"\x00"
    count = np.uint32(len(payload) + len(name) + 4) | uproot.const.kByteCountMask
    return struct.pack(">II", count, uproot.const.kNewClassTag) + name + payload


def _objarray(items: list[bytes]) -> bytes:
    """A TObjArray (owner) of already serialised object-any items."""
    body = (
        _tobject(0x03004000)
        + uproot.serialization.string("")
        + struct.pack(">ii", len(items), 0)
        + b"".join(items)
    )
    return _nbv(len(body), 3) + body


def _vector(data: np.ndarray, dtype: str) -> bytes:
    """An STL vector member inside a streamed class (header, size, data)."""
    body = struct.pack(">i", len(data)) + np.asarray(data, dtype=dtype).tobytes()
    return _nbv(len(body), 10) + body


def _ndarray(sizes: np.ndarray, data: np.ndarray, dtype: str) -> bytes:
    inner = _tobject() + _vector(sizes, ">i8")
    body = _nbv(len(inner), 2) + inner + _vector(data, dtype)
    return _nbv(len(body), 2) + body


def _tarray(data: np.ndarray, dtype: str) -> bytes:
    return struct.pack(">i", len(data)) + np.asarray(data, dtype=dtype).tobytes()


# ----------------------------------------------------------------------------- writer


class WritableTHn(uproot.model.Model):
    """A THnT<double|float> (``coords`` None) or THnSparseT<TArrayD|F> ready for uproot.

    ``contents``/``sumw2``: dense flat arrays with flow bins (axis 0 slowest), or one value per
    filled bin of a sparse histogram with ``coords`` (n, ndim) bin indices. ``stats`` holds
    fEntries, fTsumw, fTsumw2 (-1: no Sumw2) and per-axis arrays fTsumwx, fTsumwx2.
    """

    _deeply_writable = True

    def __init__(
        self,
        *,
        title: str,
        taxes: list[Any],
        nbins: Sequence[int],
        stats: dict[str, Any],
        contents: np.ndarray,
        sumw2: np.ndarray | None,
        single: bool = False,
        coords: np.ndarray | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        name: str | None = None,
    ) -> None:
        self.name = name  # used when serialised without a key name (inside a TList)
        self._title, self._taxes, self._nbins = title, taxes, list(nbins)
        self._stats, self._contents, self._sumw2 = stats, contents, sumw2
        self._coords, self._chunk_size = coords, int(chunk_size)
        self._dtype = ">f4" if single else ">f8"
        if coords is None:
            t = "float" if single else "double"
            self._classname = f"THnT<{t}>"
            names = [self._classname, "THn", "THnBase", f"TNDArrayT<{t}>", "TNDArray"]
        else:
            t = "TArrayF" if single else "TArrayD"
            self._classname = f"THnSparseT<{t}>"
            names = [self._classname, "THnSparse", "THnBase", "THnSparseArrayChunk"]
            names += ["TArrayD", "TArray"]
        self._members = {"fTitle": title}
        self._bases = []
        self.class_rawstreamers = _rawstreamers(names)

    @property
    def classname(self) -> str:
        return self._classname

    def _base(self, name: str | None) -> bytes:
        """THnBase: TNamed, dimensions, axes, statistics."""
        tnamed = uproot.models.TNamed.Model_TNamed.empty()
        tnamed._bases.append(uproot.models.TObject.Model_TObject.empty())
        tnamed._members["fName"] = name or ""
        tnamed._members["fTitle"] = self._title
        named: list[bytes] = []
        tnamed._serialize(named, True, name, np.uint32(0))
        objarray = _objarray([uproot.serialization.serialize_object_any(t) for t in self._taxes])
        s = self._stats
        base = b"".join(named) + struct.pack(">i", len(self._taxes)) + objarray
        base += struct.pack(">ddd", s["fEntries"], s["fTsumw"], s["fTsumw2"])
        for key in ("fTsumwx", "fTsumwx2"):
            base += _tarray(np.asarray(s[key], dtype=np.float64), ">f8")
        return _nbv(len(base), 1) + base

    def _dense(self) -> bytes:
        cells = np.array([n + 2 for n in self._nbins], dtype=np.int64)
        sizes = np.append(np.cumprod(cells[::-1])[::-1], 1)
        sumw2 = self._sumw2 if self._sumw2 is not None else np.array([], dtype=np.float64)
        return _ndarray(sizes, sumw2, ">f8"), _ndarray(sizes, self._contents, self._dtype)

    def _chunks(self) -> bytes:
        packed = pack_coordinates(self._coords, self._nbins)
        size = packed.shape[1]
        tarray = "TArrayF" if self._dtype == ">f4" else "TArrayD"
        items = []
        for start in range(0, len(packed), self._chunk_size):
            stop = min(start + self._chunk_size, len(packed))
            content = np.zeros(self._chunk_size)
            content[: stop - start] = self._contents[start:stop]
            body = _tobject() + struct.pack(">ii", size, (stop - start) * size)
            body += b"\x01" + packed[start:stop].tobytes()
            body += _object_any(tarray, _tarray(content, self._dtype))
            if self._sumw2 is None:
                body += b"\x00\x00\x00\x00"
            else:
                w2 = np.zeros(self._chunk_size)
                w2[: stop - start] = self._sumw2[start:stop]
                body += _object_any("TArrayD", _tarray(w2, ">f8"))
            items.append(_object_any("THnSparseArrayChunk", _nbv(len(body), 1) + body))
        return _objarray(items)

    def _serialize(self, out: list, header: bool, name: Any, tobject_flags: Any) -> None:
        base = self._base(name if name is not None else self.name)
        if self._coords is None:
            sumw2, array = self._dense()
            middle = base + sumw2
            body = _nbv(len(middle), 1) + middle + array
        else:
            middle = base + struct.pack(">iq", self._chunk_size, len(self._coords))
            middle += self._chunks()
            body = _nbv(len(middle), 3) + middle
        out.append(_nbv(len(body), 1) + body)
