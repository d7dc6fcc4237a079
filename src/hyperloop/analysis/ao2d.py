"""Read AO2D files: dataframes (``DF_<n>`` directories) of TTrees, one branch per column.

Layers: a byte source (local file or any fsspec URL, through uproot's sources), the reader
(``AO2DFile``: lists dataframes and trees, reads exactly the requested branches and counts
the bytes it read), and the interpretation into tables (``frame.Frame``). Every failure is an
``AO2DError`` naming the file and what was expected.
"""

from __future__ import annotations

import os
import re
import struct
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import uproot
import uproot.deserialization
import uproot.models.TObject
import uproot.serialization
import uproot.source.file
import uproot.source.fsspec

from hyperloop.analysis.ao2d_baskets import (
    PARSE_ERRORS,
    FileBytes,
    FlatTree,
    KeyInfo,
    directory_keys,
    key_object,
    parse_tree,
    parse_tree_object,
    read_branch,
    tree_entries,
)

# ---------------------------------------------------------------------------------------
# errors


class AO2DError(Exception):
    """Any problem reading an AO2D file; the message names the file and what was expected."""

    def __init__(self, file: str, message: str) -> None:
        super().__init__(f"{file}: {message}")
        self.file = file


class AO2DFileNotFoundError(AO2DError, FileNotFoundError):
    """The file (path or URL) does not exist."""

    def __init__(self, file: str) -> None:
        AO2DError.__init__(self, file, "no such file; expected an AO2D ROOT file at this path")


class TruncatedFileError(AO2DError):
    """The file is shorter than its ROOT header says (an interrupted copy or write)."""


class CorruptFileError(AO2DError):
    """The bytes are not a (readable) ROOT file, or a part of it cannot be decoded."""


class NotAO2DError(AO2DError):
    """A valid ROOT file without any ``DF_<n>`` dataframe directory."""


class MissingDataframeError(AO2DError, LookupError):
    """A dataframe name that the file does not contain."""


class MissingTableError(AO2DError, LookupError):
    """A dataframe lacks a table (TTree) that a task needs."""

    def __init__(
        self, file: str, df: str, table: str, available: Iterable[str] = (), task: str = ""
    ) -> None:
        have = ", ".join(available) or "no tables"
        who = f"task {task}" if task else "a task"
        super().__init__(
            file, f"dataframe {df} has no table {table} that {who} needs (it has: {have})"
        )
        self.df = df
        self.table = table


class MissingColumnError(AO2DError, LookupError):
    """A table (TTree) lacks a column (branch) that a task needs."""

    def __init__(
        self, file: str, df: str, table: str, column: str, available: Iterable[str] = ()
    ) -> None:
        have = ", ".join(available) or "no columns"
        super().__init__(
            file,
            f"table {table} in dataframe {df} has no column {column} that a task needs "
            f"(it has: {have})",
        )
        self.df = df
        self.table = table
        self.column = column


class TableVersionError(MissingColumnError):
    """A dataframe holds an older version of a table that lacks columns the train needs."""


def describe_versions(table: Any) -> str:
    """``O2collision_001 (Collisions_001; older versions read too: O2collision)``."""
    text = f"{table.o2name} ({table.versioned_name}"
    if table.older:
        text += f"; older versions read too: {', '.join(o.o2name for o in table.older)}"
    return text + ")"


def producer_hint(table: Any) -> str:
    """For a table Run 3 does not store: which helper task produces it."""
    if table.stored or not table.producer:
        return ""
    return (
        f"in Run 3 data {table.logical} is not stored but produced by the helper task "
        f"{table.producer}: add it to the train"
    )


# ---------------------------------------------------------------------------------------
# read statistics (measured from the baskets actually read)


@dataclass
class ReadCounts:
    """Bytes, branches and rows read (compressed = on disk, uncompressed = after inflating)."""

    bytes_compressed: int = 0
    bytes_uncompressed: int = 0
    branches_read: int = 0
    rows_read: int = 0
    dataframes_read: int = 0
    read_seconds: float = 0.0

    def add(self, other: ReadCounts) -> None:
        self.bytes_compressed += other.bytes_compressed
        self.bytes_uncompressed += other.bytes_uncompressed
        self.branches_read += other.branches_read
        self.rows_read += other.rows_read
        self.dataframes_read += other.dataframes_read
        self.read_seconds += other.read_seconds


@dataclass
class ReadStats(ReadCounts):
    """Totals plus the same counts per file (``files``), so runs over many files can merge."""

    files: dict[str, ReadCounts] = field(default_factory=dict)

    def record(self, file: str, counts: ReadCounts) -> None:
        self.add(counts)
        self.files.setdefault(file, ReadCounts()).add(counts)

    def merge(self, other: ReadStats) -> None:
        for file, counts in other.files.items():
            self.record(file, counts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------
# the reader

_DF_RE = re.compile(r"^DF_\d+$")
_HEADER = struct.Struct(">4siii")  # magic, fVersion, fBEGIN, fEND (32-bit files)


def _is_url(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _local_path(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def open_ao2d(url_or_path: str | os.PathLike[str], *, fast: bool = True) -> AO2DFile:
    """Open an AO2D file from a local path, a ``file://`` URL or any fsspec URL.

    ``fast=False`` reads every branch through uproot (the reference path)."""
    return AO2DFile(url_or_path, fast=fast)


class AO2DFile:
    """One AO2D file: its dataframes, their trees, and reads of selected branches."""

    def __init__(self, url_or_path: str | os.PathLike[str], *, fast: bool = True) -> None:
        self.path = os.fspath(url_or_path)
        self.fast = fast  # read flat branches from their baskets directly (ao2d_baskets)
        self.stats = ReadStats()
        self._current: _DataframeTrees | None = None  # only the last dataframe is cached
        self._entries: dict[str, dict[str, int]] = {}  # rows per tree, per dataframe
        self._names: dict[str, list[str]] = {}  # tree names per dataframe
        self._keys: dict[str, dict[str, KeyInfo]] = {}  # fast-path TTree keys per dataframe
        self._rows_counted: set[tuple[str, str]] = set()
        self._dfs_counted: set[str] = set()
        self._file = self._open()
        self.num_bytes: int = self._file.file.source.num_bytes
        self._dataframes = self._list_dataframes()
        self._bytes: FileBytes | None = None  # the fast path's view of the file's bytes
        if fast:
            try:
                if _is_url(self.path):
                    self._bytes = FileBytes(source=self._file.file.source)
                else:
                    self._bytes = FileBytes(_local_path(self.path))
            except (OSError, ValueError):
                self._bytes = None

    # -- opening -------------------------------------------------------------------------
    def _open(self) -> Any:
        options: dict[str, Any] = {"object_cache": None, "array_cache": None}
        if _is_url(self.path):
            import fsspec.core

            fs, fs_path = fsspec.core.url_to_fs(self.path)
            if not fs.exists(fs_path):
                raise AO2DFileNotFoundError(self.path)
            size = fs.size(fs_path)
            options["handler"] = uproot.source.fsspec.FSSpecSource
            target = self.path
        else:
            target = _local_path(self.path)
            if not os.path.isfile(target):
                raise AO2DFileNotFoundError(self.path)
            size = os.path.getsize(target)
            # memory-mapped: no I/O thread, ~1.5x faster than uproot's default fsspec source
            # on files with many small dataframes
            options["handler"] = uproot.source.file.MemmapSource
        if size == 0:
            raise TruncatedFileError(self.path, "file is empty (0 bytes); expected a ROOT file")
        self._check_header(size)
        try:
            rfile = uproot.open(target, **options)
        except Exception as err:  # the directory or streamers at the end cannot be decoded
            raise CorruptFileError(
                self.path, f"cannot read the ROOT file structure ({type(err).__name__}: {err})"
            ) from err
        return rfile

    def _check_header(self, size: int) -> int:
        """Check the ROOT magic and that the file is as long as its header says (fEND)."""
        if _is_url(self.path):
            import fsspec

            with fsspec.open(self.path, "rb") as stream:
                head = stream.read(_HEADER.size + 8)
        else:
            with open(_local_path(self.path), "rb") as stream:
                head = stream.read(_HEADER.size + 8)
        if head[:4] != b"root":
            raise CorruptFileError(
                self.path,
                f"not a ROOT file (it starts with {head[:4]!r} instead of b'root'); "
                "expected an AO2D ROOT file",
            )
        if len(head) < _HEADER.size + 8:
            raise TruncatedFileError(
                self.path, f"only {size} bytes, shorter than a ROOT file header"
            )
        _, version, _begin, end32 = _HEADER.unpack(head[: _HEADER.size])
        end = struct.unpack(">q", head[12:20])[0] if version >= 1_000_000 else end32
        if size < end:
            raise TruncatedFileError(
                self.path,
                f"file is truncated: {size} bytes but its ROOT header says {end} "
                "(an interrupted copy or write?)",
            )
        return end

    def _list_dataframes(self) -> list[str]:
        try:
            classes = self._file.classnames(recursive=False, cycle=False)
        except Exception as err:
            raise CorruptFileError(
                self.path, f"cannot read the top-level directory ({type(err).__name__}: {err})"
            ) from err
        dfs = [name for name, cls in classes.items() if _DF_RE.match(name) and "TDirectory" in cls]
        if not dfs:
            have = ", ".join(f"{n} ({c})" for n, c in classes.items()) or "nothing"
            raise NotAO2DError(
                self.path,
                f"not an AO2D file: no DF_<n> dataframe directories (top level holds: {have})",
            )
        return dfs

    # -- listing -------------------------------------------------------------------------
    def dataframes(self) -> list[str]:
        """The ``DF_<n>`` directory names, in file order."""
        return list(self._dataframes)

    def _dataframe(self, df: str) -> _DataframeTrees:
        cached = self._current
        if cached is not None and cached.name == df:
            return cached
        if df not in self._dataframes:
            raise MissingDataframeError(
                self.path, f"no dataframe {df} (it has {len(self._dataframes)} DF_ directories)"
            )
        entries = self._entries.setdefault(df, {})
        keys = self._fast_keys(df)
        if keys is None:
            try:
                keys = _tree_keys(self._file[df])
                for name, key in keys.items():
                    if name not in entries:
                        entries[name] = _tree_entries(key)
            except Exception as err:
                raise CorruptFileError(
                    self.path,
                    f"cannot read the trees of dataframe {df} ({type(err).__name__}: {err})",
                ) from err
        self._names[df] = list(keys)
        self._current = _DataframeTrees(df, keys, entries)
        return self._current

    def _fast_keys(self, df: str) -> dict[str, Any] | None:
        """The TTree keys of a dataframe read with the fast path (None: use uproot)."""
        if self._bytes is None:
            return None
        keys = self._keys.get(df)  # a few small records per dataframe: kept for all
        if keys is None:
            try:
                key = self._file.key(df)
                found = directory_keys(self._bytes, int(key.fSeekKey), int(key.fKeylen))
            except (*PARSE_ERRORS, KeyError, OSError):
                return None
            keys = self._keys[df] = {n: k for n, k in found.items() if k.classname == "TTree"}
        return keys

    def _object(self, df: str, frame: _DataframeTrees, o2name: str) -> bytes | bytearray:
        """The uncompressed TTree object of a fast-path key (kept for the current frame)."""
        data = frame.objects.get(o2name)
        if data is None:
            try:
                data = key_object(self._bytes, frame.keys[o2name])  # type: ignore[arg-type]
            except PARSE_ERRORS as err:
                raise CorruptFileError(
                    self.path,
                    f"cannot read table {o2name} of dataframe {df} ({type(err).__name__}: {err})",
                ) from err
            frame.objects[o2name] = data
        return data

    def tree_names(self, df: str) -> list[str]:
        """The O2 names of a dataframe's TTrees, in file order (no tree is decoded)."""
        names = self._names.get(df)
        if names is None:
            names = self._names[df] = list(self._dataframe(df).keys)
        return list(names)

    def entries(self, df: str, o2name: str) -> int:
        """Rows of one table of a dataframe (decodes only that tree's header)."""
        known = self._entries.get(df)
        if known is not None and o2name in known:
            return known[o2name]
        frame = self._dataframe(df)
        key = frame.keys.get(o2name)
        if key is None:
            raise MissingTableError(self.path, df, o2name, frame.keys)
        if o2name not in frame.entries:
            try:
                n = tree_entries(self._object(df, frame, o2name), key)
            except PARSE_ERRORS:
                n = int(self._tree(df, o2name).num_entries)
            frame.entries[o2name] = n
        return frame.entries[o2name]

    def bind(self, df: str, table: Any, columns: Iterable[str] = ()) -> str:
        """The tree of a dataframe that holds ``table`` (a ``TableSchema``): its current
        version, else the newest older version present, provided that version has
        ``columns``. Raises MissingTableError / TableVersionError naming the versions."""
        present = self.tree_names(df)
        for cand in table.candidates():
            if cand.o2name in present:
                break
        else:
            err = MissingTableError(self.path, df, describe_versions(table), present)
            hint = producer_hint(table)
            if hint:
                err.args = (f"{err.args[0]}; {hint}",)
            raise err
        if cand is not table:
            have = set(self.columns(df, cand.o2name))
            missing = [c for c in dict.fromkeys(columns) if c not in have]
            if missing:
                err = TableVersionError(self.path, df, cand.o2name, missing[0], sorted(have))
                err.args = (
                    f"{self.path}: dataframe {df} holds {table.logical} in version "
                    f"{cand.version} ({cand.o2name}), which lacks column(s) "
                    f"{', '.join(missing)} that the train needs; they are in the current "
                    f"version {table.version} ({table.o2name})",
                )
                raise err
        return cand.o2name

    def trees(self, df: str) -> dict[str, int]:
        """The TTrees of a dataframe: O2 name -> number of rows (without parsing branches)."""
        return {name: self.entries(df, name) for name in self.tree_names(df)}

    def columns(self, df: str, o2name: str) -> list[str]:
        """The branch names of one table of a dataframe."""
        flat = self._flat_tree(df, o2name)
        if flat is not None:
            return list(flat.branch_names)
        return list(self._tree(df, o2name).keys(recursive=False))

    def _tree(self, df: str, o2name: str) -> Any:
        frame = self._dataframe(df)
        tree = frame.parsed.get(o2name)
        if tree is not None:
            return tree
        key = frame.keys.get(o2name)
        if key is None:
            raise MissingTableError(self.path, df, o2name, frame.keys)
        try:
            if isinstance(key, KeyInfo):
                key = self._file[df].key(o2name)
            tree = key.get()
        except Exception as err:
            raise CorruptFileError(
                self.path,
                f"cannot read table {o2name} of dataframe {df} ({type(err).__name__}: {err})",
            ) from err
        frame.parsed[o2name] = tree
        return tree

    # -- reading -------------------------------------------------------------------------
    def _flat_tree(self, df: str, o2name: str) -> FlatTree | None:
        frame = self._dataframe(df)
        if o2name not in frame.flat:
            key = frame.keys.get(o2name)
            if key is None:
                raise MissingTableError(self.path, df, o2name, frame.keys)
            if not self.fast:
                frame.flat[o2name] = None
            elif isinstance(key, KeyInfo):
                frame.flat[o2name] = parse_tree_object(self._object(df, frame, o2name), key)
            else:
                frame.flat[o2name] = parse_tree(key)
        return frame.flat[o2name]

    def column_nbytes(self, df: str, o2name: str, column: str) -> int | None:
        """Bytes a column takes once read, from the tree's metadata alone (None: unknown
        before reading, e.g. a branch that only uproot reads)."""
        flat = self._flat_tree(df, o2name)
        branch = flat.branch(column) if flat is not None and column in flat.branch_names else None
        if branch is None:
            return None
        return branch.entries * branch.dtype.itemsize

    def read(
        self,
        df: str,
        o2name: str,
        columns: Iterable[str],
        *,
        alloc: Callable[[str, np.dtype, tuple[int, ...]], np.ndarray | None] | None = None,
    ) -> dict[str, np.ndarray]:
        """Read only ``columns`` of one table as native-endian numpy arrays, counting bytes.

        ``alloc(column, dtype, shape)`` may provide the array each column is read into
        (e.g. in shared memory; baskets are then inflated straight into it) or None."""
        wanted = list(dict.fromkeys(columns))
        flat = self._flat_tree(df, o2name)
        if flat is not None:
            available = flat.branch_names
        else:
            available = self._tree(df, o2name).keys(recursive=False)
        missing = [col for col in wanted if col not in available]
        if missing:
            raise MissingColumnError(self.path, df, o2name, missing[0], available)
        counts = ReadCounts()
        start = time.perf_counter()
        out: dict[str, np.ndarray] = {}
        for col in wanted:
            branch = flat.branch(col) if flat is not None else None
            arr = None
            if branch is not None:
                try:
                    dest = None
                    if alloc is not None:
                        shape = (branch.entries, *branch.dtype.shape)
                        dest = alloc(col, branch.dtype.base.newbyteorder("="), shape)
                    arr = read_branch(self._bytes or self._file.file.source, branch, dest)
                    counts.bytes_compressed += branch.zip_bytes
                    counts.bytes_uncompressed += branch.tot_bytes
                except Exception:  # let uproot read it (and report what is wrong)
                    arr = None
            if arr is None:
                arr = self._read_with_uproot(df, o2name, col, counts)
                if alloc is not None and arr.dtype != object:  # jagged columns stay local
                    dest = alloc(col, arr.dtype, arr.shape)
                    if dest is not None:
                        dest[...] = arr
                        arr = dest
            out[col] = arr
        counts.read_seconds = time.perf_counter() - start
        counts.branches_read = len(wanted)
        if wanted and (df, o2name) not in self._rows_counted:
            self._rows_counted.add((df, o2name))
            counts.rows_read = self.entries(df, o2name)
        if wanted and df not in self._dfs_counted:
            self._dfs_counted.add(df)
            counts.dataframes_read = 1
        self.stats.record(self.path, counts)
        return out

    def _read_with_uproot(self, df: str, o2name: str, col: str, counts: ReadCounts) -> np.ndarray:
        try:
            branch = self._tree(df, o2name)[col]
            arr = branch.array(library="np")
            counts.bytes_compressed += int(branch.compressed_bytes)
            counts.bytes_uncompressed += int(branch.uncompressed_bytes)
        except AO2DError:
            raise
        except Exception as err:
            raise CorruptFileError(
                self.path,
                f"cannot read column {col} of table {o2name} in dataframe {df} "
                f"({type(err).__name__}: {err})",
            ) from err
        if arr.dtype.byteorder not in ("=", "|"):
            arr = arr.astype(arr.dtype.newbyteorder("="))
        return arr

    # -- parent links ----------------------------------------------------------------------
    def parent_files(self) -> dict[str, str] | None:
        """The ``parentFiles`` TMap of linked derived data (``DF_<id>`` -> parent AO2D path)."""
        return self._tmap("parentFiles")

    def metadata(self) -> dict[str, str] | None:
        """The ``metaData`` TMap Run 3 reconstruction writes (``DataType``, ``Run``,
        ``RecoPassName``, ``AnchorProduction``, ...), None if the file has none."""
        return self._tmap("metaData")

    def _tmap(self, name: str) -> dict[str, str] | None:
        try:
            key = self._file.key(name)
        except KeyError:
            return None
        if key.fClassName != "TMap":
            raise CorruptFileError(
                self.path, f"{name} is a {key.fClassName}, expected a TMap of strings"
            )
        try:
            return read_tmap_of_strings(key)
        except Exception as err:
            raise CorruptFileError(
                self.path, f"cannot decode the {name} TMap ({type(err).__name__}: {err})"
            ) from err

    # -- lifetime ----------------------------------------------------------------------------
    def close(self) -> None:
        self._current = None
        if self._bytes is not None:
            self._bytes.close()
            self._bytes = None
        self._file.close()

    def __enter__(self) -> AO2DFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<AO2DFile {self.path} with {len(self._dataframes)} dataframes>"


@dataclass
class _DataframeTrees:
    """The TTree keys of one dataframe (uproot keys, or ``KeyInfo`` on the fast path), their
    entry counts and the TTrees decoded so far."""

    name: str
    keys: dict[str, Any]
    entries: dict[str, int]
    parsed: dict[str, Any] = field(default_factory=dict)  # uproot TTrees
    objects: dict[str, bytes | bytearray] = field(default_factory=dict)  # fast-path TTrees
    flat: dict[str, FlatTree | None] = field(default_factory=dict)  # fast-path layouts


def _tree_keys(directory: Any) -> dict[str, Any]:
    """TTree keys of a directory by name (highest cycle), in file order."""
    classes = directory.classnames(recursive=False, cycle=False)
    return {name: directory.key(name) for name, cls in classes.items() if cls == "TTree"}


def _tree_entries(key: Any) -> int:
    """A TTree's fEntries read from its key without parsing its branches (which costs
    milliseconds per tree in uproot): skip the TNamed and TAtt* bases by their byte counts."""
    chunk, cursor = key.get_uncompressed_chunk_cursor()
    context: dict[str, Any] = {"breadcrumbs": (), "TKey": key}
    uproot.deserialization.numbytes_version(chunk, cursor, context)  # TTree itself
    for _ in range(4):  # TNamed, TAttLine, TAttFill, TAttMarker
        num_bytes, _, _ = uproot.deserialization.numbytes_version(chunk, cursor, context, False)
        if num_bytes is None:
            return int(key.get().num_entries)
        cursor.skip(num_bytes)
    return int(cursor.field(chunk, _INT64, context))


# ---------------------------------------------------------------------------------------
# TMap of TObjString -> TObjString (``parentFiles``), read and written

_TMAP_VERSION = 3
_INT32 = struct.Struct(">i")
_INT64 = struct.Struct(">q")


def read_tmap_of_strings(key: Any) -> dict[str, str]:
    """Decode a TMap key whose keys and values are TObjStrings (TMap::Streamer layout).

    Layout: byte count + version, TObject, fName (TString), nobjects (int32), then
    ``nobjects`` pairs of object pointers (key, value) as written by ``TBuffer << obj``.
    """
    chunk, cursor = key.get_uncompressed_chunk_cursor()
    context: dict[str, Any] = {"breadcrumbs": (), "TKey": key}
    file = key.file
    _, version, _ = uproot.deserialization.numbytes_version(chunk, cursor, context)
    if version > 2:
        uproot.models.TObject.Model_TObject.read(chunk, cursor, context, file, file, None)
    if version > 1:
        cursor.string(chunk, context)  # fName
    nobjects = cursor.field(chunk, _INT32, context)
    out: dict[str, str] = {}
    for _ in range(nobjects):
        k = uproot.deserialization.read_object_any(chunk, cursor, context, file, file, None)
        v = uproot.deserialization.read_object_any(chunk, cursor, context, file, file, None)
        if k is None:
            continue
        out[str(k)] = "" if v is None else str(v)
    return out


def _tmap_of_strings_bytes(mapping: Mapping[str, str]) -> bytes:
    out: list[bytes] = []
    tobject = uproot.models.TObject.Model_TObject.empty()
    tobject._serialize(out, True, None, np.uint32(uproot.const.kNotDeleted))
    out.append(uproot.serialization.string(""))  # fName
    out.append(_INT32.pack(len(mapping)))
    for k, v in mapping.items():
        uproot.serialization._serialize_object_any(
            out, uproot.writing.identify.to_TObjString(str(k)), None
        )
        uproot.serialization._serialize_object_any(
            out, uproot.writing.identify.to_TObjString(str(v)), None
        )
    body = b"".join(out)
    return uproot.serialization.numbytes_version(len(body), _TMAP_VERSION) + body


def write_metadata(directory: Any, mapping: Mapping[str, str]) -> None:
    """Write ``mapping`` as the ``metaData`` TMap of strings, as O2's AOD producer does."""
    write_parent_files(directory, mapping, name="metaData")


def write_parent_files(directory: Any, mapping: Mapping[str, str], name: str = "parentFiles"):
    """Write ``mapping`` (``DF_<id>`` -> parent AO2D path) as a TMap into an uproot
    writable file/directory, the way O2 links derived data to its parents."""
    raw = _tmap_of_strings_bytes(mapping)
    compressed = uproot.compression.compress(raw, directory.file.compression)
    # uproot has no TMap writer: add the serialised object as a key through its cascade.
    directory._cascading.add_object(directory.file.sink, "TMap", name, "", compressed, len(raw))
