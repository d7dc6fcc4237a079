"""Database content for the analysis and wagon pages, made through the core services.

Package tags carry the real introspection of the installed physics package (every
configurable kind) plus a workflow declaring the real O2 strangeness tasks of
``realdata/dpl-config_strangeness.json`` (so uploading that file changes a few values).
One wagon test really ran: ``hyperloop run-train`` on the real UD AO2D file, its folder under
the outputs root; its verdict comes from ``core.assessment`` like the scheduler's.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.factories import FLOW_TASK, STRANGENESS_CHANGED, tasks_from_o2_config
from tests.web_pages.accounts import ADMIN, ANALYZER, PASSWORD, seed_accounts

from hyperloop.analysis.workflows import load_package
from hyperloop.core import (
    analyses,
    datasets,
    enabling,
    pull_requests,
    runlists,
    tags,
    users,
    wagons,
)
from hyperloop.core.actor import Actor
from hyperloop.core.assessment import DatasetSize, SampleFacts, evaluate
from hyperloop.core.storage_roots import StorageRoots
from hyperloop.db.base import utcnow
from hyperloop.db.models import User, WagonTest
from hyperloop.db.session import make_engine, make_sessionmaker
from hyperloop.enums import TagPolicy, TestStatus

MEMBER = "bob"  # a second member of the LF analysis
READER = "ursula"  # logged in, member of nothing
OPERATOR = "oscar"
O2_WORKFLOW = "o2-strangeness"
_INTROSPECTION: dict | None = None


def physics_introspection(realdata: Path, version: str = "0.2.0") -> dict:
    """The installed physics package's workflows plus the real O2 strangeness tasks."""
    global _INTROSPECTION
    if _INTROSPECTION is None:
        _INTROSPECTION = load_package().describe()
    doc = copy.deepcopy(_INTROSPECTION)
    doc["package"] = {"name": "hyperloop-physics", "version": version}
    doc["workflows"].append(
        {
            "name": O2_WORKFLOW,
            "doc": "the real O2 strangeness tutorial tasks",
            "tasks": tasks_from_o2_config(
                realdata / "dpl-config_strangeness.json", STRANGENESS_CHANGED
            ),
        }
    )
    return doc


@dataclass
class Seeded:
    ids: dict[str, int] = field(default_factory=dict)


_RUN_CACHE: dict[int, Path] = {}


def run_test_sample(folder: Path, realdata: Path, wagon_id: int) -> Path:
    """Run the ud-rho workflow (base + a tighter subwagon) on the real UD file, as a wagon
    test attempt folder; returns the folder. One real run per process, copied after."""
    if wagon_id in _RUN_CACHE and _RUN_CACHE[wagon_id].is_dir():
        shutil.copytree(_RUN_CACHE[wagon_id], folder)
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "package_tag": "hyperloop-physics-0.2.0",
        "cpu_cores": 1,
        "workflows": [
            {"workflow_name": "ud-rho", "suffix": "", "wagon_id": wagon_id, "configuration": {}},
            {
                "workflow_name": "ud-rho",
                "suffix": "tight",
                "wagon_id": wagon_id,
                "configuration": {"ud-rho": {"maxTrackEta": "0.5"}},
            },
        ],
    }
    (folder / "config_in.json").write_text(json.dumps(config))
    inputs = folder / "input_data.txt"
    inputs.write_text(f"{realdata / 'AO2D_ud_rho_run3.root'}\n")
    done = subprocess.run(
        [sys.executable, "-m", "hyperloop", "run-train", str(folder / "config_in.json")]
        + ["-i", str(inputs), "-o", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"run-train failed: {done.stderr[-2000:]}")
    (folder / "config_in.json").unlink()
    speedscope = {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "shared": {"frames": [{"name": "ud-rho.process"}]},
        "profiles": [
            {
                "type": "evented",
                "name": "ud-rho",
                "unit": "milliseconds",
                "startValue": 0,
                "endValue": 10,
                "events": [{"type": "O", "frame": 0, "at": 0}, {"type": "C", "frame": 0, "at": 10}],
            }
        ],
    }
    (folder / "profile.speedscope.json").write_text(json.dumps(speedscope))
    _RUN_CACHE[wagon_id] = folder
    return folder


def seed_analyses(url: str, outputs_root: Path, realdata: Path) -> Seeded:
    """Accounts (see accounts.py) plus analyses, tags, wagons, datasets, tests."""
    seed_accounts(url)
    out = Seeded()
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as s:
        alice = s.query(User).filter_by(username=ANALYZER).one()
        admin = s.query(User).filter_by(username=ADMIN).one()
        people = {}
        for name, roles in ((MEMBER, []), (READER, []), (OPERATOR, ["operator"])):
            people[name] = users.create_user(s, name, roles=roles, email=f"{name}@example.org")
            people[name].password_hash = alice.password_hash
        root = Actor(admin)
        lf = analyses.create_analysis(s, root, "LF-spectra", "PWG-LF", description="pp spectra")
        hf = analyses.create_analysis(s, root, "HF-charm", "PWG-HF")
        svc = analyses.create_analysis(s, root, "Core-services", "DPG", service=True)
        for i in range(30):  # enough analyses to paginate
            analyses.create_analysis(s, root, f"Extra-{i:02d}", "PWG-UD")
        analyses.add_member(s, root, lf.id, alice.id)
        analyses.add_member(s, root, lf.id, people[MEMBER].id)
        analyses.add_member(s, root, hf.id, alice.id)
        old = tags.register_tag(
            s, root, physics_introspection(realdata, "0.2.0"), artifact="/tags/0.2.0"
        )
        newer_doc = physics_introspection(realdata, "0.2.1")
        for wf in newer_doc["workflows"]:
            for task in wf["tasks"]:
                for conf in task.get("configurables", []):
                    if wf["name"] == "two-particle-correlations" and conf["name"] == "nMixEvents":
                        conf["default"] = "7"
        newer = tags.register_tag(s, root, newer_doc, artifact="/tags/0.2.1")
        newer.released_at = utcnow()
        s.flush()
        # pull requests: one adds a workflow no released tag has yet, one is merged
        pr_doc = copy.deepcopy(newer_doc)
        pr_doc["workflows"].append(
            {"name": "flow-harmonics", "doc": "flow from a PR", "tasks": [copy.deepcopy(FLOW_TASK)]}
        )
        flow_pr = pull_requests.register_pull_request(
            s, root, number=2041, title="Add flow harmonics", state="open", introspection=pr_doc
        )
        pull_requests.register_pull_request(
            s, root, number=2030, title="Fix the eta cut", state="merged", introspection=newer_doc
        )
        a = Actor(alice)
        evsel = wagons.create_wagon(
            s, Actor(admin), svc.id, name="evsel", workflow="event-selection", tag_id=old.id
        )
        spectra = wagons.create_wagon(
            s,
            a,
            lf.id,
            name="spectra",
            workflow="spectra-charged",
            tag_id=old.id,
            dependencies=[evsel.id],
        )
        corr = wagons.create_wagon(
            s,
            a,
            lf.id,
            name="corr",
            workflow="two-particle-correlations",
            tag_id=old.id,
            subwagons={"narrow": {"two-particle-correlations": {"etaMax": "0.5"}}},
        )
        strange = wagons.create_wagon(
            s, a, lf.id, name="strange", workflow="strangeness", tag_id=old.id
        )
        udrho = wagons.create_wagon(
            s,
            a,
            lf.id,
            name="udrho",
            workflow="ud-rho",
            tag_id=old.id,
            subwagons={"tight": {"ud-rho": {"maxTrackEta": "0.5"}}},
        )
        o2 = wagons.create_wagon(s, a, lf.id, name="o2strange", workflow=O2_WORKFLOW, tag_id=old.id)
        mult = wagons.create_wagon(s, a, lf.id, name="mult", workflow="multiplicity", tag_id=old.id)
        skim = wagons.create_wagon(s, a, lf.id, name="skim", workflow="skim-tracks", tag_id=old.id)
        charm = wagons.create_wagon(s, root, hf.id, name="charm", workflow="pid", tag_id=old.id)
        # an edit by the admin acting as alice (impersonation shows in the history)
        wagons.edit_wagon(
            s,
            Actor(alice, impersonator=admin),
            corr.id,
            expected_version=corr.version,
            base_config={"two-particle-correlations": {"nMixEvents": "9"}},
        )
        op = Actor(people[OPERATOR])
        rl = runlists.create_runlist(s, root, "LHC22_ud_pass4", [544013, 544028])
        ds = datasets.create_dataset(s, op, "LHC22_ud_pass4", collision_system="PbPb")
        prod = datasets.add_production(s, op, ds.id, "pass4", runlist_id=rl.id)
        datasets.import_file_list(
            s,
            op,
            prod.id,
            [
                f"/alice/data/2022/544013/AO2D_{i:03d}.root {40_000_000 + i} 12"
                for i in range(1, 40)
            ],
            roots=StorageRoots.parse(["/alice/data"]),
        )
        datasets.set_active(s, op, ds.id, True)
        ds2 = datasets.create_dataset(s, op, "LHC23_pp_pass4", collision_system="pp")
        datasets.add_production(s, op, ds2.id, "pass4", runlist_id=rl.id)
        datasets.set_active(s, op, ds2.id, True)
        for analysis in (lf, hf, svc):
            analyses.add_dataset(s, root, analysis.id, ds.id)
        analyses.add_dataset(s, root, lf.id, ds2.id)
        # udrho: a real, finished test
        enabling.enable_wagon(s, a, udrho.id, ds.id, policy=TagPolicy.LATEST)
        test = enabling.current_test(s, udrho.id, ds.id)
        folder = run_test_sample(
            outputs_root / "tests" / f"wagon-test-{test.id}" / "sample" / "attempt-1",
            realdata,
            udrho.id,
        )
        summary = json.loads((folder / "metrics_summary.json").read_text())
        output = (folder / "AnalysisResults.root").stat().st_size
        facts = SampleFacts(
            input_bytes=(realdata / "AO2D_ud_rho_run3.root").stat().st_size,
            output_bytes=float(output),
            log_bytes=float((folder / "stdout.log").stat().st_size),
        )
        size = datasets.catalogue_summary(s, ds.id)
        expected, warns = evaluate(
            summary, facts, DatasetSize(bytes=float(size.get("bytes", 1.6e9)), files=39)
        )
        test.output_dir = str(outputs_root / "tests" / f"wagon-test-{test.id}")
        enabling.finish_test(
            s,
            test.id,
            TestStatus.WARNING if warns else TestStatus.DONE,
            metrics={"expected": expected.to_json()},
            warnings=[w.to_json() for w in warns],
        )
        # strange: a failed test; spectra: queued (live status)
        enabling.enable_wagon(s, a, strange.id, ds.id, policy=TagPolicy.FIXED, tag_id=old.id)
        failed = enabling.current_test(s, strange.id, ds.id)
        enabling.finish_test(
            s, failed.id, TestStatus.FAILED, metrics={"error": "execution_error: ZeroDivisionError"}
        )
        enabling.enable_wagon(s, a, spectra.id, ds.id, policy=TagPolicy.LATEST)
        queued = enabling.current_test(s, spectra.id, ds.id)
        s.flush()
        out.ids.update(
            lf=lf.id,
            hf=hf.id,
            service=svc.id,
            tag_old=old.id,
            tag_new=newer.id,
            flow_pr=flow_pr.id,
            evsel=evsel.id,
            spectra=spectra.id,
            corr=corr.id,
            strange=strange.id,
            udrho=udrho.id,
            o2strange=o2.id,
            skim=skim.id,
            mult=mult.id,
            charm=charm.id,
            dataset=ds.id,
            dataset2=ds2.id,
            test_done=test.id,
            test_failed=failed.id,
            test_queued=queued.id,
        )
        assert s.get(WagonTest, test.id).status in (TestStatus.DONE, TestStatus.WARNING)
    engine.dispose()
    return out


__all__ = ["MEMBER", "OPERATOR", "PASSWORD", "READER", "Seeded", "seed_analyses"]


_TEMPLATE: dict[str, object] = {}


def seeded_copy(template_root: Path, tmp_root: Path, realdata: Path) -> tuple[str, Path, Seeded]:
    """A private copy of one seeded database (seeded once per test process: seeding takes
    seconds); returns (database URL, outputs root, ids). The outputs folder is shared."""
    if "db" not in _TEMPLATE:
        base = template_root
        outputs = base / "outputs"
        outputs.mkdir(parents=True)
        db = base / "template.db"
        _TEMPLATE.update(
            db=db, outputs=outputs, seeded=seed_analyses(f"sqlite:///{db}", outputs, realdata)
        )
    tmp_root.mkdir(parents=True, exist_ok=True)
    copy = tmp_root / "pages.db"
    shutil.copyfile(_TEMPLATE["db"], copy)
    return f"sqlite:///{copy}", _TEMPLATE["outputs"], _TEMPLATE["seeded"]
