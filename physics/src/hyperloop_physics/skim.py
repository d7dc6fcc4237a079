"""Derived-data producer: skims selected collisions and their global tracks into compact
tables (SkimCollisions, SkimTracks) that a later train reads instead of the full AO2D."""

from __future__ import annotations

import numpy as np

from hyperloop.analysis.configurables import Configurable
from hyperloop.analysis.frame import reindex
from hyperloop.analysis.task import Task, process
from hyperloop_physics.tables import SKIM_COLLISIONS, SKIM_TRACKS


class SkimTracks(Task):
    """Skim of sel8 collisions (with at least minMultiplicity global tracks in |eta| < 0.8)
    and their global tracks with pT >= minPt. SkimTracks.fIndexSkimCollisions is rewritten
    to point at the rows of SkimCollisions, so the derived AO2D is self-contained."""

    name = "skim-tracks"
    produces = (SKIM_COLLISIONS, SKIM_TRACKS)

    minPt = Configurable(0.15, "minimum pT of skimmed tracks (GeV/c)", min=0.0)
    minMultiplicity = Configurable(0, "minimum N_trk(|eta|<0.8) of skimmed collisions", min=0)
    keepEmptyCollisions = Configurable(True, "keep selected collisions without skimmed tracks")

    def init(self) -> None:
        self.histos.add(
            "hSkim",
            "skim;;rows",
            [],
            categories=("collisions", "skimmed collisions", "tracks", "skimmed tracks"),
        )

    @process(
        Collisions=["fPosZ", "fNumContrib"],
        EvSels=["fSel8"],
        Mults=["fMultNTracksEta08", "fMultClass"],
        Tracks=["pt", "eta", "phi", "sign", "fIndexCollisions"],
        TrackSelection=["fIsGlobalTrack"],
    )
    def process(self, df) -> None:
        coll = df.table("Collisions").join("EvSels", "Mults")
        n_coll = len(coll)
        keep_coll = coll["fSel8"] & (coll["fMultNTracksEta08"] >= self.minMultiplicity)
        tracks = df.table("Tracks").join("TrackSelection")
        idx = tracks["fIndexCollisions"].astype(np.int64)
        keep_trk = tracks["fIsGlobalTrack"] & (idx >= 0) & (tracks["pt"] >= self.minPt)
        keep_trk[keep_trk] = keep_coll[idx[keep_trk]]
        if not self.keepEmptyCollisions:
            has_track = np.bincount(idx[keep_trk], minlength=n_coll)[:n_coll] > 0
            keep_coll &= has_track
        kept_rows = np.flatnonzero(keep_coll)
        df.produce(
            SKIM_COLLISIONS,
            fPosZ=coll["fPosZ"][kept_rows],
            fNumContrib=coll["fNumContrib"][kept_rows],
            fMultNTracksEta08=coll["fMultNTracksEta08"][kept_rows],
            fMultClass=coll["fMultClass"][kept_rows],
        )
        trk = np.flatnonzero(keep_trk)
        df.produce(
            SKIM_TRACKS,
            fIndexSkimCollisions=reindex(idx[trk], kept_rows, n_coll),
            fPt=tracks["pt"][trk],
            fEta=tracks["eta"][trk],
            fPhi=tracks["phi"][trk],
            fSign=tracks["sign"][trk].astype(np.int8),
        )
        counts = [n_coll, len(kept_rows), len(tracks), len(trk)]
        self.histos["hSkim"].fill(
            np.repeat(
                np.array(["collisions", "skimmed collisions", "tracks", "skimmed tracks"]), counts
            )
        )
