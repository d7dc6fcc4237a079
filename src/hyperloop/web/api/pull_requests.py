"""Pull requests of a package: register one with the introspection of its built source
(admins, like tags), list open and merged ones with their titles and workflows."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from hyperloop.core import pull_requests as prs
from hyperloop.core.permissions import Action
from hyperloop.web.deps import DB, CurrentActor, require_action

router = APIRouter(prefix="/pull-requests", tags=["pull-requests"])


class PullRequestIn(BaseModel):
    number: int = Field(ge=1, le=2**31 - 1, description="The pull request's number.")
    title: str = Field(min_length=1, max_length=500)
    state: Literal["open", "merged"]
    introspection: dict[str, Any] = Field(
        description="`hyperloop workflows --package DIR --json` of the pull request's source "
        "built with `hyperloop package build` (or `hyperloop package pull-request`)."
    )


class PullRequestOut(BaseModel):
    id: int
    package: str
    number: int
    title: str
    state: str
    label: str
    workflows: list[str]
    workflow_docs: dict[str, str]
    released_in: str | None = Field(description="The first released tag listing it (or null).")
    registered_at: str | None
    updated_at: str | None


@router.get("", response_model=list[PullRequestOut], summary="Open and merged pull requests")
def list_pull_requests(
    actor: CurrentActor,
    db: DB,
    package: Annotated[str | None, Query(max_length=128)] = None,
    state: Literal["open", "merged"] | None = None,
) -> list[dict[str, Any]]:
    require_action(actor, Action.READ)
    return [
        prs.pull_request_row(db, p)
        for p in prs.list_pull_requests(db, package=package, state=state)
    ]


@router.post(
    "",
    response_model=PullRequestOut,
    summary="Register or update a pull request with its built introspection (admins)",
)
def register_pull_request(body: PullRequestIn, actor: CurrentActor, db: DB) -> dict[str, Any]:
    pr = prs.register_pull_request(
        db,
        actor,
        number=body.number,
        title=body.title,
        state=body.state,
        introspection=body.introspection,
    )
    db.flush()
    return prs.pull_request_row(db, pr)


@router.get("/{pr_id}", response_model=PullRequestOut, summary="One pull request")
def get_pull_request(
    actor: CurrentActor, db: DB, pr_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> dict[str, Any]:
    require_action(actor, Action.READ)
    return prs.pull_request_row(db, prs.get_pull_request(db, pr_id))
