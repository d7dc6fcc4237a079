"""The table schema registry: AO2D tables under their O2 and logical names.

Every table an AO2D file (or a task) can hold is declared once here: its TTree name
(``O2track``), its logical name (``Tracks``), its stored columns with dtypes, its index
columns (``fIndexCollisions`` -> ``Collisions``), the table it extends row by row (a
"join" such as ``TracksExtra`` on ``Tracks``) and its **dynamic columns**, computed from
stored ones once per dataframe (``pt`` from ``fSigned1Pt``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np


class SchemaError(LookupError):
    """A table or column that the registry does not know."""


@dataclass(frozen=True)
class DynamicColumn:
    """A column computed from stored (or other dynamic) columns of the same table."""

    name: str
    inputs: tuple[str, ...]
    func: Callable[..., np.ndarray]
    doc: str = ""


@dataclass(frozen=True)
class TableSchema:
    """One table: O2 tree name, logical name, stored columns and how it relates to others."""

    logical: str
    o2name: str
    columns: Mapping[str, str]  # column name -> numpy dtype string
    index_columns: Mapping[str, str] = field(default_factory=dict)  # column -> target table
    dynamic: Mapping[str, DynamicColumn] = field(default_factory=dict)
    extends: str | None = None  # logical name of the table this one is row-aligned with
    doc: str = ""
    version: str | None = None  # "001" for versioned O2 tables (None: unversioned)
    older: tuple[TableSchema, ...] = ()  # older versions still read, newest first
    stored: bool = True  # written by the Run 3 reconstruction (False: a helper task makes it)
    producer: str | None = None  # the O2 helper task producing it when not stored
    category: str = ""

    @property
    def versioned_name(self) -> str:
        """``Collisions_001`` (the logical name for unversioned tables)."""
        if self.version is None or self.logical.endswith(f"_{self.version}"):
            return self.logical
        return f"{self.logical}_{self.version}"

    def candidates(self) -> tuple[TableSchema, ...]:
        """This version and the older ones a file may hold instead, newest first."""
        return (self, *self.older)

    def is_vector(self, column: str) -> bool:
        """A variable-length (``std::vector``) column, read as an object array of arrays."""
        return self.columns.get(column, "").startswith("vector<")

    def has_column(self, name: str) -> bool:
        return name in self.columns or name in self.dynamic

    def stored_inputs(self, names: Iterable[str]) -> list[str]:
        """The stored columns needed to provide ``names`` (dynamic columns resolved)."""
        needed: list[str] = []
        seen: set[str] = set()

        def visit(col: str, chain: tuple[str, ...]) -> None:
            if col in seen:
                return
            if col in self.columns:
                seen.add(col)
                needed.append(col)
                return
            dyn = self.dynamic.get(col)
            if dyn is None:
                known = ", ".join(sorted([*self.columns, *self.dynamic]))
                raise SchemaError(
                    f"table {self.logical} ({self.o2name}) has no column {col!r}; known: {known}"
                )
            if col in chain:
                raise SchemaError(f"dynamic column {col!r} of {self.logical} depends on itself")
            for dep in dyn.inputs:
                visit(dep, (*chain, col))
            seen.add(col)

        for name in names:
            visit(name, ())
        return needed

    def dtype(self, column: str) -> np.dtype:
        try:
            spec = self.columns[column]
            return np.dtype(object) if spec.startswith("vector<") else np.dtype(spec)
        except KeyError:
            raise SchemaError(f"table {self.logical} has no stored column {column!r}") from None


class SchemaRegistry:
    """Tables by logical name, by versioned name and by O2 tree name.

    ``get("Collisions")`` and ``get("Collisions_001")`` give the current version (the
    table tasks bind to); ``get("Collisions_000")`` gives the older version, a table of its
    own (logical name ``Collisions_000``, tree ``O2collision``) for tasks that ask for it."""

    def __init__(self, tables: Iterable[TableSchema] = ()) -> None:
        self._by_logical: dict[str, TableSchema] = {}
        self._by_o2: dict[str, TableSchema] = {}
        self._alias: dict[str, str] = {}  # versioned name -> logical name
        for table in tables:
            self.register(table)

    def register(self, table: TableSchema, *, replace: bool = False) -> TableSchema:
        old = self._by_logical.get(table.logical)
        if old is not None and not replace and old != table:
            raise SchemaError(f"table {table.logical} is already registered differently")
        clash = self._by_o2.get(table.o2name)
        if clash is not None and clash.logical != table.logical:
            raise SchemaError(f"O2 name {table.o2name} already belongs to {clash.logical}")
        self._by_logical[table.logical] = table
        self._by_o2[table.o2name] = table
        if table.versioned_name != table.logical:
            self._alias[table.versioned_name] = table.logical
        for older in table.older:
            if older.logical not in self._by_logical:
                self.register(older)
        return table

    def get(self, name: str) -> TableSchema:
        """A table by logical (``Tracks``), versioned (``Collisions_001``) or O2 tree name
        (``O2track``, ``O2collision_001``)."""
        table = (
            self._by_logical.get(name)
            or self._by_logical.get(self._alias.get(name, ""))
            or self._by_o2.get(name)
        )
        if table is None:
            raise SchemaError(f"unknown table {name!r}{self.suggest(name)}")
        return table

    def suggest(self, name: str) -> str:
        """``"; did you mean 'Tracks'?"`` for a misspelt table name (else the known names)."""
        import difflib

        names = sorted(self._by_logical)
        close = difflib.get_close_matches(
            name, names, n=1, cutoff=0.6
        ) or difflib.get_close_matches(name.lower(), {n.lower(): n for n in names}, n=1)
        if close:
            match = next((n for n in names if n.lower() == close[0].lower()), close[0])
            return f"; did you mean {match!r}?"
        return f"; known tables: {', '.join(names)}"

    def __contains__(self, name: str) -> bool:
        return name in self._by_logical or name in self._alias or name in self._by_o2

    def by_o2name(self, o2name: str) -> TableSchema | None:
        return self._by_o2.get(o2name)

    def tables(self) -> list[TableSchema]:
        return list(self._by_logical.values())

    def copy(self) -> SchemaRegistry:
        return SchemaRegistry(self._by_logical.values())


# ---------------------------------------------------------------------------------------
# dynamic column functions (vectorised, float32 in -> float32 out where it makes sense)

TWO_PI = np.float32(2 * np.pi)
_ZERO = np.float32(0)


def _pt_from_signed1pt(signed1pt: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return (1.0 / np.abs(signed1pt)).astype(np.float32, copy=False)


def _sign_from_signed1pt(signed1pt: np.ndarray) -> np.ndarray:
    return np.where(signed1pt >= 0, 1, -1).astype(np.int8)


def _asinh(x: np.ndarray) -> np.ndarray:
    """asinh as float32, correctly rounded: log(a + sqrt(a^2 + 1)), a = |x|, in float64
    (sqrt and log vectorised) with the sign of x, and the series a - a^3/6 + 3a^5/40 where
    a < 1e-3 (the log loses digits there). A third faster than float32 np.arcsinh, which
    calls libm's asinhf (1 ulp off for about a quarter of the values)."""
    a = np.abs(x, dtype=np.float64)
    r = a * a
    r += 1.0
    np.sqrt(r, out=r)
    r += a
    np.log(r, out=r)
    small = a < 1e-3
    if small.any():
        s = a[small]
        s2 = s * s
        r[small] = s * (1.0 - s2 / 6.0 + 0.075 * s2 * s2)
    return np.copysign(r, x).astype(np.float32, copy=False)


def _eta_from_tgl(tgl: np.ndarray) -> np.ndarray:
    # eta = -ln(tan(theta/2)) with tan(lambda) = tgl, theta = pi/2 - lambda  => eta = asinh(tgl)
    return _asinh(tgl)


def _phi_from_snp_alpha(snp: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    # asin(snp) is in [-pi/2, pi/2] and alpha in [-pi, pi]: one wrap brings phi to [0, 2pi)
    # (adding a 0 or 2 pi picked by np.where: the same values as masked in-place adds, and
    # a quarter faster than ``where=`` ufuncs)
    phi = np.clip(snp, -1, 1, dtype=np.float32)
    np.arcsin(phi, out=phi)
    phi += alpha
    phi += np.where(phi < 0, TWO_PI, _ZERO)
    phi -= np.where(phi >= TWO_PI, TWO_PI, _ZERO)
    return phi


def _px(pt: np.ndarray, phi: np.ndarray) -> np.ndarray:
    return (pt * np.cos(phi)).astype(np.float32, copy=False)


def _py(pt: np.ndarray, phi: np.ndarray) -> np.ndarray:
    return (pt * np.sin(phi)).astype(np.float32, copy=False)


def _pz(pt: np.ndarray, tgl: np.ndarray) -> np.ndarray:
    return (pt * tgl).astype(np.float32, copy=False)


def _p(pt: np.ndarray, tgl: np.ndarray) -> np.ndarray:
    return (pt * np.sqrt(1 + tgl * tgl)).astype(np.float32, copy=False)


def _pt_from_pxpy(px: np.ndarray, py: np.ndarray) -> np.ndarray:
    return np.hypot(px, py).astype(np.float32, copy=False)


def _phi_from_pxpy(px: np.ndarray, py: np.ndarray) -> np.ndarray:
    return np.mod(np.arctan2(py, px), TWO_PI).astype(np.float32, copy=False)


def _eta_from_pxpypz(px: np.ndarray, py: np.ndarray, pz: np.ndarray) -> np.ndarray:
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.arcsinh(pz / pt).astype(np.float32, copy=False)


def _rapidity(e: np.ndarray, pz: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return (0.5 * np.log((e + pz) / (e - pz))).astype(np.float32, copy=False)


def _bit(flag: int) -> Callable[[np.ndarray], np.ndarray]:
    def test(flags: np.ndarray) -> np.ndarray:
        return (flags & flag) != 0

    return test


def _dyn(name: str, inputs: tuple[str, ...], func: Callable[..., np.ndarray], doc: str):
    return name, DynamicColumn(name, inputs, func, doc)


TRACK_PAR_DYNAMIC = dict(
    [
        _dyn("pt", ("fSigned1Pt",), _pt_from_signed1pt, "transverse momentum (GeV/c)"),
        _dyn("sign", ("fSigned1Pt",), _sign_from_signed1pt, "charge sign (+1/-1)"),
        _dyn("eta", ("fTgl",), _eta_from_tgl, "pseudorapidity"),
        _dyn("phi", ("fSnp", "fAlpha"), _phi_from_snp_alpha, "azimuth in [0, 2pi)"),
        _dyn("px", ("pt", "phi"), _px, "momentum x (GeV/c)"),
        _dyn("py", ("pt", "phi"), _py, "momentum y (GeV/c)"),
        _dyn("pz", ("pt", "fTgl"), _pz, "momentum z (GeV/c)"),
        _dyn("p", ("pt", "fTgl"), _p, "momentum (GeV/c)"),
    ]
)

PXPYPZ_DYNAMIC = dict(
    [
        _dyn("pt", ("fPx", "fPy"), _pt_from_pxpy, "transverse momentum (GeV/c)"),
        _dyn("phi", ("fPx", "fPy"), _phi_from_pxpy, "azimuth in [0, 2pi)"),
        _dyn("eta", ("fPx", "fPy", "fPz"), _eta_from_pxpypz, "pseudorapidity"),
    ]
)

# MC particle flags (O2: o2::aod::mcparticle::enums)
MC_PRODUCED_BY_TRANSPORT = 0x1
MC_PHYSICAL_PRIMARY = 0x2

F = "float32"

DATA_MODEL_FILE = Path(__file__).with_name("datamodel") / "ao2d_tables.toml"

# C++ types of the data model documentation -> numpy dtypes
_CPP_TYPES = {
    "float": "float32",
    "double": "float64",
    "bool": "bool",
    "int": "int32",
    "int32": "int32",
    "int32_t": "int32",
    "short": "int16",
    "int16_t": "int16",
    "int8_t": "int8",
    "int64_t": "int64",
    "uint8_t": "uint8",
    "uint16_t": "uint16",
    "uint32_t": "uint32",
    "uint64_t": "uint64",
}
_COLUMN_RE = re.compile(
    r"^(?P<name>f\w+) (?P<type>std::vector<\w+>|\w+(?:\[\d+\])?)(?: -> (?P<target>\w+))?$"
)


def numpy_type(cpp: str) -> str:
    """The schema dtype string of a data-model type: ``float`` -> ``float32``,
    ``float[4]`` -> ``(4,)float32``, ``std::vector<float>`` -> ``vector<float32>``."""
    if cpp.startswith("std::vector<"):
        return f"vector<{_CPP_TYPES[cpp[len('std::vector<') : -1]]}>"
    if cpp.endswith("]"):
        base, n = cpp[:-1].split("[")
        return f"({int(n)},){_CPP_TYPES[base]}"
    return _CPP_TYPES[cpp]


def _its_ncls_from_sizes(sizes: np.ndarray) -> np.ndarray:
    """ITS clusters: layers (4 bits each, 7 layers) with a non-zero cluster size."""
    s = sizes.astype(np.uint32, copy=False)
    return sum(((s >> (4 * layer)) & 0xF) > 0 for layer in range(7)).astype(np.uint8)


def _its_map_from_sizes(sizes: np.ndarray) -> np.ndarray:
    s = sizes.astype(np.uint32, copy=False)
    out = np.zeros(len(s), dtype=np.uint8)
    for layer in range(7):
        out |= ((((s >> (4 * layer)) & 0xF) > 0).astype(np.uint8) << layer).astype(np.uint8)
    return out


def _its_ncls_from_map(its_map: np.ndarray) -> np.ndarray:
    return np.unpackbits(its_map[:, None], axis=1).sum(axis=1).astype(np.uint8)


def _tpc_found(findable: np.ndarray, minus: np.ndarray) -> np.ndarray:
    return (findable.astype(np.int16) - minus).astype(np.int16)


_TPC_DYNAMIC = dict(
    [
        _dyn(
            "tpcNClsFound",
            ("fTPCNClsFindable", "fTPCNClsFindableMinusFound"),
            _tpc_found,
            "number of TPC clusters found",
        ),
        _dyn(
            "tpcNClsCrossedRows",
            ("fTPCNClsFindable", "fTPCNClsFindableMinusCrossedRows"),
            _tpc_found,
            "number of TPC crossed rows",
        ),
    ]
)
MC_PARTICLE_DYNAMIC = {
    **PXPYPZ_DYNAMIC,
    **dict(
        [
            _dyn("y", ("fE", "fPz"), _rapidity, "rapidity"),
            _dyn(
                "isPhysicalPrimary",
                ("fFlags",),
                _bit(MC_PHYSICAL_PRIMARY),
                "physical primary (flag bit)",
            ),
        ]
    ),
}

# dynamic columns (code, not data) by table, or by "Table_NNN" for one version only
DYNAMIC_COLUMNS: dict[str, dict[str, DynamicColumn]] = {
    "TracksIU": TRACK_PAR_DYNAMIC,
    "Tracks": TRACK_PAR_DYNAMIC,
    "TracksExtra_000": {
        **_TPC_DYNAMIC,
        **dict(
            [
                _dyn("itsNCls", ("fITSClusterMap",), _its_ncls_from_map, "number of ITS clusters"),
            ]
        ),
    },
    "TracksExtra": {
        **_TPC_DYNAMIC,
        **dict(
            [
                _dyn(
                    "itsNCls",
                    ("fITSClusterSizes",),
                    _its_ncls_from_sizes,
                    "number of ITS clusters (layers with a cluster size)",
                ),
                _dyn(
                    "itsClusterMap",
                    ("fITSClusterSizes",),
                    _its_map_from_sizes,
                    "ITS cluster map, one bit per layer",
                ),
            ]
        ),
    },
    "McParticles": MC_PARTICLE_DYNAMIC,
}


def _parse_columns(where: str, specs: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    columns: dict[str, str] = {}
    index: dict[str, str] = {}
    for spec in specs:
        m = _COLUMN_RE.match(spec)
        if m is None or (m["type"].split("[")[0] not in _CPP_TYPES and "vector" not in m["type"]):
            raise SchemaError(f"{DATA_MODEL_FILE.name}: {where}: cannot read column {spec!r}")
        columns[m["name"]] = numpy_type(m["type"])
        if m["target"]:
            index[m["name"]] = m["target"]
    return columns, index


def load_data_model(path: Path = DATA_MODEL_FILE) -> tuple[TableSchema, ...]:
    """The tables of the O2 data model file: one schema per table (its current version),
    each holding its older versions (``older``), themselves tables named ``<Table>_NNN``."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    out: list[TableSchema] = []
    for name, spec in data["tables"].items():
        versions = sorted(spec["versions"])
        current = spec["current"]
        if current not in versions:
            raise SchemaError(f"{path.name}: {name}: current version {current} is not listed")
        common = dict(
            extends=spec.get("extends"),
            doc=spec.get("doc", ""),
            stored=spec.get("stored", True),
            producer=spec.get("producer"),
            category=spec.get("category", ""),
        )
        versioned = len(versions) > 1 or current != "000"
        schemas: dict[str, TableSchema] = {}
        for v in versions:
            vspec = spec["versions"][v]
            columns, index = _parse_columns(f"{name}_{v}", vspec["columns"])
            is_current = v == current
            logical = name if is_current else f"{name}_{v}"
            dynamic = DYNAMIC_COLUMNS.get(f"{name}_{v}") or DYNAMIC_COLUMNS.get(name, {})
            schemas[v] = TableSchema(
                logical,
                vspec["tree"],
                columns,
                index_columns=index,
                dynamic={
                    k: d
                    for k, d in dynamic.items()
                    if all(i in columns or i in dynamic for i in d.inputs)
                },
                version=v if versioned else None,
                **common,
            )
        older = tuple(schemas[v] for v in reversed(versions) if v < current)
        out.append(replace(schemas[current], older=older))
        # a version newer than the current one (McCaloLabels_001) is a table of its own
        out.extend(schemas[v] for v in versions if v > current)
    return tuple(out)


STORED_AO2D_TABLES: tuple[TableSchema, ...] = load_data_model()


EXTRA_TABLES: tuple[TableSchema, ...] = (
    TableSchema(
        "UDCollisions",
        "O2udcollision",
        {
            "fGlobalBC": "uint64",
            "fRunNumber": "int32",
            "fPosX": F,
            "fPosY": F,
            "fPosZ": F,
            "fNumContrib": "uint16",
            "fNetCharge": "int8",
            "fRgtrwTOF": F,
        },
        doc="ultra-peripheral (UD) collisions of a derived dataset",
    ),
    TableSchema(
        "UDTracks",
        "O2udtrack",
        {
            "fIndexUDCollisions": "int32",
            "fPx": F,
            "fPy": F,
            "fPz": F,
            "fSign": "int32",
            "fGlobalBC": "uint64",
            "fTrackTime": "float64",
            "fTrackTimeRes": F,
        },
        index_columns={"fIndexUDCollisions": "UDCollisions"},
        dynamic=PXPYPZ_DYNAMIC,
        doc="UD tracks (momentum components)",
    ),
    TableSchema(
        "UDTracksExtra",
        "O2udtrackextra",
        {
            "fITSClusterMap": "uint8",
            "fTPCNClsFindable": "uint8",
            "fTPCNClsFindableMinusFound": "int8",
            "fTPCNClsFindableMinusCrossedRows": "int8",
            "fTPCNClsShared": "uint8",
            "fTRDPattern": "uint8",
            "fITSChi2NCl": F,
            "fTPCChi2NCl": F,
            "fTRDChi2": F,
            "fTOFChi2": F,
            "fTPCSignal": F,
            "fTOFSignal": F,
            "fTRDSignal": F,
            "fLength": F,
            "fTOFExpMom": F,
            "fDetectorMap": "uint8",
        },
        extends="UDTracks",
        doc="UD track quality and signals, row-aligned with UDTracks",
    ),
    TableSchema(
        "UDTracksPID",
        "O2udtrackpid",
        {f"f{det}NSigma{sp}": F for det in ("TPC", "TOF") for sp in ("El", "Mu", "Pi", "Ka", "Pr")},
        extends="UDTracks",
        doc="UD track PID n-sigma, row-aligned with UDTracks",
    ),
)


def default_registry() -> SchemaRegistry:
    """A fresh registry holding the O2 data model's AO2D tables (``datamodel/ao2d_tables.toml``)
    and the UD derived tables (tasks may register produced ones)."""
    return SchemaRegistry((*STORED_AO2D_TABLES, *EXTRA_TABLES))
