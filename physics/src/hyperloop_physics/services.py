"""Service tasks whose tables the analyses consume: event selection, multiplicity and TPC
PID (the track selection lives in ``track_selection.py``)."""

from __future__ import annotations

import numpy as np

from hyperloop.analysis.configurables import (
    Configurable,
    ConfigurableAxis,
    FixedArray,
    Variable,
    VariableArray,
)
from hyperloop.analysis.task import Task, process
from hyperloop_physics import pid_response
from hyperloop_physics.kinematics import MASS_KAON, MASS_PION, MASS_PROTON, class_index
from hyperloop_physics.tables import EVSELS, MULTS, PIDTPC

SEL_VERTEX_Z = 1
SEL_NCONTRIB = 2


class EventSelection(Task):
    """Event selection: a reconstructed primary vertex within |z| < maxVertexZ with at least
    minNumContrib contributing tracks. Produces EvSels (fSel8 = all cuts passed, fSelMask =
    one bit per cut) and a cut-flow histogram with one labelled bin per cut."""

    name = "event-selection"
    produces = (EVSELS,)

    maxVertexZ = Configurable(10.0, "maximum |z| of the primary vertex (cm)", min=0.0)
    minNumContrib = Configurable(2, "minimum number of tracks contributing to the vertex", min=0)
    applyVertexZCut = Configurable(True, "require the vertex |z| cut in sel8 (false: flag only)")
    binsVertexZ = ConfigurableAxis((60, -15.0, 15.0), "vertex z binning (cm)")

    CUTS = ("all", "vertex |z|", "contributors", "sel8")

    def init(self) -> None:
        self.histos.add("hCutFlow", "event selection;cut;collisions", [], categories=self.CUTS)
        self.histos.add("hVertexZ", "all collisions;z_{vtx} (cm);collisions", [self.binsVertexZ])
        self.histos.add(
            "hVertexZSel", "selected collisions;z_{vtx} (cm);collisions", [self.binsVertexZ]
        )
        self.histos.add(
            "hNumContrib", "vertex contributors;N_{contrib};collisions", [(100, -0.5, 99.5)]
        )

    @process(Collisions=["fPosZ", "fNumContrib"])
    def process(self, df) -> None:
        coll = df.table("Collisions")
        z = coll["fPosZ"]
        ncontrib = coll["fNumContrib"]
        pass_z = np.abs(z) < self.maxVertexZ
        pass_n = ncontrib >= self.minNumContrib
        mask = pass_z.astype(np.uint32) * SEL_VERTEX_Z + pass_n.astype(np.uint32) * SEL_NCONTRIB
        sel8 = pass_n & (pass_z | (not self.applyVertexZCut))
        df.produce(EVSELS, fSel8=sel8, fSelMask=mask)
        counts = [len(z), int(pass_z.sum()), int((pass_z & pass_n).sum()), int(sel8.sum())]
        self.histos["hCutFlow"].fill(np.repeat(np.array(self.CUTS), counts))
        self.histos["hVertexZ"].fill(z)
        self.histos["hVertexZSel"].fill(z[sel8])
        self.histos["hNumContrib"].fill(ncontrib)


class Multiplicity(Task):
    """Multiplicity estimators per collision: the number of global tracks in |eta| < 0.5
    and < 0.8 and the number of vertex contributors. The chosen estimator's value is
    classified into multiplicity classes by the variable-length edge list multClassEdges."""

    name = "multiplicity"
    produces = (MULTS,)

    estimator = Configurable(
        "NTracksEta08",
        "estimator that defines the multiplicity class",
        choices=("NTracksEta08", "NTracksEta05", "NContrib"),
    )
    multClassEdges = VariableArray(
        [0.0, 5.0, 10.0, 20.0, 30.0, 50.0, 1000.0],
        "edges of the multiplicity classes (class i: edge[i] <= value < edge[i+1])",
    )
    binsMult = ConfigurableAxis((100, -0.5, 99.5), "multiplicity binning")

    def init(self) -> None:
        if len(self.multClassEdges) < 2 or np.any(np.diff(self.multClassEdges) <= 0):
            raise ValueError(
                f"task {self.instance_name}: multClassEdges must hold at least two strictly "
                f"increasing edges, got {list(self.multClassEdges)}"
            )
        nclass = len(self.multClassEdges) - 1
        self.histos.add("hMultEta08", "N_{trk}(|#eta|<0.8);N_{trk};collisions", [self.binsMult])
        self.histos.add("hMultEta05", "N_{trk}(|#eta|<0.5);N_{trk};collisions", [self.binsMult])
        self.histos.add(
            "hMultClass", "multiplicity class;class;collisions", [(nclass + 1, -1.5, nclass - 0.5)]
        )

    @process(
        Collisions=["fNumContrib"],
        Tracks=["eta", "fIndexCollisions"],
        TrackSelection=["fIsGlobalTrack"],
    )
    def process(self, df) -> None:
        coll = df.table("Collisions")
        n = len(coll)
        tracks = df.table("Tracks").join("TrackSelection")
        idx = tracks["fIndexCollisions"]
        aeta = np.abs(tracks["eta"])
        good = tracks["fIsGlobalTrack"] & (idx >= 0)
        m08 = np.bincount(idx[good & (aeta < 0.8)], minlength=n)[:n].astype(np.int32)
        m05 = np.bincount(idx[good & (aeta < 0.5)], minlength=n)[:n].astype(np.int32)
        ncontrib = coll["fNumContrib"].astype(np.int32)
        value = {"NTracksEta08": m08, "NTracksEta05": m05, "NContrib": ncontrib}[self.estimator]
        klass = class_index(value, self.multClassEdges).astype(np.int16)
        df.produce(
            MULTS,
            fMultNTracksEta05=m05,
            fMultNTracksEta08=m08,
            fMultNContrib=ncontrib,
            fMultValue=value.astype(np.float32),
            fMultClass=klass,
        )
        self.histos["hMultEta08"].fill(m08)
        self.histos["hMultEta05"].fill(m05)
        self.histos["hMultClass"].fill(klass)


class PidTpc(Task):
    """TPC particle identification: n-sigma of the measured dE/dx from the ALEPH
    Bethe-Bloch expectation for pions, kaons and protons, at the momentum at the TPC inner
    wall. Tracks without a TPC signal get -999."""

    name = "pid"
    produces = (PIDTPC,)

    betheBlochParams = FixedArray(
        list(pid_response.ALEPH_PARAMS), "ALEPH Bethe-Bloch parameters P0..P4"
    )
    mipSignal = Configurable(pid_response.MIP_SIGNAL, "TPC signal of a MIP", min=0.0)
    relativeResolution = Configurable(
        pid_response.RELATIVE_RESOLUTION, "relative dE/dx resolution", min=0.0
    )
    useInnerParam = Configurable(True, "use the momentum at the TPC inner wall (else at vertex)")
    binsP = ConfigurableAxis(
        Variable([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0]),
        "momentum binning (GeV/c)",
    )

    SPECIES = (("Pi", MASS_PION), ("Ka", MASS_KAON), ("Pr", MASS_PROTON))

    def init(self) -> None:
        self.histos.add(
            "hSignalVsP", "TPC dE/dx;p (GeV/c);dE/dx (a.u.)", [self.binsP, (200, 0.0, 400.0)]
        )
        for sp, _ in self.SPECIES:
            self.histos.add(
                f"hNSigma{sp}",
                f"TPC n#sigma {sp};p (GeV/c);n#sigma_{{{sp}}}",
                [self.binsP, (100, -10.0, 10.0)],
            )

    @process(Tracks=["p"], TracksExtra=["fTPCSignal", "fTPCInnerParam"])
    def process(self, df) -> None:
        tracks = df.table("Tracks").join("TracksExtra")
        signal = tracks["fTPCSignal"]
        p = tracks["p"]
        if self.useInnerParam:
            inner = tracks["fTPCInnerParam"]
            p = np.where(inner > 0, inner, p)
        has_tpc = signal > 0
        out = {}
        for sp, mass in self.SPECIES:
            ns = pid_response.n_sigma(
                signal, p, mass, self.betheBlochParams, self.mipSignal, self.relativeResolution
            )
            out[f"fTPCNSigma{sp}"] = np.where(has_tpc, ns, np.float32(-999.0))
            self.histos[f"hNSigma{sp}"].fill(p[has_tpc], ns[has_tpc])
        df.produce(PIDTPC, **out)
        self.histos["hSignalVsP"].fill(p[has_tpc], signal[has_tpc])
