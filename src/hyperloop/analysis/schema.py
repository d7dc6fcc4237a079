"""The table schema registry: AO2D tables under their O2 and logical names.

Every table an AO2D file (or a task) can hold is declared once here: its TTree name
(``O2track``), its logical name (``Tracks``), its stored columns with dtypes, its index
columns (``fIndexCollisions`` -> ``Collisions``), the table it extends row by row (a
"join" such as ``TracksExtra`` on ``Tracks``) and its **dynamic columns**, computed from
stored ones once per dataframe (``pt`` from ``fSigned1Pt``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

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
            return np.dtype(self.columns[column])
        except KeyError:
            raise SchemaError(f"table {self.logical} has no stored column {column!r}") from None


class SchemaRegistry:
    """Tables by logical name and by O2 tree name."""

    def __init__(self, tables: Iterable[TableSchema] = ()) -> None:
        self._by_logical: dict[str, TableSchema] = {}
        self._by_o2: dict[str, TableSchema] = {}
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
        return table

    def get(self, name: str) -> TableSchema:
        """A table by logical name (``Tracks``) or O2 name (``O2track``)."""
        table = self._by_logical.get(name) or self._by_o2.get(name)
        if table is None:
            raise SchemaError(
                f"unknown table {name!r}; known tables: {', '.join(sorted(self._by_logical))}"
            )
        return table

    def __contains__(self, name: str) -> bool:
        return name in self._by_logical or name in self._by_o2

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

CORE_TABLES: tuple[TableSchema, ...] = (
    TableSchema(
        "BCs",
        "O2bc",
        {"fRunNumber": "int32", "fGlobalBC": "uint64", "fTriggerMask": "uint64"},
        doc="bunch crossings",
    ),
    TableSchema(
        "Collisions",
        "O2collision",
        {
            "fIndexBCs": "int32",
            "fPosX": F,
            "fPosY": F,
            "fPosZ": F,
            "fCovXX": F,
            "fCovYY": F,
            "fCovZZ": F,
            "fFlags": "uint16",
            "fChi2": F,
            "fNumContrib": "uint16",
            "fCollisionTime": F,
            "fCollisionTimeRes": F,
        },
        index_columns={"fIndexBCs": "BCs"},
        doc="reconstructed primary vertices",
    ),
    TableSchema(
        "Tracks",
        "O2track",
        {
            "fIndexCollisions": "int32",
            "fTrackType": "uint8",
            "fX": F,
            "fAlpha": F,
            "fY": F,
            "fZ": F,
            "fSnp": F,
            "fTgl": F,
            "fSigned1Pt": F,
        },
        index_columns={"fIndexCollisions": "Collisions"},
        dynamic=TRACK_PAR_DYNAMIC,
        doc="track parametrisation at the primary vertex",
    ),
    TableSchema(
        "TracksExtra",
        "O2trackextra",
        {
            "fTPCInnerParam": F,
            "fFlags": "uint32",
            "fITSClusterMap": "uint8",
            "fTPCNClsFindable": "uint8",
            "fTPCNClsFindableMinusFound": "int8",
            "fTPCNClsFindableMinusCrossedRows": "int8",
            "fTPCNClsShared": "uint8",
            "fITSChi2NCl": F,
            "fTPCChi2NCl": F,
            "fTPCSignal": F,
            "fTOFSignal": F,
            "fLength": F,
            "fTOFExpMom": F,
            "fTrackTime": F,
        },
        dynamic=dict(
            [
                _dyn(
                    "itsNCls",
                    ("fITSClusterMap",),
                    lambda m: np.unpackbits(m[:, None], axis=1).sum(axis=1).astype(np.uint8),
                    "number of ITS clusters",
                ),
                _dyn(
                    "tpcNClsFound",
                    ("fTPCNClsFindable", "fTPCNClsFindableMinusFound"),
                    lambda f, m: (f.astype(np.int16) - m).astype(np.int16),
                    "number of TPC clusters found",
                ),
                _dyn(
                    "tpcNClsCrossedRows",
                    ("fTPCNClsFindable", "fTPCNClsFindableMinusCrossedRows"),
                    lambda f, m: (f.astype(np.int16) - m).astype(np.int16),
                    "number of TPC crossed rows",
                ),
            ]
        ),
        extends="Tracks",
        doc="track quality and detector signals, row-aligned with Tracks",
    ),
    TableSchema(
        "TracksDCA",
        "O2trackdca",
        {"fDcaXY": F, "fDcaZ": F},
        extends="Tracks",
        doc="distance of closest approach to the primary vertex, row-aligned with Tracks",
    ),
    TableSchema(
        "V0s",
        "O2v0",
        {
            "fIndexCollisions": "int32",
            "fIndexTracks_Pos": "int32",
            "fIndexTracks_Neg": "int32",
            "fV0Type": "uint8",
            "fV0Radius": F,
            "fV0CosPA": F,
            "fDCAV0Daughters": F,
        },
        index_columns={
            "fIndexCollisions": "Collisions",
            "fIndexTracks_Pos": "Tracks",
            "fIndexTracks_Neg": "Tracks",
        },
        doc="V0 candidates: pairs of opposite-charge tracks from a displaced vertex",
    ),
    TableSchema(
        "McCollisions",
        "O2mccollision",
        {
            "fIndexBCs": "int32",
            "fGeneratorsID": "int16",
            "fPosX": F,
            "fPosY": F,
            "fPosZ": F,
            "fT": F,
            "fWeight": F,
            "fImpactParameter": F,
        },
        index_columns={"fIndexBCs": "BCs"},
        doc="generated collisions",
    ),
    TableSchema(
        "McParticles",
        "O2mcparticle",
        {
            "fIndexMcCollisions": "int32",
            "fPdgCode": "int32",
            "fStatusCode": "int32",
            "fFlags": "uint8",
            "fIndexMcParticles_Mother0": "int32",
            "fPx": F,
            "fPy": F,
            "fPz": F,
            "fE": F,
            "fVx": F,
            "fVy": F,
            "fVz": F,
            "fVt": F,
            "fWeight": F,
        },
        index_columns={
            "fIndexMcCollisions": "McCollisions",
            "fIndexMcParticles_Mother0": "McParticles",
        },
        dynamic={
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
        },
        doc="generated particles",
    ),
    TableSchema(
        "McTrackLabels",
        "O2mctracklabel",
        {"fIndexMcParticles": "int32", "fMcMask": "uint16"},
        index_columns={"fIndexMcParticles": "McParticles"},
        extends="Tracks",
        doc="MC truth label of each track (-1: fake/none)",
    ),
    TableSchema(
        "McCollisionLabels",
        "O2mccollisionlabel",
        {"fIndexMcCollisions": "int32", "fMcMask": "uint16"},
        index_columns={"fIndexMcCollisions": "McCollisions"},
        extends="Collisions",
        doc="MC truth label of each collision",
    ),
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
    """A fresh registry holding the core AO2D tables (tasks may register produced ones)."""
    return SchemaRegistry(CORE_TABLES)
