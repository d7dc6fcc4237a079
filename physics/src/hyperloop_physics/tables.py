"""Tables the physics package produces: service tables joined to core tables, and the
derived (skimmed) tables a later train can read from the AO2D it wrote."""

from __future__ import annotations

from hyperloop.analysis.schema import TableSchema

F = "float32"

EVSELS = TableSchema(
    "EvSels",
    "O2evsel",
    {"fSel8": "bool", "fSelMask": "uint32"},
    extends="Collisions",
    doc="event selection decision per collision (sel8: all cuts passed; mask: one bit per cut)",
)

TRACK_SELECTION = TableSchema(
    "TrackSelection",
    "O2trackselection",
    {
        "fIsGlobalTrack": "bool",
        "fIsInAcceptance": "bool",
        "fIsQualityTrack": "bool",
        "fTrackCutFlag": "uint16",
    },
    extends="Tracks",
    doc="track selection per track: global track = in acceptance and passing quality cuts",
)

MULTS = TableSchema(
    "Mults",
    "O2mult",
    {
        "fMultNTracksEta05": "int32",
        "fMultNTracksEta08": "int32",
        "fMultNContrib": "int32",
        "fMultValue": F,
        "fMultClass": "int16",
    },
    extends="Collisions",
    doc="multiplicity estimators per collision and the class of the chosen estimator",
)

PIDTPC = TableSchema(
    "PIDTPC",
    "O2pidtpc",
    {"fTPCNSigmaPi": F, "fTPCNSigmaKa": F, "fTPCNSigmaPr": F},
    extends="Tracks",
    doc="TPC dE/dx n-sigma per track for the pion, kaon and proton hypotheses",
)

SKIM_COLLISIONS = TableSchema(
    "SkimCollisions",
    "O2skimcollision",
    {"fPosZ": F, "fNumContrib": "uint16", "fMultNTracksEta08": "int32", "fMultClass": "int16"},
    doc="selected collisions of a skimmed (derived) dataset",
)

SKIM_TRACKS = TableSchema(
    "SkimTracks",
    "O2skimtrack",
    {
        "fIndexSkimCollisions": "int32",
        "fPt": F,
        "fEta": F,
        "fPhi": F,
        "fSign": "int8",
    },
    index_columns={"fIndexSkimCollisions": "SkimCollisions"},
    doc="selected tracks of a skimmed dataset; the index points into SkimCollisions",
)

SERVICE_TABLES = (EVSELS, TRACK_SELECTION, MULTS, PIDTPC)
DERIVED_TABLES = (SKIM_COLLISIONS, SKIM_TRACKS)
"""Tables a later train reads from a derived AO2D (register them with the train's schema)."""


def derived_registry():
    """The core schema registry plus the package's derived tables (for trains on skims)."""
    from hyperloop.analysis.schema import default_registry

    registry = default_registry()
    for table in DERIVED_TABLES:
        registry.register(table)
    return registry
