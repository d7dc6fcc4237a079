"""The workflows of the package (entry point ``hyperloop.workflows``)."""

from __future__ import annotations

from hyperloop.analysis.workflows import Workflow
from hyperloop_physics.correlations import TwoParticleCorrelations
from hyperloop_physics.propagation import TrackPropagation
from hyperloop_physics.services import EventSelection, Multiplicity, PidTpc
from hyperloop_physics.skim import SkimTracks
from hyperloop_physics.spectra import McSpectra, SpectraCharged, SpectraSkimmed
from hyperloop_physics.strangeness import Strangeness
from hyperloop_physics.timestamp import Timestamp
from hyperloop_physics.track_selection import TrackSelection
from hyperloop_physics.upc import UdRho

WORKFLOWS = [
    Workflow(
        "track-propagation",
        (TrackPropagation,),
        doc="Service: tracks at the innermost point (TracksIU) propagated to the collision "
        "vertex in the run's field -> Tracks, TracksDCA (TracksCov with processCovariance).",
    ),
    Workflow(
        "timestamp",
        (Timestamp,),
        doc="Service: the time of each bunch crossing (run's orbit reset + global BC) -> "
        "Timestamps.",
    ),
    Workflow(
        "event-selection",
        (EventSelection,),
        doc="Service: collision selection (vertex z, contributors) -> EvSels.",
    ),
    Workflow(
        "track-selection",
        (TrackSelection,),
        doc="Service: global-track selection (acceptance, TPC/ITS quality, DCA) -> TrackSelection.",
    ),
    Workflow(
        "multiplicity",
        (Multiplicity,),
        doc="Service: multiplicity estimators and classes per collision -> Mults.",
    ),
    Workflow("pid", (PidTpc,), doc="Service: TPC dE/dx n-sigma for pi, K, p -> PIDTPC."),
    Workflow(
        "spectra-charged",
        (SpectraCharged,),
        doc="Charged-particle pT, eta, phi spectra per multiplicity class.",
    ),
    Workflow(
        "mc-spectra",
        (McSpectra,),
        doc="MC closure: generated charged primaries vs reconstructed tracks, efficiency, dN/deta.",
    ),
    Workflow(
        "two-particle-correlations",
        (TwoParticleCorrelations,),
        doc="Two-particle delta-eta delta-phi correlations, same-event and mixed-event.",
    ),
    Workflow(
        "strangeness",
        (Strangeness,),
        doc="K0S and Lambda invariant mass vs pT from V0 candidates.",
    ),
    Workflow(
        "ud-rho",
        (UdRho,),
        doc="Exclusive rho0 -> pi+pi- in ultra-peripheral collisions (UD derived tables).",
    ),
    Workflow(
        "skim-tracks",
        (SkimTracks,),
        doc="Derived data: skimmed collisions and global tracks (SkimCollisions, SkimTracks).",
    ),
    Workflow(
        "spectra-skimmed",
        (SpectraSkimmed,),
        doc="Charged-particle spectra on the skimmed derived tables.",
    ),
]
