"""The permission matrix as data: every API endpoint x every caller, with the expected answer
(SPEC §1). Used in-process (``tests/api/test_permissions.py``, every case x every caller) and
against a real server over HTTP (``tests/security/test_permission_matrix_served.py``).

Callers are one user per role (``ROLES``: none of them a member of the analysis concerned,
except the analyzer; the service expert is a member of the service analysis) plus role
holders who are members of it (``MEMBER_CALLERS``), so every analysis-scoped endpoint is
checked for a member and a non-member of each role. A caller in ``Case.allowed`` must get
``Case.ok``; anonymous callers get 401 ``not_authenticated``; any other caller gets
``Case.denied`` (403 ``permission_denied``, or 404 where the resource is personal).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tests.factories import (
    CALLER_USERNAMES,
    CALLERS,
    MEMBER_CALLERS,
    PASSWORD,
    ApiWorld,
    api_introspection,
    tag_artifact,
)

Value = Any | Callable[[ApiWorld, str], Any]

EVERYONE = frozenset(CALLERS)
LOGGED_IN = EVERYONE - {"anonymous"}
ADMIN = frozenset({"admin"})
# members of the analysis ``lf-spectra`` (world.ids["analysis"]), the analysis concerned by
# the analysis-scoped rows
MEMBERS = frozenset({"analyzer", *MEMBER_CALLERS})
MEMBER = MEMBERS | ADMIN
OPS = frozenset({"operator", "operator_member", "admin"})
DPG = frozenset({"dpg_expert", "dpg_expert_member", "admin"})
CONVENERS = frozenset({"pwg_convener", "pwg_convener_member"})  # of PWGLF, lf-spectra's PWG
SERVICE = frozenset({"service_expert", "admin"})


@dataclass(frozen=True)
class Case:
    method: str
    route: str
    allowed: frozenset[str]
    ok: int | None = 200  # None: any answer but 401/403/5xx (input-dependent outcome)
    path: dict[str, Value] = field(default_factory=dict)
    query: dict[str, Value] = field(default_factory=dict)
    body: Value = None
    files: Value = None
    denied: tuple[int, ...] = (403,)
    label: str = ""
    scope: str | None = None  # world.ids key of the analysis concerned (membership decides)
    revokes_caller: bool = False  # the call revokes the caller's credential: run it last

    def resolve(self, value: Value, world: ApiWorld, caller: str) -> Any:
        return value(world, caller) if callable(value) else value

    @property
    def name(self) -> str:
        return f"{self.method} {self.route}" + (f" [{self.label}]" if self.label else "")


def ids(key: str) -> Callable[[ApiWorld, str], int]:
    return lambda world, caller: world.ids[key]


A, W, D = ids("analysis"), ids("wagon"), ids("dataset")
METRICS = json.dumps(
    {
        "reader": {
            "cpuUsedAbsolute": [{"timestamp": 1000, "value": "5000"}],
            "proportionalSetSize": [{"timestamp": 1000, "value": "1000"}],
        }
    }
).encode()
TRAIN = ids("train")

CASES: list[Case] = [
    Case("GET", "/api/health", EVERYONE),
    Case("GET", "/api/metrics", EVERYONE),
    # auth
    Case(
        "POST",
        "/api/auth/login",
        EVERYONE,
        body=lambda w, r: {"username": CALLER_USERNAMES.get(r, "alice"), "password": PASSWORD},
    ),
    Case("POST", "/api/auth/logout", EVERYONE, ok=204),
    Case("GET", "/api/auth/session", LOGGED_IN),
    Case("POST", "/api/auth/impersonate", ADMIN, body={"username": "bob"}),
    Case("DELETE", "/api/auth/impersonate", LOGGED_IN),
    # users
    Case("GET", "/api/users/me", LOGGED_IN),
    Case("GET", "/api/users/me/tokens", LOGGED_IN),
    Case("GET", "/api/users/me/profile", LOGGED_IN),
    Case("POST", "/api/users/me/tokens", LOGGED_IN, ok=201, body={"name": "laptop"}),
    Case(
        "DELETE",
        "/api/users/me/tokens/{token_id}",
        LOGGED_IN,
        ok=204,
        path={"token_id": lambda w, r: w.token_ids.get(r, 1)},
        revokes_caller=True,
        label="revokes the caller's own token",
    ),
    Case("GET", "/api/users", ADMIN),
    Case(
        "POST",
        "/api/users",
        ADMIN,
        ok=201,
        body={"username": "newbie", "password": "long enough password"},
    ),
    Case("GET", "/api/users/{username}", LOGGED_IN, path={"username": "bob"}),
    Case(
        "PUT",
        "/api/users/{username}/roles",
        ADMIN,
        path={"username": "bob"},
        body={"roles": ["operator"]},
    ),
    # analyses
    Case("GET", "/api/analyses", LOGGED_IN),
    Case("POST", "/api/analyses", ADMIN, ok=201, body={"name": "new-ana", "pwg": "PWGCF"}),
    Case("GET", "/api/my-analyses", LOGGED_IN),
    Case("GET", "/api/analyses/{analysis_id}", LOGGED_IN, path={"analysis_id": A}),
    Case(
        "POST",
        "/api/analyses/{analysis_id}/members",
        ADMIN,
        ok=201,
        path={"analysis_id": A},
        body={"username": "ursula"},
    ),
    Case(
        "DELETE",
        "/api/analyses/{analysis_id}/members/{user_id}",
        ADMIN,
        ok=204,
        path={"analysis_id": A, "user_id": ids("bob")},
    ),
    Case(
        "PUT",
        "/api/analyses/{analysis_id}/email-policy",
        MEMBER,
        scope="analysis",
        path={"analysis_id": A},
        body={"policy": "enabler"},
    ),
    Case(
        "PUT",
        "/api/analyses/{analysis_id}/display",
        MEMBERS,
        scope="analysis",
        path={"analysis_id": A},
        body={"order": 3, "collapsed": True},
        denied=(404,),
        label="own display settings: only members have them",
    ),
    Case(
        "POST",
        "/api/analyses/{analysis_id}/datasets",
        MEMBER,
        scope="analysis",
        ok=201,
        path={"analysis_id": A},
        body=lambda w, r: {"dataset_id": w.ids["spare_dataset"]},
    ),
    Case(
        "DELETE",
        "/api/analyses/{analysis_id}/datasets/{dataset_id}",
        MEMBER,
        scope="analysis",
        ok=204,
        path={"analysis_id": A, "dataset_id": D},
    ),
    # tags
    Case("GET", "/api/tags", LOGGED_IN),
    Case(
        "POST",
        "/api/tags",
        ADMIN,
        ok=201,
        body=lambda w, r: {
            "introspection": api_introspection("v2"),
            "artifact": tag_artifact("v2"),
        },
    ),
    Case("GET", "/api/tags/{tag_id}", LOGGED_IN, path={"tag_id": ids("tag")}),
    # pull requests
    Case("GET", "/api/pull-requests", LOGGED_IN),
    Case(
        "POST",
        "/api/pull-requests",
        ADMIN,
        body=lambda w, r: {
            "number": 78,
            "title": "Another change",
            "state": "merged",
            "introspection": api_introspection("v1"),
        },
    ),
    Case(
        "GET",
        "/api/pull-requests/{pr_id}",
        LOGGED_IN,
        path={"pr_id": ids("pull_request")},
    ),
    Case(
        "GET",
        "/api/tags/{tag_id}/workflows/{workflow}",
        LOGGED_IN,
        path={"tag_id": ids("tag"), "workflow": "spectra"},
    ),
    # wagons
    Case("GET", "/api/wagons", LOGGED_IN, query={"analysis_id": A}),
    Case(
        "POST",
        "/api/wagons",
        MEMBER,
        scope="analysis",
        ok=201,
        body=lambda w, r: {"analysis_id": w.ids["analysis"], "name": "new1", "workflow": "spectra"},
    ),
    Case("GET", "/api/wagons/{wagon_id}", LOGGED_IN, path={"wagon_id": W}),
    Case(
        "PATCH",
        "/api/wagons/{wagon_id}",
        MEMBER,
        scope="analysis",
        path={"wagon_id": W},
        body={"expected_version": 1, "base_config": {"spectra-task": {"cutZ": "7"}}},
    ),
    Case(
        "PATCH",
        "/api/wagons/{wagon_id}",
        SERVICE,
        scope="service_analysis",
        path={"wagon_id": ids("service_wagon")},
        body={"expected_version": 1, "base_config": {"event-selection-task": {"zMax": "7"}}},
        label="service wagons belong to the service analysis experts",
    ),
    Case(
        "DELETE",
        "/api/wagons/{wagon_id}",
        MEMBER,
        scope="analysis",
        ok=204,
        path={"wagon_id": ids("spare_wagon")},
    ),
    Case(
        "POST",
        "/api/wagons/{wagon_id}/clone",
        MEMBER,
        scope="analysis",
        ok=201,
        path={"wagon_id": W},
        body=lambda w, r: {"analysis_id": w.ids["analysis"], "name": "copy1"},
    ),
    Case(
        "POST",
        "/api/wagons/{wagon_id}/clone",
        SERVICE,
        scope="service_analysis",
        ok=201,
        path={"wagon_id": W},
        body=lambda w, r: {"analysis_id": w.ids["service_analysis"], "name": "copy2"},
        label="any user may clone a wagon into an analysis they belong to",
    ),
    Case(
        "POST",
        "/api/wagons/{wagon_id}/sync",
        MEMBER,
        scope="analysis",
        path={"wagon_id": W},
        body={},
    ),
    Case(
        "PUT",
        "/api/wagons/{wagon_id}/subwagons/{subwagon}",
        MEMBER,
        scope="analysis",
        path={"wagon_id": W, "subwagon": "loose"},
        body={"expected_version": 1, "overrides": {"spectra-task": {"cutZ": "12"}}},
    ),
    Case(
        "DELETE",
        "/api/wagons/{wagon_id}/subwagons/{subwagon}",
        MEMBER,
        scope="analysis",
        path={"wagon_id": W, "subwagon": "tight"},
        query={"expected_version": 1},
    ),
    Case(
        "POST",
        "/api/wagons/{wagon_id}/parameters",
        MEMBER,
        scope="analysis",
        path={"wagon_id": W},
        body={"expected_version": 1, "task": "spectra-task", "name": "extraCut", "value": 2},
    ),
    Case(
        "DELETE",
        "/api/wagons/{wagon_id}/parameters/{task}/{name}",
        MEMBER,
        scope="analysis",
        ok=None,  # 404: the wagon has no such added parameter
        path={"wagon_id": W, "task": "spectra-task", "name": "extraCut"},
        query={"expected_version": 1},
    ),
    Case(
        "PUT",
        "/api/wagons/{wagon_id}/dependencies",
        MEMBER,
        scope="analysis",
        path={"wagon_id": W},
        body={"expected_version": 1, "dependencies": []},
    ),
    Case("GET", "/api/wagons/{wagon_id}/configuration", LOGGED_IN, path={"wagon_id": W}),
    Case(
        "POST",
        "/api/wagons/{wagon_id}/configuration/preview",
        MEMBER,
        scope="analysis",
        path={"wagon_id": W},
        body={"configuration": {"spectra-task": {"cutZ": "6"}}},
    ),
    Case(
        "PUT",
        "/api/wagons/{wagon_id}/configuration",
        MEMBER,
        scope="analysis",
        path={"wagon_id": W},
        body={"expected_version": 1, "configuration": {"spectra-task": {"cutZ": "6"}}},
    ),
    Case(
        "GET",
        "/api/wagons/{wagon_id}/compare",
        LOGGED_IN,
        path={"wagon_id": W},
        query={"other_id": ids("spare_wagon")},
    ),
    Case("GET", "/api/wagons/{wagon_id}/history", LOGGED_IN, path={"wagon_id": W}),
    Case("GET", "/api/wagons/{wagon_id}/tests", LOGGED_IN, path={"wagon_id": W}),
    Case("GET", "/api/wagons/{wagon_id}/view", LOGGED_IN, path={"wagon_id": W}),
    Case("GET", "/api/analyses/{analysis_id}/view", LOGGED_IN, path={"analysis_id": A}),
    Case("GET", "/api/wagons/{wagon_id}/history-view", LOGGED_IN, path={"wagon_id": W}),
    Case("GET", "/api/wagons/{wagon_id}/test-statistics", LOGGED_IN, path={"wagon_id": W}),
    Case(
        "GET",
        "/api/wagons/{wagon_id}/tests/{test_id}",
        LOGGED_IN,
        path={"wagon_id": W, "test_id": 1},
        label="the world's first wagon test is spectra_pp's",
    ),
    Case(
        "GET",
        "/api/wagons/{wagon_id}/tests/{test_id}/full-config",
        LOGGED_IN,
        ok=None,
        path={"wagon_id": W, "test_id": 1},
        label="404 until the test has run",
    ),
    # enabling
    Case("GET", "/api/wagons/{wagon_id}/datasets", LOGGED_IN, path={"wagon_id": W}),
    Case(
        "PUT",
        "/api/wagons/{wagon_id}/datasets/{dataset_id}",
        MEMBER,
        scope="analysis",
        path={"wagon_id": ids("spare_wagon"), "dataset_id": ids("short_dataset")},
        body={"policy": "latest"},
    ),
    Case(
        "DELETE",
        "/api/wagons/{wagon_id}/datasets/{dataset_id}",
        MEMBER,
        scope="analysis",
        ok=204,
        path={"wagon_id": ids("spare_wagon"), "dataset_id": D},
    ),
    Case(
        "PUT",
        "/api/wagons/{wagon_id}/datasets/{dataset_id}/schedule",
        OPS,
        path={"wagon_id": ids("skim_wagon"), "dataset_id": D},
        body={"scheduled": True},
    ),
    # datasets
    Case("GET", "/api/datasets", LOGGED_IN),
    Case("GET", "/api/datasets/derived-data", LOGGED_IN),
    # an analysis train: operators pass the permission check, then 409 (not derived data)
    Case(
        "DELETE",
        "/api/datasets/derived-data/{train_run_id}",
        OPS,
        ok=409,
        path={"train_run_id": TRAIN},
    ),
    Case("GET", "/api/datasets/staging-transfers", LOGGED_IN),
    Case("GET", "/api/datasets/{dataset_id}/overview", LOGGED_IN, path={"dataset_id": D}),
    Case("GET", "/api/datasets/{dataset_id}/catalogue-summary", LOGGED_IN, path={"dataset_id": D}),
    Case("POST", "/api/datasets", OPS, ok=201, body={"name": "LHC24new"}),
    Case("GET", "/api/datasets/{dataset_id}", LOGGED_IN, path={"dataset_id": D}),
    Case(
        "PATCH",
        "/api/datasets/{dataset_id}",
        OPS,
        path={"dataset_id": ids("spare_dataset")},
        body={"expected_version": 1, "slots_per_week": 8, "auto_compose_times": ["08:00"]},
    ),
    Case(
        "DELETE",
        "/api/datasets/{dataset_id}",
        OPS,
        ok=204,
        path={"dataset_id": ids("spare_dataset")},
    ),
    Case(
        "PUT",
        "/api/datasets/{dataset_id}/active",
        OPS,
        path={"dataset_id": ids("spare_dataset")},
        body={"active": True},
    ),
    Case(
        "POST",
        "/api/datasets/{dataset_id}/productions",
        OPS,
        ok=201,
        path={"dataset_id": D},
        body=lambda w, r: {"name": "pass5", "kind": "runlist", "runlist_id": w.ids["runlist"]},
    ),
    Case(
        "DELETE",
        "/api/datasets/{dataset_id}/productions/{production_id}",
        OPS,
        ok=204,
        path={"dataset_id": D, "production_id": ids("production")},
    ),
    Case(
        "PUT",
        "/api/datasets/{dataset_id}/productions/{production_id}/excluded-runs",
        OPS,
        path={"dataset_id": D, "production_id": ids("production")},
        body={"runs": [544028]},
    ),
    Case(
        "POST",
        "/api/datasets/{dataset_id}/productions/{production_id}/files",
        OPS,
        path={"dataset_id": D, "production_id": ids("production")},
        body={"lines": ["/data/544013/AO2D_001.root 1000"]},
    ),
    Case(
        "POST",
        "/api/datasets/{dataset_id}/productions/{production_id}/files/from-storage",
        OPS,
        ok=None,  # 422 here: /data does not exist on the test machine
        path={"dataset_id": D, "production_id": ids("production")},
        body={"base": "/data/LHC23zzh"},
    ),
    Case("GET", "/api/datasets/{dataset_id}/files", LOGGED_IN, path={"dataset_id": D}),
    Case(
        "POST",
        "/api/datasets/{dataset_id}/mergelists",
        OPS,
        ok=201,
        path={"dataset_id": D},
        body={"name": "first", "runs": [544013]},
    ),
    Case(
        "POST",
        "/api/datasets/{dataset_id}/final-mergelists",
        OPS,
        ok=201,
        path={"dataset_id": D},
        body={"name": "final", "mergelists": ["all"]},
    ),
    Case(
        "POST",
        "/api/datasets/{dataset_id}/short-datasets",
        OPS,
        ok=201,
        path={"dataset_id": D},
        body={"name": "LHC23zzh_short"},
    ),
    Case("GET", "/api/datasets/{dataset_id}/staging", LOGGED_IN, path={"dataset_id": D}),
    Case(
        "POST",
        "/api/datasets/{dataset_id}/staging",
        OPS,
        ok=201,
        path={"dataset_id": D},
        body={"target": "af-gsi", "action": "stage"},
    ),
    Case(
        "POST",
        "/api/datasets/staging-transfers/{transfer_id}/confirm",
        OPS,
        ok=None,  # 404 / 409 unless a transfer awaits confirmation
        path={"transfer_id": 1},
    ),
    Case("GET", "/api/datasets/{dataset_id}/history", LOGGED_IN, path={"dataset_id": D}),
    # runlists
    Case("GET", "/api/runlists", LOGGED_IN),
    Case("POST", "/api/runlists", DPG, ok=201, body={"name": "LHC24a", "runs": [1, 2]}),
    Case("GET", "/api/runlists/{runlist_id}", LOGGED_IN, path={"runlist_id": ids("runlist")}),
    Case(
        "GET",
        "/api/runlists/{runlist_id}/overview",
        LOGGED_IN,
        path={"runlist_id": ids("runlist")},
    ),
    Case(
        "PATCH",
        "/api/runlists/{runlist_id}",
        DPG,
        path={"runlist_id": ids("runlist")},
        body={"expected_version": 1, "runs": [544013]},
    ),
    Case(
        "DELETE",
        "/api/runlists/{runlist_id}",
        DPG,
        ok=204,
        path={"runlist_id": ids("spare_runlist")},
    ),
    Case(
        "GET", "/api/runlists/{runlist_id}/history", LOGGED_IN, path={"runlist_id": ids("runlist")}
    ),
    # targets
    Case("GET", "/api/targets", LOGGED_IN),
    Case(
        "POST",
        "/api/targets",
        ADMIN,
        ok=201,
        body={"name": "grid-8core", "cores": 8, "memory_limit_mb": 32000},
    ),
    Case("GET", "/api/targets/{target_id}", LOGGED_IN, path={"target_id": ids("target")}),
    # train runs
    Case("GET", "/api/train-runs", LOGGED_IN, query={"state": "test_done"}),
    Case(
        "POST",
        "/api/train-runs",
        OPS,
        ok=201,
        body=lambda w, r: {
            "dataset_id": w.ids["dataset"],
            "wagon_ids": [w.ids["spare_wagon"]],
            "target_id": w.ids["target"],
        },
    ),
    Case(
        "POST",
        "/api/train-runs/compatibility",
        LOGGED_IN,
        body=lambda w, r: {"dataset_id": w.ids["dataset"], "wagon_ids": [w.ids["spare_wagon"]]},
    ),
    Case("GET", "/api/train-runs/{train_id}", LOGGED_IN, path={"train_id": TRAIN}),
    Case(  # the seeded train has no merged result: 404 to those who may read it
        "GET", "/api/train-runs/{train_id}/result", LOGGED_IN, ok=404, path={"train_id": TRAIN}
    ),
    Case(
        "GET",
        "/api/train-runs/{train_id}/compare",
        LOGGED_IN,
        path={"train_id": TRAIN},
        query={"other_id": ids("short_train")},
    ),
    Case("POST", "/api/train-runs/{train_id}/decompose", OPS, path={"train_id": TRAIN}),
    Case("POST", "/api/train-runs/{train_id}/submit", OPS, path={"train_id": TRAIN}),
    Case("POST", "/api/train-runs/{train_id}/kill", OPS, path={"train_id": ids("kill_train")}),
    Case("POST", "/api/train-runs/{train_id}/close", OPS, path={"train_id": TRAIN}),
    # a submitted train without jobs: operators pass the permission check, then 409 (state)
    Case(
        "POST",
        "/api/train-runs/{train_id}/final-merge",
        OPS,
        ok=409,
        path={"train_id": ids("kill_train")},
    ),
    Case(
        "POST", "/api/train-runs/{train_id}/clone", OPS, ok=201, path={"train_id": TRAIN}, body={}
    ),
    # a train that is not done: operators pass the permission check, then 409 (naming it)
    Case(
        "POST",
        "/api/train-runs/{train_id}/increment",
        OPS,
        ok=409,
        path={"train_id": ids("kill_train")},
    ),
    Case(
        "POST",
        "/api/train-runs/{train_id}/long-train",
        MEMBER,
        scope="analysis",
        ok=201,
        path={"train_id": ids("short_train")},
    ),
    Case(
        "POST",
        "/api/train-runs/{train_id}/approve",
        CONVENERS | OPS,
        path={"train_id": ids("long_train")},
    ),
    Case("GET", "/api/train-runs/{train_id}/policy", LOGGED_IN, path={"train_id": TRAIN}),
    # the seeded train needs no approval: approvers pass the permission check, then 409
    Case(
        "POST",
        "/api/train-runs/{train_id}/policy-approval",
        CONVENERS,
        ok=409,
        path={"train_id": TRAIN},
        body={},
    ),
    Case("GET", "/api/train-runs/with-issues", LOGGED_IN),
    Case("GET", "/api/train-runs/{train_id}/error-groups", LOGGED_IN, path={"train_id": TRAIN}),
    Case("POST", "/api/train-runs/{train_id}/resubmit", OPS, path={"train_id": ids("kill_train")}),
    Case("GET", "/api/train-runs/{train_id}/comments", LOGGED_IN, path={"train_id": TRAIN}),
    Case(
        "POST",
        "/api/train-runs/{train_id}/comments",
        MEMBER,
        scope="analysis",
        ok=201,
        path={"train_id": TRAIN},
        body={"text": "looks good"},
    ),
    Case("GET", "/api/train-runs/{train_id}/history", LOGGED_IN, path={"train_id": TRAIN}),
    # jobs
    # train views shared with the pages (helper F)
    Case("GET", "/api/train-runs/dashboard", LOGGED_IN, query={"interval": "month"}),
    Case("GET", "/api/train-runs/submission", LOGGED_IN, query={"dataset_id": D}),
    *(
        Case("GET", f"/api/train-runs/{{train_id}}/{view}", LOGGED_IN, path={"train_id": TRAIN})
        for view in ("overview", "status", "master-jobs", "merging", "outputs", "partial", "test")
    ),
    Case("GET", "/api/train-runs/{train_id}/full-config", LOGGED_IN, path={"train_id": TRAIN}),
    Case(
        "GET",
        "/api/train-runs/{train_id}/compare-outputs",
        LOGGED_IN,
        path={"train_id": TRAIN},
        query={"other_id": ids("short_train")},
    ),
    Case("GET", "/api/jobs/{job_id}/attempts", LOGGED_IN, path={"job_id": ids("job")}),
    Case("GET", "/api/jobs", LOGGED_IN, query={"train_run_id": TRAIN}),
    Case("GET", "/api/jobs/{job_id}", LOGGED_IN, path={"job_id": ids("job")}),
    # reproduce a test or job locally (helper D)
    Case("GET", "/api/jobs/{job_id}/reproduce", LOGGED_IN, path={"job_id": ids("job")}),
    Case("GET", "/api/wagon-tests/{test_id}/reproduce", LOGGED_IN, path={"test_id": 1}),
    Case("GET", "/api/train-tests/{train_id}/reproduce", LOGGED_IN, path={"train_id": TRAIN}),
    # stories: every state change with its cause, readable like the object's page
    Case("GET", "/api/jobs/{job_id}/story", LOGGED_IN, path={"job_id": ids("job")}),
    Case("GET", "/api/wagon-tests/{test_id}/story", LOGGED_IN, path={"test_id": 1}),
    Case("GET", "/api/train-runs/{train_id}/story", LOGGED_IN, path={"train_id": TRAIN}),
    Case("GET", "/api/train-tests/{train_id}/story", LOGGED_IN, path={"train_id": TRAIN}),
    # why am I waiting, like the story; what sharing saved; overlaps (issue 21)
    Case("GET", "/api/jobs/{job_id}/why", LOGGED_IN, path={"job_id": ids("job")}),
    Case("GET", "/api/wagon-tests/{test_id}/why", LOGGED_IN, path={"test_id": 1}),
    Case("GET", "/api/train-runs/{train_id}/why", LOGGED_IN, path={"train_id": TRAIN}),
    Case("GET", "/api/train-runs/{train_id}/sharing", LOGGED_IN, path={"train_id": TRAIN}),
    Case(
        "GET",
        "/api/wagons/{wagon_id}/datasets/{dataset_id}/overlaps",
        LOGGED_IN,
        path={"wagon_id": W, "dataset_id": D},
    ),
    Case("GET", "/api/dataset-files/content", LOGGED_IN, ok=404, query={"path": "/no/AO2D.root"}),
    # notifications
    Case("GET", "/api/notifications", LOGGED_IN),
    Case("GET", "/api/notifications/count", LOGGED_IN),
    Case(
        "POST",
        "/api/notifications/{notification_id}/dismiss",
        LOGGED_IN,
        path={"notification_id": lambda w, r: w.notification_ids.get(r, 1)},
    ),
    Case("POST", "/api/notifications/dismiss-all", LOGGED_IN),
    # e-mails (each user's own; admins every one) and guided tours (per user)
    Case("GET", "/api/emails", LOGGED_IN),
    Case("GET", "/api/tours/{page}", LOGGED_IN, path={"page": "my-analyses"}),
    Case("POST", "/api/tours/{page}/dismiss", LOGGED_IN, path={"page": "dashboard"}),
    Case("POST", "/api/tours/restore", LOGGED_IN),
    # slots
    Case("GET", "/api/slots", LOGGED_IN, query={"analysis_id": A, "dataset_id": D}),
    # output browsing and performance graphs (pages helper; SPEC §1: only health is anonymous)
    Case("GET", "/api/outputs/browse", LOGGED_IN, query={"path": ""}),
    Case(
        "GET",
        "/api/outputs/projection",
        LOGGED_IN,
        ok=None,
        query={"path": "missing.root", "hist": "h", "axes": "0"},
    ),
    Case(
        "POST",
        "/api/performance-graphs",
        LOGGED_IN,
        files={"file": ("performanceMetrics.json", METRICS, "application/json")},
    ),
]


def request_args(case: Case, caller: str, world: ApiWorld) -> dict[str, Any]:
    """``method``, ``url`` and keyword arguments of the call, for TestClient and httpx."""
    path = case.route.format(**{k: case.resolve(v, world, caller) for k, v in case.path.items()})
    args: dict[str, Any] = {
        "method": case.method,
        "url": path,
        "params": {k: case.resolve(v, world, caller) for k, v in case.query.items()},
    }
    if case.body is not None:
        args["json"] = case.resolve(case.body, world, caller)
    if case.files is not None:
        args["files"] = case.resolve(case.files, world, caller)
    return args


def credentials(world: ApiWorld, caller: str) -> dict[str, str]:
    """The headers a caller sends (its API token; nothing for anonymous)."""
    return {} if caller == "anonymous" else {"Authorization": f"Bearer {world.tokens[caller]}"}


def problem(case: Case, caller: str, status: int, body: Any) -> str | None:
    """What is wrong with the answer ``status``/``body`` to ``caller`` (None: as expected)."""
    error = body.get("error") if isinstance(body, dict) else None
    if caller in case.allowed:
        if case.ok is None:
            if status in (401, 403) or status >= 500:
                return f"expected any answer but 401/403/5xx, got {status}"
        elif status != case.ok:
            return f"expected {case.ok}, got {status}"
        return None
    if caller == "anonymous":
        if status != 401 or error != "not_authenticated":
            return f"expected 401 not_authenticated, got {status} {error}"
        return None
    if status not in case.denied or error not in ("permission_denied", "not_found"):
        return f"expected {'/'.join(map(str, case.denied))} refusal, got {status} {error}"
    return None


def routes_of(openapi: dict[str, Any]) -> set[tuple[str, str]]:
    """(METHOD, path) of every operation of an OpenAPI document."""
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return {
        (method.upper(), path)
        for path, item in openapi["paths"].items()
        for method in item
        if method in methods
    }


def coverage_problems(openapi: dict[str, Any], cases: Iterable[Case] = CASES) -> list[str]:
    """Endpoints of the document without a matrix entry, and entries without an endpoint."""
    documented = routes_of(openapi)
    covered = {(c.method, c.route) for c in cases}
    return [
        *(
            f"{m} {p}: endpoint without a permission-matrix entry"
            for m, p in sorted(documented - covered)
        ),
        *(f"{m} {p}: matrix entry for no endpoint" for m, p in sorted(covered - documented)),
    ]


# The served slice: per case the least privileged allowed caller, and every denied caller.
_LEAST_PRIVILEGED_FIRST = (
    "anonymous",
    "user",
    "analyzer",
    "service_expert",
    "dpg_expert",
    "pwg_convener",
    "operator",
    "dpg_expert_member",
    "pwg_convener_member",
    "operator_member",
    "admin",
)
assert set(_LEAST_PRIVILEGED_FIRST) == set(CALLERS)


def allowed_caller(case: Case) -> str:
    return next(c for c in _LEAST_PRIVILEGED_FIRST if c in case.allowed)


def denied_callers(case: Case) -> list[str]:
    return [c for c in _LEAST_PRIVILEGED_FIRST if c not in case.allowed]
