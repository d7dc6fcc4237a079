"""Two-particle angular correlations: trigger-associated pairs in (delta eta, delta phi),
same-event and event-mixed (pools in vertex z and multiplicity), fully vectorised."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hyperloop.analysis.configurables import (
    Configurable,
    ConfigurableAxis,
    Matrix,
    VariableArray,
)
from hyperloop.analysis.task import Task, process
from hyperloop_physics.kinematics import class_index, cross_pairs, delta_phi


@dataclass
class EventList:
    """Events (pool, number of associated tracks) and their associated tracks, in order."""

    pool: np.ndarray
    count: np.ndarray
    eta: np.ndarray
    phi: np.ndarray

    @classmethod
    def empty(cls) -> EventList:
        return cls(
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            np.zeros(0, np.float32),
            np.zeros(0, np.float32),
        )

    @property
    def offsets(self) -> np.ndarray:
        return np.cumsum(self.count) - self.count

    def select(self, mask: np.ndarray) -> EventList:
        """The events where ``mask`` is true, with copies of their tracks."""
        tmask = np.repeat(mask, self.count)
        return EventList(
            self.pool[mask].copy(),
            self.count[mask].copy(),
            self.eta[tmask].copy(),
            self.phi[tmask].copy(),
        )

    @staticmethod
    def concat(a: EventList, b: EventList) -> EventList:
        return EventList(
            np.concatenate([a.pool, b.pool]),
            np.concatenate([a.count, b.count]),
            np.concatenate([a.eta, b.eta]),
            np.concatenate([a.phi, b.phi]),
        )


def _by_event(event: np.ndarray, n_events: int, *columns: np.ndarray):
    """Sort track columns by event; return counts, offsets and the sorted columns."""
    order = np.argsort(event, kind="stable")
    counts = np.bincount(event, minlength=n_events).astype(np.int64)
    offsets = np.cumsum(counts) - counts
    return counts, offsets, [c[order] for c in columns]


class TwoParticleCorrelations(Task):
    """Two-particle angular correlations of charged global tracks: pairs of a trigger
    particle (pT in the first row of ptTrigAssoc) and an associated particle (second row)
    from the same sel8 collision, and from different collisions of the same (z_vtx,
    multiplicity) pool for the mixed-event (acceptance) correction. The associated yield is
    S(deta, dphi) / N_trig normalised by the mixed-event ratio M(0, 0) / M(deta, dphi)."""

    name = "two-particle-correlations"

    ptTrigAssoc = Matrix(
        [[2.0, 4.0], [1.0, 2.0]],
        "pT ranges (GeV/c): row 0 trigger [min, max], row 1 associated [min, max]",
    )
    etaMax = Configurable(0.8, "maximum |eta| of trigger and associated particles", min=0.0)
    doMixing = Configurable(True, "fill the mixed-event distribution")
    nMixEvents = Configurable(5, "number of earlier collisions of the same pool to mix with", min=1)
    vertexZPoolEdges = VariableArray(
        [-10.0, -5.0, -2.5, 0.0, 2.5, 5.0, 10.0], "vertex z pool edges (cm)"
    )
    multPoolEdges = VariableArray([0.0, 10.0, 20.0, 30.0, 50.0, 1000.0], "multiplicity pool edges")
    binsDeltaEta = ConfigurableAxis((32, -1.6, 1.6), "delta eta binning")
    binsDeltaPhi = ConfigurableAxis((36, -0.5 * np.pi, 1.5 * np.pi), "delta phi binning (rad)")

    def init(self) -> None:
        for name, edges in (
            ("vertexZPoolEdges", self.vertexZPoolEdges),
            ("multPoolEdges", self.multPoolEdges),
        ):
            if len(edges) < 2 or np.any(np.diff(edges) <= 0):
                raise ValueError(
                    f"task {self.instance_name}: {name} must hold at least two strictly "
                    f"increasing edges, got {list(edges)}"
                )
        axes = [self.binsDeltaEta, self.binsDeltaPhi]
        title = ";#Delta#eta;#Delta#varphi (rad)"
        self.histos.add("hSameEvent", "same-event pairs" + title, axes)
        self.histos.add("hMixedEvent", "mixed-event pairs" + title, axes)
        self.histos.add("hTriggerPt", "trigger particles;p_{T} (GeV/c);triggers", [(40, 0.0, 10.0)])
        npool = (len(self.vertexZPoolEdges) - 1) * (len(self.multPoolEdges) - 1)
        self.histos.add(
            "hPool", "collisions per mixing pool;pool;collisions", [(npool, -0.5, npool - 0.5)]
        )
        self._buffer = EventList.empty()

    @process(
        Collisions=["fPosZ"],
        EvSels=["fSel8"],
        Mults=["fMultNTracksEta08"],
        Tracks=["pt", "eta", "phi", "fIndexCollisions"],
        TrackSelection=["fIsGlobalTrack"],
    )
    def process(self, df) -> None:
        coll = df.table("Collisions").join("EvSels", "Mults")
        zbin = class_index(coll["fPosZ"], self.vertexZPoolEdges)
        mbin = class_index(coll["fMultNTracksEta08"], self.multPoolEdges)
        nmult = len(self.multPoolEdges) - 1
        pool = np.where(coll["fSel8"] & (zbin >= 0) & (mbin >= 0), zbin * nmult + mbin, -1)
        good_ev = pool >= 0
        # events of this dataframe that take part: renumbered 0..n-1 in file order
        ev_rows = np.flatnonzero(good_ev)
        new_index = np.cumsum(good_ev) - 1
        n_ev = len(ev_rows)
        ev_pool = pool[ev_rows].astype(np.int64)
        self.histos["hPool"].fill(ev_pool)

        tracks = df.table("Tracks").join("TrackSelection")
        idx = tracks["fIndexCollisions"].astype(np.int64)
        ok = tracks["fIsGlobalTrack"] & (idx >= 0) & (np.abs(tracks["eta"]) < self.etaMax)
        ok[ok] = good_ev[idx[ok]]
        rows = np.flatnonzero(ok)
        pt, eta, phi = tracks["pt"][rows], tracks["eta"][rows], tracks["phi"][rows]
        ev = new_index[idx[rows]]
        (tmin, tmax), (amin, amax) = self.ptTrigAssoc
        is_trig = (pt >= tmin) & (pt < tmax)
        is_assoc = (pt >= amin) & (pt < amax)

        tcnt, toff, (teta, tphi, trow, tpt) = _by_event(
            ev[is_trig], n_ev, eta[is_trig], phi[is_trig], rows[is_trig], pt[is_trig]
        )
        acnt, aoff, (aeta, aphi, arow) = _by_event(
            ev[is_assoc], n_ev, eta[is_assoc], phi[is_assoc], rows[is_assoc]
        )
        self.histos["hTriggerPt"].fill(tpt)

        # same event: every trigger with every associated particle of its collision
        it, ia, _ = cross_pairs(toff, tcnt, aoff, acnt)
        distinct = trow[it] != arow[ia]
        it, ia = it[distinct], ia[distinct]
        self.histos["hSameEvent"].fill(teta[it] - aeta[ia], delta_phi(tphi[it], aphi[ia]))

        current = EventList(ev_pool, acnt, aeta, aphi)
        if self.doMixing:
            self._mix(current, toff, tcnt, teta, tphi)

    def _mix(self, current: EventList, toff, tcnt, teta, tphi) -> None:
        """Mix triggers of this dataframe's events with associated particles of up to
        nMixEvents earlier events of the same pool (kept across dataframes)."""
        nbuf = len(self._buffer.pool)
        events = EventList.concat(self._buffer, current)
        n = len(events.pool)
        order = np.lexsort((np.arange(n), events.pool))  # by pool, then age
        pool_sorted = events.pool[order]
        aoff = events.offsets
        for k in range(1, self.nMixEvents + 1):
            pos = np.arange(k, n)
            same = pool_sorted[pos] == pool_sorted[pos - k]
            mine, partner = order[pos[same]], order[pos[same] - k]
            is_current = mine >= nbuf  # buffered events were mixed when they were current
            mine, partner = mine[is_current] - nbuf, partner[is_current]
            it, ia, _ = cross_pairs(toff[mine], tcnt[mine], aoff[partner], events.count[partner])
            self.histos["hMixedEvent"].fill(
                teta[it] - events.eta[ia], delta_phi(tphi[it], events.phi[ia])
            )
        # keep the newest nMixEvents events of each pool (copies) for the next dataframe
        rank_from_end = np.empty(n, dtype=np.int64)
        pool_end = np.searchsorted(pool_sorted, pool_sorted, side="right")
        rank_from_end[order] = pool_end - 1 - np.arange(n)
        self._buffer = events.select(rank_from_end < self.nMixEvents)
