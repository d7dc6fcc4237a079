"""Write demo AO2D datasets: PYTHIA 8 pp events through the demo detector, by run and file.

Layout: ``OUT/<run>/AO2D_<k>.root`` (k = 001, 002, ...), each file holding several
``DF_<id>`` dataframes (ids unique over the dataset: ``run * 10^7 + n``), each dataframe the
TTrees of the O2 data model (:mod:`hyperloop.analysis.schema`) in their current versions
(``O2bc_001``, ``O2collision_001``, ``O2track``, ``O2trackextra_002``, ``O2trackdca``,
``O2v0_002``, plus the demo's V0 topology ``O2demov0topo``; with ``mc`` also
``O2mccollision_001``, ``O2mcparticle_001``, ``O2mctracklabel``, ``O2mccollisionlabel``),
ZSTD-compressed, plus
``OUT/manifest.json``. Every file is seeded from (seed, run, file number) alone, so a seed
gives identical arrays whatever the number of worker processes.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from hyperloop.analysis.ao2d import write_metadata
from hyperloop.analysis.ao2d_writer import AO2DWriter
from hyperloop.analysis.conditions import magnetic_field
from hyperloop.analysis.schema import (
    MC_PHYSICAL_PRIMARY,
    MC_PRODUCED_BY_TRANSPORT,
    STORED_AO2D_TABLES,
    default_registry,
)
from hyperloop.demo import detector
from hyperloop.demo.events import (
    PYTHIA_SETTINGS,
    GenEvents,
    PythiaSource,
    TruthEvents,
    pythia_version,
    transport,
)

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "hyperloop-demo-manifest/1"
DETECTOR_VERSION = "hyperloop-demo-detector/1"
DF_ID_RUN_FACTOR = 10**7
BC_PER_EVENT = 1000  # mean bunch-crossing spacing between stored events (synthetic)

MC_CATEGORY = "MonteCarlo"
# every table Run 3 reconstruction stores, in its current version (those the demo detector
# does not simulate are written empty, as for a detector without signals)
# (a version newer than the current one, McCaloLabels_001, is not written)
_CURRENT = [t for t in STORED_AO2D_TABLES if t.stored and t.logical[-4:-3] != "_"]
REAL_TABLES = tuple(t.o2name for t in _CURRENT if t.category != MC_CATEGORY)
MC_TABLES = tuple(t.o2name for t in _CURRENT if t.category == MC_CATEGORY)
V0_TOPOLOGY = ("fV0Radius", "fV0CosPA", "fDCAV0Daughters")


@dataclass
class FileEntry:
    """One written AO2D file: where, which dataframes, and what it holds."""

    run: int
    path: str  # relative to the dataset folder
    dataframes: list[int]
    events: int
    collisions: int
    tracks: int
    v0s: int
    mc_particles: int
    size_bytes: int


@dataclass
class Manifest:
    """What a :func:`generate_dataset` call wrote (also ``OUT/manifest.json``)."""

    out_dir: str
    runs: list[int]
    events_per_run: int
    files: list[FileEntry]
    settings: dict
    seconds: float = 0.0
    format: str = MANIFEST_FORMAT
    totals: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        keys = ("events", "collisions", "tracks", "v0s", "mc_particles", "size_bytes")
        self.totals = {k: sum(getattr(f, k) for f in self.files) for k in keys}
        self.totals["files"] = len(self.files)
        self.totals["events_per_second"] = (
            round(self.totals["events"] / self.seconds, 1) if self.seconds > 0 else None
        )

    def paths(self, run: int | None = None) -> list[Path]:
        """Absolute paths of the files (of one run if given), in order."""
        return [Path(self.out_dir) / f.path for f in self.files if run is None or f.run == run]

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("out_dir")
        return d

    def write(self) -> Path:
        path = Path(self.out_dir) / MANIFEST_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def read(cls, out_dir: str | os.PathLike) -> Manifest:
        path = Path(out_dir) / MANIFEST_NAME
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"no demo dataset manifest at {path}") from None
        if data.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"{path}: format {data.get('format')!r}, expected {MANIFEST_FORMAT}")
        files = [FileEntry(**f) for f in data["files"]]
        return cls(
            out_dir=str(out_dir),
            runs=data["runs"],
            events_per_run=data["events_per_run"],
            files=files,
            settings=data["settings"],
            seconds=data["seconds"],
        )


@dataclass(frozen=True)
class FileJob:
    """Everything needed to write one file, independently of all others."""

    run: int
    file_number: int
    path: str
    first_event: int  # index of the file's first event within the run
    df_sizes: tuple[int, ...]
    first_df: int  # index of the file's first dataframe within the run
    seed: int
    mc: bool
    pool_path: str | None  # fast mode: the event pool to resample
    cache_dir: str | None
    compression: str
    level: int


# ----------------------------------------------------------------------------------------
# tables of one dataframe


def _conform(o2name: str, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Exactly the schema's stored columns of ``o2name``, in schema order and dtypes."""
    table = default_registry().get(o2name)
    missing = set(table.columns) - set(columns)
    extra = set(columns) - set(table.columns)
    if missing or extra:
        raise AssertionError(
            f"{o2name}: columns missing {sorted(missing)}, unexpected {sorted(extra)}"
        )
    out = {}
    for name in table.columns:
        if table.is_vector(name):
            out[name] = np.asarray(columns[name], dtype=object)
        else:
            out[name] = np.asarray(columns[name]).astype(table.dtype(name).base)
    return out


def _mothers_daughters(mother: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """McParticles_001 links from the first-mother index: the mothers array of each
    particle (empty for primaries) and its daughters slice [first, last] (-1, -1: none;
    the caller orders particles so that daughters are contiguous rows)."""
    n = len(mother)
    mothers = np.empty(n, dtype=object)
    none = np.zeros(0, dtype=np.int32)
    for i, m in enumerate(mother):
        mothers[i] = np.array([m], dtype=np.int32) if m >= 0 else none
    first = np.full(n, np.iinfo(np.int32).max, dtype=np.int64)
    last = np.full(n, -1, dtype=np.int64)
    has = mother >= 0
    rows = np.flatnonzero(has)
    np.minimum.at(first, mother[has], rows)
    np.maximum.at(last, mother[has], rows)
    first[last < 0] = -1
    return mothers, np.stack([first, last], axis=1).astype(np.int32)


def dataframe_tables(
    truth: TruthEvents,
    reco: detector.Reconstructed,
    *,
    run: int,
    global_bc: np.ndarray,
    mc: bool,
    df_id: int = 0,
    rng: np.random.Generator | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """The AO2D tables of one dataframe (O2 tree name -> columns), schema dtypes: every
    table Run 3 reconstruction stores (MC ones with ``mc``), empty where the demo detector
    has nothing to say."""
    rng = rng if rng is not None else np.random.default_rng(df_id)
    n_ev = truth.n_events
    v0s = {k: v for k, v in reco.v0s.items() if k not in V0_TOPOLOGY}
    v0s["fV0Type"] = np.ones(len(v0s["fIndexCollisions"]), np.uint8)  # standard V0s
    tables = {
        "O2bc_001": dict(
            fRunNumber=np.full(n_ev, run),
            fGlobalBC=global_bc,
            fTriggerMask=np.zeros(n_ev, np.uint64),
            fInputMask=np.zeros(n_ev, np.uint64),
        ),
        "O2collision_001": reco.collisions,
        "O2track_iu": reco.tracks_iu,
        "O2trackcov_iu": reco.tracks_cov_iu,
        "O2trackextra_002": reco.tracks_extra,
        "O2v0_002": v0s,
        "O2demov0topo": {k: reco.v0s[k] for k in V0_TOPOLOGY},
        "O2origin": dict(fDataframeID=np.array([df_id], np.uint64)),
        **_forward_detectors(reco, rng),
    }
    if mc:
        n_p = len(truth.pdg)
        flags = np.where(truth.primary, MC_PHYSICAL_PRIMARY, MC_PRODUCED_BY_TRANSPORT)
        tables["O2mccollision_001"] = dict(
            fIndexBCs=np.arange(n_ev),
            fGeneratorsID=np.zeros(n_ev),
            fPosX=truth.vtx[:, 0],
            fPosY=truth.vtx[:, 1],
            fPosZ=truth.vtx[:, 2],
            fT=np.zeros(n_ev),
            fWeight=np.ones(n_ev),
            fImpactParameter=np.zeros(n_ev),
            fEventPlaneAngle=np.zeros(n_ev),
        )
        # particle order as the MC kinematics stores it: per event, the generator's particles
        # first, then the decay products grouped by mother, so that daughters are contiguous
        # rows (McParticles_001 keeps them as a [first, last] slice)
        old_mother = np.asarray(truth.mother, dtype=np.int64)
        secondary = old_mother >= 0
        order = np.lexsort(
            (np.arange(n_p), np.where(secondary, old_mother, -1), secondary, truth.event)
        )
        new_of_old = np.empty(n_p, dtype=np.int64)
        new_of_old[order] = np.arange(n_p)
        mother = np.where(secondary, new_of_old[np.maximum(old_mother, 0)], -1)[order]
        mothers, daughters = _mothers_daughters(mother)
        tables["O2mcparticle_001"] = dict(
            fIndexMcCollisions=truth.event[order],
            fPdgCode=truth.pdg[order],
            fStatusCode=truth.status[order],
            fFlags=flags[order],
            fIndexArray_Mothers=mothers,
            fIndexSlice_Daughters=daughters,
            fPx=truth.px[order],
            fPy=truth.py[order],
            fPz=truth.pz[order],
            fE=truth.e[order],
            fVx=truth.vx[order],
            fVy=truth.vy[order],
            fVz=truth.vz[order],
            fVt=truth.vt[order],
            fWeight=np.ones(n_p),
        )
        n_tr = len(reco.track_truth)
        tables["O2mctracklabel"] = dict(
            fIndexMcParticles=new_of_old[reco.track_truth], fMcMask=np.zeros(n_tr)
        )
        tables["O2mccollisionlabel"] = dict(
            fIndexMcCollisions=reco.collision_event,
            fMcMask=np.zeros(len(reco.collision_event)),
        )
    registry = default_registry()
    for name in (*REAL_TABLES, *(MC_TABLES if mc else ())):
        if name not in tables:  # not simulated: stored empty
            schema = registry.get(name)
            tables[name] = {c: _empty(schema, c) for c in schema.columns}
    order = (*REAL_TABLES, *(MC_TABLES if mc else ()))
    return {name: _conform(name, tables[name]) for name in order}


def _empty(schema, column: str) -> np.ndarray:
    if schema.is_vector(column):
        return np.zeros(0, dtype=object)
    dt = schema.dtype(column)
    return np.zeros((0, *dt.shape), dtype=dt.base)


def _forward_detectors(
    reco: detector.Reconstructed, rng: np.random.Generator
) -> dict[str, dict[str, np.ndarray]]:
    """FT0, FV0A, FDD and ZDC signals of the collisions' bunch crossings: channels fired in
    proportion to the vertex contributors (a multiplicity proxy), exponential amplitudes."""
    bcs = np.asarray(reco.collisions["fIndexBCs"], dtype=np.int32)
    mult = np.asarray(reco.collisions["fNumContrib"], dtype=np.float64)
    n = len(bcs)

    def channels(n_channels: int, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        amps, ids = np.empty(n, dtype=object), np.empty(n, dtype=object)
        fired = np.minimum(rng.poisson(mean), n_channels)
        for i, k in enumerate(fired):
            ids[i] = np.sort(rng.choice(n_channels, size=k, replace=False)).astype(np.uint8)
            amps[i] = rng.exponential(20.0, k).astype(np.float32)
        return amps, ids

    ft0a, cha = channels(96, 0.6 * mult)
    ft0c, chc = channels(112, 0.5 * mult)
    fv0, chv = channels(48, 0.5 * mult)
    zdc_e, zdc_c = channels(26, np.full(n, 0.3))
    zdc_t = np.empty(n, dtype=object)
    for i, e in enumerate(zdc_e):
        zdc_t[i] = rng.normal(0.0, 0.2, len(e)).astype(np.float32)
    return {
        "O2ft0": dict(
            fIndexBCs=bcs,
            fAmplitudeA=ft0a,
            fChannelA=cha,
            fAmplitudeC=ft0c,
            fChannelC=chc,
            fTimeA=rng.normal(0.0, 0.025, n),
            fTimeC=rng.normal(0.0, 0.025, n),
            fTriggerMask=np.ones(n, np.uint8),
        ),
        "O2fv0a": dict(
            fIndexBCs=bcs,
            fAmplitude=fv0,
            fChannel=chv,
            fTime=rng.normal(0.0, 0.1, n),
            fTriggerMask=np.ones(n, np.uint8),
        ),
        "O2fdd_001": dict(
            fIndexBCs=bcs,
            fChargeA=rng.poisson(np.repeat(0.3 * mult[:, None], 8, axis=1)).astype(np.int16),
            fChargeC=rng.poisson(np.repeat(0.3 * mult[:, None], 8, axis=1)).astype(np.int16),
            fTimeA=rng.normal(0.0, 0.1, n),
            fTimeC=rng.normal(0.0, 0.1, n),
            fTriggerMask=np.ones(n, np.uint8),
        ),
        "O2zdc_001": dict(
            fIndexBCs=bcs,
            fEnergy=zdc_e,
            fChannelE=zdc_c,
            fAmplitude=zdc_e,
            fTime=zdc_t,
            fChannelT=zdc_c,
        ),
    }


def simulate(
    gen: GenEvents, rng: np.random.Generator, bz: float = detector.NOMINAL_BZ_KG
) -> tuple[TruthEvents, detector.Reconstructed]:
    """New vertices, K0S/Lambda decays and the detector response (field ``bz`` in kG) for a
    batch of events."""
    n = gen.n_events
    vtx = rng.normal(size=(n, 3)) * np.array(
        [detector.BEAM_SPOT_XY_CM, detector.BEAM_SPOT_XY_CM, detector.BEAM_SPOT_Z_CM]
    )
    truth = transport(gen, vtx, rng)
    return truth, detector.reconstruct(truth, rng, bz)


# ----------------------------------------------------------------------------------------
# files


def _write_file(job: FileJob, out_dir: str) -> FileEntry:
    """Generate and write one AO2D file (runs in a worker process when workers > 1)."""
    ss = np.random.SeedSequence([job.seed, job.run, job.file_number])
    pythia_seed, rng_seed = ss.generate_state(2)
    rng = np.random.default_rng([int(rng_seed), job.run, job.file_number])
    if job.pool_path is not None:
        from hyperloop.demo.fast import load_pool, resample

        pool = load_pool(job.pool_path)
        source = None
    else:
        source = PythiaSource.shared(int(pythia_seed), cache_dir=job.cache_dir)
    path = Path(out_dir) / job.path
    path.parent.mkdir(parents=True, exist_ok=True)
    counts = dict(events=0, collisions=0, tracks=0, v0s=0, mc_particles=0)
    df_ids = []
    base_bc = job.run * 3564 * 10**6
    with AO2DWriter(path, compression=job.compression, level=job.level) as writer:
        first = job.first_event
        for k, size in enumerate(job.df_sizes):
            gen = resample(pool, size, rng) if source is None else source.generate(size)
            truth, reco = simulate(gen, rng, magnetic_field(job.run))
            ev = first + np.arange(size, dtype=np.uint64)
            gbc = (
                base_bc + ev * BC_PER_EVENT + rng.integers(0, BC_PER_EVENT, size).astype(np.uint64)
            )
            df_id = job.run * DF_ID_RUN_FACTOR + job.first_df + k
            tables = dataframe_tables(
                truth, reco, run=job.run, global_bc=gbc, mc=job.mc, df_id=df_id, rng=rng
            )
            writer.write_dataframe(df_id, tables)
            df_ids.append(df_id)
            first += size
            counts["events"] += size
            counts["collisions"] += len(reco.collision_event)
            counts["tracks"] += len(reco.track_truth)
            counts["v0s"] += len(reco.v0s["fIndexCollisions"])
            counts["mc_particles"] += len(truth.pdg) if job.mc else 0
        write_metadata(writer.file, file_metadata(job.mc))
    return FileEntry(
        run=job.run, path=job.path, dataframes=df_ids, size_bytes=path.stat().st_size, **counts
    )


def file_metadata(mc: bool) -> dict[str, str]:
    """The ``metaData`` TMap of a demo file, with the keys Run 3 reconstruction writes."""
    return {
        "DataType": "MC" if mc else "RAW",
        "Run": "3",
        "RecoPassName": "demo_pass1",
        "AnchorProduction": "LHC26demo" if mc else "",
        "AnchorPassName": "demo_pass1" if mc else "",
        "LPMProductionTag": "LHC26demo_mc" if mc else "LHC26demo",
        "O2Version": f"hyperloop demo detector ({DETECTOR_VERSION})",
        "ROOTVersion": "written by uproot",
    }


def plan_files(
    runs: list[int],
    events_per_run: int,
    *,
    dfs_per_file: int,
    events_per_df: int,
    seed: int,
    mc: bool,
    pool_path: str | None,
    cache_dir: str | None,
    compression: str,
    level: int,
) -> list[FileJob]:
    """Split every run into files of ``dfs_per_file`` dataframes of ``events_per_df`` events."""
    jobs = []
    per_file = dfs_per_file * events_per_df
    for run in runs:
        n_files = max(1, math.ceil(events_per_run / per_file))
        for f in range(n_files):
            first = f * per_file
            n = min(per_file, events_per_run - first)
            sizes = [events_per_df] * (n // events_per_df)
            if n % events_per_df:
                sizes.append(n % events_per_df)
            jobs.append(
                FileJob(
                    run=run,
                    file_number=f + 1,
                    path=f"{run}/AO2D_{f + 1:03d}.root",
                    first_event=first,
                    df_sizes=tuple(sizes),
                    first_df=f * dfs_per_file,
                    seed=seed,
                    mc=mc,
                    pool_path=pool_path,
                    cache_dir=cache_dir,
                    compression=compression,
                    level=level,
                )
            )
    return jobs


def generate_dataset(
    out_dir: str | os.PathLike,
    runs: list[int] | tuple[int, ...],
    events_per_run: int,
    *,
    mc: bool = False,
    seed: int = 1,
    fast: bool = False,
    dfs_per_file: int = 4,
    events_per_df: int = 500,
    pool_size: int = 2000,
    workers: int = 1,
    cache_dir: str | os.PathLike | None = None,
    compression: str = "zstd",
    level: int = 5,
) -> Manifest:
    """Generate a demo AO2D dataset into ``out_dir`` and return (and write) its manifest.

    ``fast`` resamples a cached pool of ``pool_size`` PYTHIA events instead of running
    PYTHIA for every event; ``workers`` > 1 writes files in parallel processes (same arrays;
    processes are spawned, so scripts must call this under ``if __name__ == "__main__":``).
    """
    runs = [int(r) for r in runs]
    if not runs:
        raise ValueError("demo-data: give at least one run number")
    if len(set(runs)) != len(runs):
        raise ValueError(f"demo-data: duplicate run numbers in {runs}")
    for name, value in (
        ("events_per_run", events_per_run),
        ("dfs_per_file", dfs_per_file),
        ("events_per_df", events_per_df),
        ("pool_size", pool_size),
        ("workers", workers),
    ):
        if value < 1:
            raise ValueError(f"demo-data: {name} must be >= 1, got {value}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    cache = os.fspath(cache_dir) if cache_dir is not None else None
    pool_path = None
    if fast:
        from hyperloop.demo.fast import load_or_generate_pool

        _, path = load_or_generate_pool(seed, pool_size, cache)
        pool_path = os.fspath(path)
    jobs = plan_files(
        runs,
        events_per_run,
        dfs_per_file=dfs_per_file,
        events_per_df=events_per_df,
        seed=seed,
        mc=mc,
        pool_path=pool_path,
        cache_dir=cache,
        compression=compression,
        level=level,
    )
    if workers == 1 or len(jobs) == 1:
        entries = [_write_file(job, os.fspath(out)) for job in jobs]
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx) as ex:
            entries = list(ex.map(_write_file, jobs, [os.fspath(out)] * len(jobs)))
    settings = dict(
        seed=seed,
        mc=mc,
        fast=fast,
        pool_size=pool_size if fast else None,
        dfs_per_file=dfs_per_file,
        events_per_df=events_per_df,
        compression=compression,
        level=level,
        workers=workers,
        generator=f"PYTHIA 8 (pythia8mc {pythia_version()})",
        pythia_settings=list(PYTHIA_SETTINGS),
        detector=DETECTOR_VERSION,
    )
    manifest = Manifest(
        out_dir=os.fspath(out),
        runs=runs,
        events_per_run=events_per_run,
        files=entries,
        settings=settings,
        seconds=round(time.perf_counter() - start, 3),
    )
    manifest.write()
    return manifest
