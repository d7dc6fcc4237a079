"""Write AO2D files: one ``DF_<id>`` directory per dataframe, one TTree per table.

uproot 5.7 writes an RNTuple for ``file[name] = arrays``; AO2D needs TTrees, so trees are
made with ``mkdir`` + ``mktree`` + ``extend``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import uproot

COMPRESSIONS = {
    "zstd": lambda level: uproot.ZSTD(level),
    "lz4": lambda level: uproot.LZ4(level),
    "zlib": lambda level: uproot.ZLIB(level),
    "none": lambda level: None,
}


def _jagged(values: np.ndarray):
    """An object array of 1-D arrays (one per row) as an awkward jagged array."""
    import awkward as ak

    dtype = next((np.asarray(v).dtype for v in values if len(v)), np.dtype(np.float32))
    counts = np.fromiter((len(v) for v in values), dtype=np.int64, count=len(values))
    flat = (
        np.concatenate([np.asarray(v, dtype=dtype) for v in values])
        if counts.sum()
        else np.zeros(0, dtype)
    )
    return ak.unflatten(flat, counts)


class AO2DWriter:
    """Writes dataframes of tables into one AO2D file (ZSTD by default, like Run 3)."""

    def __init__(self, path: str | os.PathLike, *, compression: str = "zstd", level: int = 5):
        try:
            codec = COMPRESSIONS[compression](level)
        except KeyError:
            raise ValueError(
                f"unknown compression {compression!r}; choose one of {', '.join(COMPRESSIONS)}"
            ) from None
        self.path = os.fspath(path)
        self._file = uproot.recreate(self.path, compression=codec)
        self._dataframes: set[str] = set()

    def write_dataframe(
        self, df_id: int | str, tables: Mapping[str, Mapping[str, np.ndarray]]
    ) -> str:
        """Write one dataframe: ``tables`` maps O2 tree name -> {column: 1-D array}."""
        name = df_id if isinstance(df_id, str) and df_id.startswith("DF_") else f"DF_{df_id}"
        if name in self._dataframes:
            raise ValueError(f"dataframe {name} already written to {self.path}")
        directory = self._file.mkdir(name)
        for tree_name, columns in tables.items():
            arrays: dict[str, object] = {}
            types: dict[str, object] = {}
            for col, arr in columns.items():
                if isinstance(arr, np.ndarray) and arr.dtype == object:
                    # std::vector columns: one array per row, written as a jagged branch
                    # with its count branch "<column>_size" as O2 writes them
                    arrays[col] = jagged = _jagged(arr)
                    types[col] = jagged.type.content
                    continue
                a = np.ascontiguousarray(arr)
                arrays[col] = a
                # fixed-size array columns (e.g. fIndexSlice[2]) keep their inner shape
                types[col] = np.dtype((a.dtype, a.shape[1:])) if a.ndim > 1 else a.dtype
            lengths = {len(a) for a in arrays.values()}  # type: ignore[arg-type]
            if len(lengths) > 1:
                raise ValueError(f"{name}/{tree_name}: columns of different lengths {lengths}")
            tree = directory.mktree(tree_name, types, counter_name=lambda col: f"{col}_size")
            if lengths and next(iter(lengths)) > 0:
                tree.extend(arrays)
        self._dataframes.add(name)
        return name

    @property
    def file(self) -> uproot.WritableDirectory:
        """The open uproot file, for top-level objects besides dataframes (parentFiles)."""
        return self._file

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> AO2DWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
