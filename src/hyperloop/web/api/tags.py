"""Package tags: register a released tag from its workflow introspection, list, inspect."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import select

from hyperloop.core import tags
from hyperloop.core.errors import NotFound
from hyperloop.db import models as m
from hyperloop.readmodels.paging import Page, paginate
from hyperloop.readmodels.schemas import ORMModel
from hyperloop.web.deps import DB, CurrentActor, TagForReader
from hyperloop.web.pagination import Paging

router = APIRouter(prefix="/tags", tags=["tags"])


class TagOut(ORMModel):
    id: int
    name: str = Field(description="Package name.")
    version: str = Field(description="The tag's name (e.g. daily-2026-11-29).")
    tag: str = Field(description="The tag's name (the same as version).")
    label: str = Field(description="Package and tag, as pages show it.")
    package_version: str = Field(description="The package version the tag was built from.")
    artifact: str
    digest: str | None = Field(description="sha256 of the artifact's files at registration.")
    pull_requests: list[str]
    available: bool
    released_at: datetime


class TagDetail(TagOut):
    workflows: list[str]


class TagIn(BaseModel):
    introspection: dict[str, Any] = Field(
        description="Output of `hyperloop workflows --package DIR --json` for this tag."
    )
    artifact: str = Field(
        min_length=1,
        max_length=4096,
        description="Absolute path of the tag's folder on the server (`hyperloop package "
        "build` output); it must hold the package the introspection describes.",
    )
    version: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="The tag's name. Default: the folder's tag.json, else the package version.",
    )
    pull_requests: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, description="Change requests contained in this tag."
    )
    released_at: AwareDatetime | None = None


def _workflow_names(tag: m.PackageTag) -> list[str]:
    return sorted(tags.workflow_names(tag))


def tag_detail(tag: m.PackageTag) -> TagDetail:
    return TagDetail(**TagOut.model_validate(tag).model_dump(), workflows=_workflow_names(tag))


@router.get("", response_model=Page[TagOut], summary="Package tags, newest first")
def list_tags(
    actor: CurrentActor,
    db: DB,
    paging: Paging,
    name: Annotated[str | None, Query(max_length=128, description="Package name.")] = None,
    available: bool | None = None,
):
    stmt = select(m.PackageTag).order_by(m.PackageTag.released_at.desc(), m.PackageTag.id.desc())
    if name:
        stmt = stmt.where(m.PackageTag.name == name)
    if available is not None:
        stmt = stmt.where(m.PackageTag.available.is_(available))
    return paginate(db, stmt, paging, TagOut.model_validate)


@router.post(
    "", response_model=TagDetail, status_code=201, summary="Register a released tag (admins)"
)
def register_tag(body: TagIn, actor: CurrentActor, db: DB) -> TagDetail:
    tag = tags.register_tag(
        db,
        actor,
        body.introspection,
        artifact=body.artifact,
        version=body.version,
        pull_requests=body.pull_requests,
        released_at=body.released_at,
        check=True,
    )
    db.flush()
    return tag_detail(tag)


@router.get("/{tag_id}", response_model=TagDetail, summary="One tag and its workflows")
def get_tag(tag: TagForReader) -> TagDetail:
    return tag_detail(tag)


@router.get(
    "/{tag_id}/workflows/{workflow}",
    response_model=dict[str, Any],
    summary="A workflow of the tag: tasks, configurables (type, default, help), tables",
)
def get_workflow(
    tag: TagForReader, workflow: Annotated[str, Path(min_length=1, max_length=128)]
) -> dict[str, Any]:
    info = tags.find_workflow(tag, workflow)
    if info is None:
        raise NotFound(f"tag {tag.label} has no workflow {workflow!r}")
    return {"name": info.name, "doc": info.doc, "tasks": list(info.tasks)}
