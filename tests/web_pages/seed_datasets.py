"""A seeded site for the dataset, runlist, notification, profile and admin page tests.

The domain world of ``tests/factories.py`` (``make_world``: accounts of every role,
analyses, a tag, an active dataset built from a DPG runlist) plus, through the core services: a file catalogue with an
excluded run, mergelists and a final mergelist, a short dataset, staging transfers (one
running: 2 of its 6 files copied; one done: ``factories.staging_copied``), 30 more datasets (pagination), an unused runlist, a derived-data train
and one notification of every kind for alice. Every account logs in with ``PASSWORD``.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from tests.factories import make_world, staging_copied

from hyperloop.core import datasets, enabling, notifications, runlists, trains, wagons
from hyperloop.core.actor import Actor
from hyperloop.core.storage_roots import StorageRoots
from hyperloop.db.models import AnalysisDataset, Base, TrainRun
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.enums import DataType, NotificationKind, TestStatus, TrainState, TrainType
from hyperloop.settings import load_settings
from hyperloop.web.app import bind_database, create_app

PASSWORD = "correct horse battery staple"
#: role label -> username in the core test world
ROLE_USERS = {
    "admin": "admin",
    "operator": "operator",
    "analyzer": "alice",
    "analyzer2": "carol",
    "dpg_expert": "dpg",
    "user": "outsider",
}
MAIN_DATASET = "LHC23_pp_pass4"
_TEMPLATE: tuple[Path, dict[str, int]] | None = None
_APP = None
EXTRA_DATASETS = 30

# The storage roots of the seeded catalogue and of the app: the catalogue's "/data", and the
# temporary folder where tests write the real files a page reads (pytest's tmp_path).
ROOTS = ["/data", str(Path(tempfile.gettempdir()).resolve())]


def seed(url: str) -> dict[str, int]:
    """Create the schema and the content at ``url``; returns ids the tests need."""
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    ids: dict[str, int] = {}
    with make_sessionmaker(engine).begin() as s:
        w = make_world(s)
        # cheap argon2 parameters (read back from the hash on login): fast test logins
        password_hash = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
        for user in (w.admin, w.operator, w.alice, w.bob, w.carol, w.dpg, w.convener, w.outsider):
            user.password_hash = password_hash
        op, dpg = Actor(w.operator), Actor(w.dpg)
        ds = w.dataset
        prod = ds.productions[0]
        lines = [
            f"/data/LHC23zzh/{run}/AO2D_{i:03d}.root {1_500_000 * (i + 1)} {10 + i}"
            for run in (544013, 544028, 544032)
            for i in range(2)
        ]
        datasets.import_file_list(s, op, prod.id, lines, roots=StorageRoots.parse(ROOTS))
        datasets.set_excluded_runs(s, op, prod.id, [544032])
        datasets.set_mergelist(s, op, ds.id, "early", [544013])
        datasets.set_mergelist(s, op, ds.id, "late", [544028], active=False)
        datasets.set_final_mergelist(s, op, ds.id, "all-runs", ["early", "late"])
        short = datasets.add_short_dataset(s, op, ds.id, "LHC23_pp_pass4_short")
        # adding a short dataset takes its parent out of the analyses (staged submission);
        # these pages also show trains and wagons on the parent itself: put it back as a
        # dataset used before the short one existed
        s.add(AnalysisDataset(analysis_id=w.lf.id, dataset_id=ds.id))
        s.add(AnalysisDataset(analysis_id=w.hf.id, dataset_id=ds.id))
        s.add(AnalysisDataset(analysis_id=w.service.id, dataset_id=ds.id))
        s.flush()
        running = datasets.request_staging(s, op, ds.id, "af-gsi")
        staging_copied(s, running.id, files=2)  # 4.5 of 13.5 MB
        done = datasets.request_staging(s, op, ds.id, "af-cern")
        staging_copied(s, done.id, files=6)
        for i in range(EXTRA_DATASETS):
            datasets.create_dataset(
                s,
                op,
                f"LHC22{chr(ord('a') + i % 26)}{i:02d}_PbPb",
                data_type=DataType.MC if i % 3 == 0 else DataType.DATA,
                collision_system="PbPb",
                period=f"LHC22{chr(ord('a') + i % 26)}",
            )
        unused = runlists.create_runlist(
            s, dpg, "LHC22o_pass7", [526641, 526712], anchor="LHC22o", tag="pass7"
        )
        runlists.edit_runlist(
            s, dpg, w.dataset.productions[0].runlist_id, expected_version=1, description="QA ok"
        )
        skimmer = wagons.create_wagon(
            s,
            Actor(w.alice),
            w.lf.id,
            name="skimmer",
            workflow="tree-maker",
            derived_tables=["MyTracks"],
        )
        enabling.enable_wagon(s, Actor(w.alice), skimmer.id, ds.id)
        test = enabling.current_test(s, skimmer.id, ds.id)
        enabling.finish_test(s, test.id, TestStatus.DONE, metrics={"pss_avg_bytes": 1e8})
        derived = trains.compose_train(
            s,
            op,
            ds.id,
            [skimmer.id],
            target_id=w.target.id,
            train_type=TrainType.STANDARD_DERIVED,
            check_slots=False,
        )
        for kind in NotificationKind:
            notifications.notify(s, [w.alice.id], kind, f"example of {kind.value}", ds)
        s.flush()
        ids.update(
            dataset=ds.id,
            production=prod.id,
            short=short.id,
            runlist=prod.runlist_id,
            unused_runlist=unused.id,
            derived_train=derived.id,
            target=w.target.id,
            lf=w.lf.id,
            hf=w.hf.id,
            alice=w.alice.id,
            bob=w.bob.id,
            outsider=w.outsider.id,
        )
    engine.dispose()
    return ids


def done_derived_train(url: str, composed_id: int, folder: Path) -> int:
    """A done standard derived train like the seeded composed one, its merged files (2 kB)
    on disk under ``folder/merged``: what an operator may delete when unused."""
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as s:
        composed = s.get(TrainRun, composed_id)
        train = TrainRun(
            dataset_id=composed.dataset_id,
            tag_id=composed.tag_id,
            target_id=composed.target_id,
            train_type=TrainType.STANDARD_DERIVED,
            state=TrainState.DONE,
            wagons_snapshot=composed.wagons_snapshot,
            output_dir=str(folder / "merged"),
        )
        s.add(train)
        s.flush()
        train_id = train.id
    engine.dispose()
    (folder / "merged" / "runs" / "544013").mkdir(parents=True)
    (folder / "merged" / "runs" / "544013" / "AO2D.root").write_bytes(b"x" * 2048)
    return train_id


@dataclass
class Site:
    """The app over a seeded database and one logged-in client per role."""

    app: object
    ids: dict[str, int]
    url: str
    _clients: dict[str, TestClient] = field(default_factory=dict)

    @classmethod
    def create(cls, folder: Path, template_folder: Path | None = None) -> Site:
        """A site over a private copy of the seeded database (seeded once per process)."""
        global _TEMPLATE
        if _TEMPLATE is None or not _TEMPLATE[0].is_file():
            path = (template_folder or folder) / "template.db"
            _TEMPLATE = (path, seed(f"sqlite:///{path}"))
        target = folder / "site.db"
        shutil.copyfile(_TEMPLATE[0], target)
        url = f"sqlite:///{target}"
        global _APP
        if _APP is None:  # building the app takes seconds: one per process, rebound per site
            _APP = create_app(load_settings(database_url=url, storage_roots=ROOTS))
        else:
            bind_database(_APP, make_engine(url))
        return cls(_APP, dict(_TEMPLATE[1]), url)

    def client(self, role: str) -> TestClient:
        """A client logged in as ``role`` (a key of ROLE_USERS) or ``anonymous``."""
        if role not in self._clients:
            c = TestClient(self.app, follow_redirects=False)
            if role != "anonymous":
                r = c.post(
                    "/api/auth/login", json={"username": ROLE_USERS[role], "password": PASSWORD}
                )
                assert r.status_code == 200, r.text
                c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
            self._clients[role] = c
        return self._clients[role]

    def close(self) -> None:
        for c in self._clients.values():
            c.close()
        self.app.state.engine.dispose()
