"""Wagon read models shared by the wagon pages and their JSON twins: the upload preview,
the comparison with another wagon or an earlier state, and a wagon test's result (the
wagon editor and history data are in :mod:`hyperloop.readmodels.analyses`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from hyperloop.core import history, permissions, wagon_json, wagons
from hyperloop.core.actor import Actor
from hyperloop.core.errors import NotFound, ValidationError
from hyperloop.core.permissions import Action
from hyperloop.db import models as m
from hyperloop.readmodels.analyses import performance_metrics_file, wagon_test_data
from hyperloop.readmodels.performance import PerformanceMetricsError, performance_graphs_data
from hyperloop.readmodels.trains import file_roots


class ChangeOut(BaseModel):
    path: str
    old: Any = None
    new: Any = None


class ValueRowOut(BaseModel):
    scope: str = Field(description="`base` or the subwagon name.")
    task: str
    parameter: str
    current: Any = None
    uploaded: Any = None
    status: str = Field(description="unchanged | changed | invalid | unknown")


class UploadPreviewOut(BaseModel):
    """Per-value overview, full diff and problems of an upload; nothing is saved yet."""

    ok: bool = Field(description="True when the upload can be saved as it is.")
    overview: list[ValueRowOut]
    diff: list[ChangeOut]
    errors: list[str]
    problems: list[dict[str, Any]] = Field(description="Errors naming scope, task, parameter.")
    ignored: list[str] = Field(description="Framework devices and other ignored entries.")


class CompareOut(BaseModel):
    left: str
    right: str
    changes: list[ChangeOut]


def changes_out(changes: list[Any]) -> list[ChangeOut]:
    return [ChangeOut(path=c.path, old=c.old, new=c.new) for c in changes]


def upload_preview_data(db: Session, wagon: m.Wagon, configuration: Any) -> UploadPreviewOut:
    """What saving an uploaded O2 JSON would change (the upload page and ``POST
    /api/wagons/{id}/configuration/preview``); nothing is saved."""
    return UploadPreviewOut.model_validate(
        wagon_json.preview_upload(db, wagon, configuration).as_dict()
    )


def compare_data(
    db,
    actor: Actor,
    wagon: m.Wagon,
    *,
    other_id: int | None = None,
    at: datetime | None = None,
    until: datetime | None = None,
    version: int | None = None,
) -> CompareOut:
    """Differences with another wagon (``other_id``), or with this wagon at an earlier time
    (``at``, compared with ``until`` or now) or an earlier ``version`` (compared with now)."""
    given = sum(x is not None for x in (other_id, at, version))
    if given != 1:
        raise ValidationError(
            "give exactly one of other_id (another wagon), at (a time) or version"
        )
    if other_id is not None:
        other = db.get(m.Wagon, other_id)
        if other is None:
            raise NotFound(f"wagon {other_id} does not exist", {"id": other_id})
        permissions.require(actor, Action.READ, other)
        left, right = wagons.wagon_state(wagon), wagons.wagon_state(other)
        labels = (f"wagon {wagon.id}", f"wagon {other.id}")
    elif version is not None:
        left = history.state_at_version(db, "wagon", wagon.id, version)
        right = wagons.wagon_state(wagon)
        labels = (f"wagon {wagon.id} version {version}", f"wagon {wagon.id} now")
    else:
        left = wagons.wagon_at(db, wagon.id, at)
        right = wagons.wagon_at(db, wagon.id, until) if until else wagons.wagon_state(wagon)
        labels = (f"wagon {wagon.id} at {at.isoformat()}", f"wagon {wagon.id} at {until or 'now'}")
    return CompareOut(
        left=labels[0], right=labels[1], changes=changes_out(wagons.compare_states(left, right))
    )


def wagon_test_result(
    db, test: m.WagonTest, settings: Any, *, graphs: bool = False
) -> dict[str, Any]:
    """A wagon test result (``analyses.wagon_test_data``; the test page and ``GET
    /api/wagons/{id}/tests/{test_id}``) and, with ``graphs``, the time series of its
    performanceMetrics.json."""
    data = wagon_test_data(db, test, file_roots(settings).root)
    data["graphs"] = None
    if graphs:
        path = performance_metrics_file(test)
        if path is not None:
            try:
                data["graphs"] = performance_graphs_data(path.read_bytes())
            except PerformanceMetricsError:
                data["graphs"] = None
    return data
