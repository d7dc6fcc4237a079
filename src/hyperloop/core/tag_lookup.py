"""Looking tags up: by id, the newest available, the first containing a pull request
(used by enabling, which core.tags imports to relaunch tests after a new tag)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hyperloop.core.errors import NotFound
from hyperloop.db.models import PackageTag, Wagon


def get_tag(s: Session, tag_id: int) -> PackageTag:
    tag = s.get(PackageTag, tag_id)
    if tag is None:
        raise NotFound(f"package tag {tag_id} not found")
    return tag


def latest_tag(s: Session, package: str | None = None) -> PackageTag | None:
    """The most recently released available tag (of ``package`` if given)."""
    stmt = select(PackageTag).where(PackageTag.available)
    if package:
        stmt = stmt.where(PackageTag.name == package)
    return s.scalars(stmt.order_by(PackageTag.released_at.desc(), PackageTag.id.desc())).first()


def first_tag_with_pr(
    s: Session, pull_request: str, package: str | None = None
) -> PackageTag | None:
    """The earliest available tag containing a pull request (for the "future tag" policy)."""
    stmt = select(PackageTag).where(PackageTag.available)
    if package:
        stmt = stmt.where(PackageTag.name == package)
    for tag in s.scalars(stmt.order_by(PackageTag.released_at, PackageTag.id)):
        if str(pull_request) in (tag.pull_requests or []):
            return tag
    return None


def wagon_package(s: Session, wagon: Wagon) -> str | None:
    """The package a wagon's workflow comes from: the name of the tag it was created or
    synced with (None: no tag). "Latest" and pull-request policies look among that
    package's tags only, so another package's tag never replaces it."""
    if wagon.tag_id is None:
        return None
    tag = s.get(PackageTag, wagon.tag_id)
    return tag.name if tag is not None else None
