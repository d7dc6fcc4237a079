"""Pull requests of a package's repository: registered (number, title, open or merged) with
the introspection of their source, so that a wagon can be created and configured on a
workflow that exists only in a pull request. Its tests wait for a released tag listing the
pull request (the future-tag policy), then run with that tag.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core.actor import Actor
from hyperloop.core.errors import NotFound, ValidationError
from hyperloop.core.permissions import Action, require
from hyperloop.core.tag_lookup import first_tag_with_pr
from hyperloop.core.tags import _check_introspection
from hyperloop.db.base import utcnow
from hyperloop.db.models import PackageTag, PullRequest

STATES = ("open", "merged")


def register_pull_request(
    s: Session,
    actor: Actor | None,
    *,
    number: int,
    title: str,
    state: str,
    introspection: dict[str, Any],
) -> PullRequest:
    """Store (or update, after new commits or a merge) a pull request of the package the
    introspection describes, built from the pull request's source."""
    if actor is not None:
        require(actor, Action.TAG_REGISTER)
    _check_introspection(introspection)
    if state not in STATES:
        raise ValidationError(f"pull request state {state!r}: choose one of {', '.join(STATES)}")
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise ValidationError(f"pull request number {number!r}: a positive whole number")
    title = (title or "").strip()
    if not title:
        raise ValidationError(f"pull request #{number} needs a title")
    package = introspection["package"]["name"]
    pr = s.scalars(
        select(PullRequest).where(PullRequest.package == package, PullRequest.number == number)
    ).first()
    if pr is None:
        pr = PullRequest(package=package, number=number)
        s.add(pr)
    pr.title, pr.state, pr.introspection = title, state, introspection
    pr.updated_at = utcnow()
    s.flush()
    return pr


def get_pull_request(s: Session, pr_id: int) -> PullRequest:
    pr = s.get(PullRequest, pr_id)
    if pr is None:
        raise NotFound(f"pull request {pr_id} not found", {"pull_request_id": pr_id})
    return pr


def list_pull_requests(
    s: Session, *, package: str | None = None, state: str | None = None
) -> list[PullRequest]:
    """Registered pull requests, newest number first."""
    stmt = select(PullRequest).order_by(PullRequest.number.desc(), PullRequest.id.desc())
    if package:
        stmt = stmt.where(PullRequest.package == package)
    if state:
        stmt = stmt.where(PullRequest.state == state)
    return list(s.scalars(stmt))


def schema_source(pr: PullRequest) -> PackageTag:
    """A tag-shaped view of the pull request's introspection (never stored), for the
    configuration rules that read a tag's workflows."""
    return PackageTag(
        name=pr.package,
        version=f"PR #{pr.number}",
        artifact="",
        introspection=pr.introspection,
        pull_requests=[str(pr.number)],
    )


def released_in(s: Session, pr: PullRequest) -> PackageTag | None:
    """The first released tag that lists the pull request (None: not released yet)."""
    return first_tag_with_pr(s, str(pr.number))


def pull_request_row(s: Session, pr: PullRequest) -> dict[str, Any]:
    """What the API and pages show of a pull request."""
    tag = released_in(s, pr)
    return {
        "id": pr.id,
        "package": pr.package,
        "number": pr.number,
        "title": pr.title,
        "state": pr.state,
        "label": pr.label,
        "workflows": [wf["name"] for wf in pr.introspection.get("workflows", [])],
        "workflow_docs": {
            wf["name"]: (wf.get("doc") or "").strip()
            for wf in pr.introspection.get("workflows", [])
        },
        "released_in": tag.label if tag else None,
        "registered_at": pr.registered_at.isoformat() if pr.registered_at else None,
        "updated_at": pr.updated_at.isoformat() if pr.updated_at else None,
    }
