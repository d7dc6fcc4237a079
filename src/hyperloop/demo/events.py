"""Generator-level events: PYTHIA 8 pp collisions as flat numpy arrays, and the decay stage.

PYTHIA runs pp at 13.6 TeV (``SoftQCD:inelastic``) with every particle of proper lifetime
above 1 cm/c kept stable (``ParticleDecays:limitTau0``, ``tau0Max = 10`` mm), so its final
state is exactly the ALICE set of *physical primaries*. K0S and (anti-)Lambda are stable in
PYTHIA and decayed here in numpy with their real proper decay lengths (2.68 cm, 7.89 cm) and
branching ratios, so the displaced vertices the V0 reconstruction sees are under our control.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

C_CM_PER_NS = 29.9792458

PYTHIA_SETTINGS: tuple[str, ...] = (
    "Beams:idA = 2212",
    "Beams:idB = 2212",
    "Beams:eCM = 13600.",
    "SoftQCD:inelastic = on",
    "ParticleDecays:limitTau0 = on",
    "ParticleDecays:tau0Max = 10.",
    "310:mayDecay = off",
    "3122:mayDecay = off",
    "-3122:mayDecay = off",
    "Print:quiet = on",
    "Next:numberCount = 0",
)

# ----------------------------------------------------------------------------------------
# particle data used by the numpy stages (PDG 2024)

M_PION = 0.13957039
M_PI0 = 0.1349768
M_PROTON = 0.93827209
M_NEUTRON = 0.93956542
M_K0S = 0.497611
M_LAMBDA = 1.115683

PDG_K0S = 310
PDG_LAMBDA = 3122


@dataclass(frozen=True)
class DecayChannel:
    """A two-body decay: daughters (pdg, mass, charge) and branching ratio."""

    br: float
    pdg1: int
    m1: float
    q1: int
    pdg2: int
    m2: float
    q2: int


@dataclass(frozen=True)
class Decayer:
    """A particle decayed in numpy: proper decay length and its (two-body) channels."""

    pdg: int
    mass: float
    ctau_cm: float
    channels: tuple[DecayChannel, ...]


DECAYERS: dict[int, Decayer] = {
    310: Decayer(
        310,
        M_K0S,
        2.6844,
        (
            DecayChannel(0.6920, 211, M_PION, 1, -211, M_PION, -1),
            DecayChannel(0.3080, 111, M_PI0, 0, 111, M_PI0, 0),
        ),
    ),
    3122: Decayer(
        3122,
        M_LAMBDA,
        7.89,
        (
            DecayChannel(0.641, 2212, M_PROTON, 1, -211, M_PION, -1),
            DecayChannel(0.359, 2112, M_NEUTRON, 0, 111, M_PI0, 0),
        ),
    ),
    -3122: Decayer(
        -3122,
        M_LAMBDA,
        7.89,
        (
            DecayChannel(0.641, -2212, M_PROTON, -1, 211, M_PION, 1),
            DecayChannel(0.359, -2112, M_NEUTRON, 0, 111, M_PI0, 0),
        ),
    ),
}

# status code of particles made by our decay stage (TMCProcess kPDecay, as transport does)
STATUS_DECAY = 4


# ----------------------------------------------------------------------------------------
# flat event containers


@dataclass
class GenEvents:
    """Generator-level primaries of many events, vertex at the origin, one row per particle.

    ``offsets[i]:offsets[i+1]`` are the rows of event ``i``. ``charge`` is in units of e,
    ``mass`` the PDG mass in GeV/c^2. Momenta are float32 like the AO2D columns.
    """

    offsets: np.ndarray  # int64, n_events + 1
    pdg: np.ndarray  # int32
    status: np.ndarray  # int32, PYTHIA status code
    charge: np.ndarray  # int8
    mass: np.ndarray  # float32
    px: np.ndarray  # float32
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray

    @property
    def n_events(self) -> int:
        return len(self.offsets) - 1

    def event_index(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_events, dtype=np.int64), np.diff(self.offsets))

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def concatenate(cls, parts: list[GenEvents]) -> GenEvents:
        sizes = [np.diff(p.offsets) for p in parts]
        offsets = np.concatenate([[0], np.cumsum(np.concatenate(sizes))]).astype(np.int64)
        cols = {
            f.name: np.concatenate([getattr(p, f.name) for p in parts])
            for f in fields(cls)
            if f.name != "offsets"
        }
        return cls(offsets=offsets, **cols)

    def take(self, events: np.ndarray) -> GenEvents:
        """The events ``events`` (indices, repeats allowed) as a new batch, vectorised."""
        starts = self.offsets[events]
        counts = self.offsets[events + 1] - starts
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        rows = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1] - starts, counts)
        cols = {f.name: getattr(self, f.name)[rows] for f in fields(self) if f.name != "offsets"}
        return GenEvents(offsets=offsets, **cols)


@dataclass
class TruthEvents:
    """Primaries plus decay products, placed at the event vertex; sorted by event.

    ``mother`` is the row of the mother in this batch (-1 for primaries), ``primary`` marks
    physical primaries, ``decayed`` the K0S/Lambda decayed by :func:`transport`.
    """

    n_events: int
    vtx: np.ndarray  # (n_events, 3) float64, true primary vertex (cm)
    event: np.ndarray  # int64 event index of each particle
    pdg: np.ndarray
    status: np.ndarray
    charge: np.ndarray
    mass: np.ndarray
    px: np.ndarray  # float64
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    vx: np.ndarray  # production vertex (cm)
    vy: np.ndarray
    vz: np.ndarray
    vt: np.ndarray  # production time (ns)
    mother: np.ndarray  # int64
    primary: np.ndarray  # bool
    decayed: np.ndarray  # bool


# ----------------------------------------------------------------------------------------
# the numpy decay stage


def _two_body(
    rng: np.random.Generator,
    px: np.ndarray,
    py: np.ndarray,
    pz: np.ndarray,
    mass: float,
    m1: float,
    m2: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic two-body decays of parents (px, py, pz, mass): (n, 4) daughter 4-momenta."""
    n = len(px)
    pstar = np.sqrt((mass**2 - (m1 + m2) ** 2) * (mass**2 - (m1 - m2) ** 2)) / (2 * mass)
    cost = rng.uniform(-1.0, 1.0, n)
    sint = np.sqrt(1.0 - cost**2)
    phi = rng.uniform(0.0, 2 * np.pi, n)
    d = np.stack([sint * np.cos(phi), sint * np.sin(phi), cost], axis=1) * pstar
    p = np.stack([px, py, pz], axis=1)
    energy = np.sqrt((p**2).sum(axis=1) + mass**2)
    beta = p / energy[:, None]
    b2 = (beta**2).sum(axis=1)
    gamma = energy / mass
    out = []
    for sign, m in ((1.0, m1), (-1.0, m2)):
        ds = sign * d
        estar = np.sqrt(pstar**2 + m**2)
        bp = (beta * ds).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            coef = np.where(b2 > 0, (gamma - 1.0) * bp / b2, 0.0) + gamma * estar
        plab = ds + coef[:, None] * beta
        elab = gamma * (estar + bp)
        out.append(np.column_stack([plab, elab]))
    return out[0], out[1]


def transport(gen: GenEvents, vtx: np.ndarray, rng: np.random.Generator) -> TruthEvents:
    """Place events at their vertices and decay K0S/Lambda with real decay lengths."""
    n_ev = gen.n_events
    event = gen.event_index()
    n_prim = len(event)
    px, py, pz, e = (getattr(gen, k).astype(np.float64) for k in ("px", "py", "pz", "e"))
    vx, vy, vz = (vtx[event, k] for k in range(3))
    decayed = np.zeros(n_prim, dtype=bool)
    kids: list[dict[str, np.ndarray]] = []
    for code, dec in DECAYERS.items():
        rows = np.flatnonzero(gen.pdg == code)
        if len(rows) == 0:
            continue
        decayed[rows] = True
        p = np.sqrt(px[rows] ** 2 + py[rows] ** 2 + pz[rows] ** 2)
        length = -dec.ctau_cm * np.log1p(-rng.random(len(rows))) * p / dec.mass
        step = np.divide(length, p, out=np.zeros_like(p), where=p > 0)
        dvx = vx[rows] + step * px[rows]
        dvy = vy[rows] + step * py[rows]
        dvz = vz[rows] + step * pz[rows]
        dvt = length / (p / np.sqrt(p**2 + dec.mass**2)) / C_CM_PER_NS
        cum = np.cumsum([ch.br for ch in dec.channels])
        choice = np.searchsorted(cum / cum[-1], rng.random(len(rows)), side="right")
        for ich, ch in enumerate(dec.channels):
            sel = choice == ich
            if not sel.any():
                continue
            d1, d2 = _two_body(
                rng, px[rows[sel]], py[rows[sel]], pz[rows[sel]], dec.mass, ch.m1, ch.m2
            )
            for dau, pdg, m, q in ((d1, ch.pdg1, ch.m1, ch.q1), (d2, ch.pdg2, ch.m2, ch.q2)):
                k = int(sel.sum())
                kids.append(
                    dict(
                        event=event[rows[sel]],
                        pdg=np.full(k, pdg, np.int32),
                        charge=np.full(k, q, np.int8),
                        mass=np.full(k, m, np.float32),
                        px=dau[:, 0],
                        py=dau[:, 1],
                        pz=dau[:, 2],
                        e=dau[:, 3],
                        vx=dvx[sel],
                        vy=dvy[sel],
                        vz=dvz[sel],
                        vt=dvt[sel],
                        mother=rows[sel],
                    )
                )
    prim = dict(
        event=event,
        pdg=gen.pdg,
        charge=gen.charge,
        mass=gen.mass,
        px=px,
        py=py,
        pz=pz,
        e=e,
        vx=vx,
        vy=vy,
        vz=vz,
        vt=np.zeros(n_prim),
        mother=np.full(n_prim, -1, np.int64),
    )
    allp = {k: np.concatenate([prim[k], *(c[k] for c in kids)]) for k in prim}
    n_all = len(allp["event"])
    status = np.concatenate([gen.status, np.full(n_all - n_prim, STATUS_DECAY, np.int32)])
    primary = np.arange(n_all) < n_prim
    is_decayed = np.concatenate([decayed, np.zeros(n_all - n_prim, bool)])
    # sort by event, primaries of an event first, then its decay products (stable)
    order = np.argsort(allp["event"], kind="stable")
    inverse = np.empty_like(order)
    inverse[order] = np.arange(n_all)
    mother = allp.pop("mother")[order]
    mother = np.where(mother >= 0, inverse[np.maximum(mother, 0)], -1)
    return TruthEvents(
        n_events=n_ev,
        vtx=vtx,
        mother=mother,
        status=status[order],
        primary=primary[order],
        decayed=is_decayed[order],
        **{k: v[order] for k, v in allp.items()},
    )


# ----------------------------------------------------------------------------------------
# PYTHIA


def default_cache_dir() -> Path:
    """Where PYTHIA initialisation tables and fast-mode pools are kept between runs when the
    caller gives no folder (the commands pass the ``cache_dir`` setting, HYPERLOOP_CACHE_DIR)."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hyperloop" / "demo"


def _require_pythia():
    try:
        import pythia8mc
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "demo data generation needs PYTHIA 8: pip install 'hyperloop[demo]' "
            "(pythia8mc==8.317.2)"
        ) from exc
    return pythia8mc


def pythia_version() -> str:
    try:
        return importlib.metadata.version("pythia8mc")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"


def settings_key(settings: tuple[str, ...] = PYTHIA_SETTINGS) -> str:
    """Cache key of PYTHIA initialisation tables and event pools: version and settings."""
    text = "\n".join((pythia_version(), *settings))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_SHARED: dict[tuple[tuple[str, ...], str], PythiaSource] = {}


class PythiaSource:
    """One seeded PYTHIA instance producing :class:`GenEvents` batches.

    The multiparton-interaction initialisation (8 s for ``SoftQCD:inelastic``) is made once
    with a fixed seed and cached on disk; every instance reads it, so a given seed gives the
    same events whether or not the cache existed before. :meth:`reseed` restarts the random
    stream: the events after ``reseed(s)`` depend on ``s`` only, not on earlier events.
    """

    @classmethod
    def shared(
        cls,
        seed: int,
        *,
        settings: tuple[str, ...] = PYTHIA_SETTINGS,
        cache_dir: str | os.PathLike | None = None,
    ) -> PythiaSource:
        """A process-wide instance (constructing PYTHIA costs ~1 s), reseeded with ``seed``."""
        key = (settings, os.fspath(cache_dir) if cache_dir is not None else "")
        source = _SHARED.get(key)
        if source is None:
            source = _SHARED[key] = cls(0, settings=settings, cache_dir=cache_dir)
        source.reseed(seed)
        return source

    def __init__(
        self,
        seed: int,
        *,
        settings: tuple[str, ...] = PYTHIA_SETTINGS,
        cache_dir: str | os.PathLike | None = None,
    ) -> None:
        self.settings = settings
        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        init_file = cache / f"pythia_mpi_{settings_key(settings)}.init"
        if not init_file.exists():
            cache.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=cache, suffix=".init.tmp")
            os.close(fd)
            # reuseInit 1: generate and save the tables (fixed seed: settings decide them)
            self._make(
                0,
                [
                    "MultipartonInteractions:reuseInit = 1",
                    f"MultipartonInteractions:initFile = {tmp}",
                ],
            )
            os.replace(tmp, init_file)
        # reuseInit 2: read the tables (init fails if missing)
        self.pythia = self._make(
            seed,
            [
                "MultipartonInteractions:reuseInit = 2",
                f"MultipartonInteractions:initFile = {init_file}",
            ],
        )
        self._pdata = self.pythia.particleData
        self._charge: dict[int, int] = {}
        self._mass: dict[int, float] = {}

    def reseed(self, seed: int) -> None:
        """Restart PYTHIA's random-number stream from ``seed``."""
        self.pythia.rndm.init(int(seed) % 900_000_000 + 1)

    def _make(self, seed: int, extra: list[str]):
        pythia8mc = _require_pythia()
        pythia = pythia8mc.Pythia("", False)
        pythia_seed = int(seed) % 900_000_000 + 1
        for line in (*self.settings, "Random:setSeed = on", f"Random:seed = {pythia_seed}", *extra):
            if not pythia.readString(line):
                raise ValueError(f"PYTHIA refused the setting {line!r}")
        if not pythia.init():
            raise RuntimeError(f"PYTHIA initialisation failed (settings {extra})")
        return pythia

    def generate(self, n_events: int) -> GenEvents:
        """``n_events`` events; the particle loop is the only per-particle Python code."""
        pythia = self.pythia
        event = pythia.event
        counts = np.empty(n_events, np.int64)
        rows: list[tuple[int, int, float, float, float, float]] = []
        for i in range(n_events):
            while not pythia.next():
                pass
            before = len(rows)
            # final state <=> status > 0; one pass, six accessor calls per final particle
            rows.extend(
                (q.id(), status, q.px(), q.py(), q.pz(), q.e())
                for q in event.particles()
                if (status := q.status()) > 0
            )
            counts[i] = len(rows) - before
        table = np.array(rows, dtype=np.float64).reshape(-1, 6)
        pdg = table[:, 0].astype(np.int32)
        charge, mass = self._lookup(pdg)
        return GenEvents(
            offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            pdg=pdg,
            status=table[:, 1].astype(np.int32),
            charge=charge,
            mass=mass,
            px=table[:, 2].astype(np.float32),
            py=table[:, 3].astype(np.float32),
            pz=table[:, 4].astype(np.float32),
            e=table[:, 5].astype(np.float32),
        )

    def _lookup(self, pdg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        codes, inverse = np.unique(pdg, return_inverse=True)
        for c in codes.tolist():
            if c not in self._charge:
                self._charge[c] = self._pdata.chargeType(c) // 3
                self._mass[c] = self._pdata.m0(c)
        charge = np.array([self._charge[c] for c in codes.tolist()], np.int8)[inverse]
        mass = np.array([self._mass[c] for c in codes.tolist()], np.float32)[inverse]
        return charge.reshape(pdg.shape), mass.reshape(pdg.shape)
