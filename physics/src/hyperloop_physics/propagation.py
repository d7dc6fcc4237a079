"""track-propagation: tracks at the collision vertex from tracks at the innermost update point.

Run 3 AO2Ds store tracks where the tracking left them, at their innermost update point
(``TracksIU``, ``TracksCovIU``). As O2's ``o2-analysis-track-propagation``, this service
propagates them in the solenoid field of the run (from the conditions) to their distance of
closest approach to their collision's vertex (the mean vertex, here the origin, for tracks
without a collision) and produces ``Tracks`` and ``TracksDCA`` (``processStandard``), or
also ``TracksCov`` (``processCovariance``). Tracks whose innermost point is beyond
``minPropagationDistance`` are left where they are (DCA 999), as in O2. No material
corrections are applied.
"""

from __future__ import annotations

import numpy as np

from hyperloop.analysis import ccdb
from hyperloop.analysis.conditions import MAG_FIELD_PATH, bc_timestamp_ms, magnetic_field
from hyperloop.analysis.configurables import Configurable, ConfigurationError
from hyperloop.analysis.schema import default_registry
from hyperloop.analysis.task import Task, process
from hyperloop.analysis.trackpar import TrackPar, cov_columns, propagate_to_dca

_REGISTRY = default_registry()
TRACKS = _REGISTRY.get("Tracks")
TRACKS_COV = _REGISTRY.get("TracksCov")
TRACKS_DCA = _REGISTRY.get("TracksDCA")
TRACKS_IU_COLUMNS = list(_REGISTRY.get("TracksIU").columns)
TRACKS_COV_IU_COLUMNS = list(_REGISTRY.get("TracksCovIU").columns)
TRACK_TYPE_TRACK = 0  # o2::aod::track::TrackTypeEnum::Track (propagated to the vertex)
TRACK_TYPE_TRACK_IU = 1  # o2::aod::track::TrackTypeEnum::TrackIU


class TrackPropagation(Task):
    """Propagates every track from its innermost update point to the DCA to its collision
    vertex in the run's solenoid field; produces Tracks and TracksDCA (and TracksCov with
    processCovariance). Exactly one of processStandard / processCovariance must be on."""

    name = "track-propagation"
    produces = (TRACKS, TRACKS_DCA, TRACKS_COV)
    pipeline_safe = True

    minPropagationDistance = Configurable(
        83.1, "tracks with an innermost point beyond this x (cm) are not propagated", min=0.0
    )
    bz = Configurable(
        -999.0, "solenoid field in kG; -999: the field of the run from the conditions"
    )

    def __init__(self, config=None, *, suffix: str = "") -> None:
        super().__init__(config, suffix=suffix)
        on = [p for p in ("processStandard", "processCovariance") if self.config.get(p)]
        if len(on) != 1:  # refused when the train is planned, before any data is read
            raise ConfigurationError(
                self.name,
                "processCovariance",
                message=(
                    "track-propagation: enable exactly one of processStandard and "
                    f"processCovariance (enabled: {', '.join(on) or 'none'})"
                ),
            )

    def _field(self, df) -> float:
        if self.bz != -999.0:
            return float(self.bz)
        bcs = df.table("BCs")
        runs = bcs["fRunNumber"]
        if not len(runs):
            return magnetic_field(0)
        run = int(runs[0])
        # the field object of the run from the conditions database (cached for the job)
        when = int(bc_timestamp_ms(run, bcs["fGlobalBC"][:1])[0])
        return float(ccdb.get(MAG_FIELD_PATH, when, run=run)["bz_kg"])

    def _propagate(self, df, with_cov: bool) -> None:
        iu = df.table("TracksIU")
        cols = {c: iu[c] for c in TRACKS_IU_COLUMNS}
        cov = None
        if with_cov:
            cov_iu = df.table("TracksCovIU")
            cov = {c: cov_iu[c] for c in TRACKS_COV_IU_COLUMNS}
        track = TrackPar.from_columns(cols, cov)
        coll = df.table("Collisions")
        cidx = cols["fIndexCollisions"].astype(np.int64)
        has = cidx >= 0
        vx, vy, vz = (np.zeros(len(cidx)) for _ in range(3))
        for out, name in ((vx, "fPosX"), (vy, "fPosY"), (vz, "fPosZ")):
            out[has] = coll[name][cidx[has]]
        todo = track.x < self.minPropagationDistance
        ok, dca_xy, dca_z = propagate_to_dca(track, vx, vy, vz, self._field(df), todo)
        track_type = np.where(ok, TRACK_TYPE_TRACK, cols["fTrackType"]).astype(np.uint8)
        df.produce(
            TRACKS,
            fIndexCollisions=cols["fIndexCollisions"],
            fTrackType=track_type,
            **track.columns(),
        )
        df.produce(TRACKS_DCA, fDcaXY=dca_xy.astype(np.float32), fDcaZ=dca_z.astype(np.float32))
        if with_cov:
            df.produce(TRACKS_COV, **cov_columns(track.cov))

    @process(
        default=True,
        TracksIU=TRACKS_IU_COLUMNS,
        Collisions=["fPosX", "fPosY", "fPosZ"],
        BCs=["fRunNumber", "fGlobalBC"],
    )
    def processStandard(self, df) -> None:
        """Propagate tracks to the vertex: Tracks, TracksDCA."""
        self._propagate(df, with_cov=False)

    @process(
        default=False,
        TracksIU=TRACKS_IU_COLUMNS,
        TracksCovIU=TRACKS_COV_IU_COLUMNS,
        Collisions=["fPosX", "fPosY", "fPosZ"],
        BCs=["fRunNumber", "fGlobalBC"],
    )
    def processCovariance(self, df) -> None:
        """Propagate tracks and their covariances: Tracks, TracksCov, TracksDCA."""
        self._propagate(df, with_cov=True)
