"""Analyses, membership, e-mail policy, per-user display preferences, datasets of an analysis."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hyperloop.core.actor import Actor
from hyperloop.core.common import flush_or_conflict, get_or_404
from hyperloop.core.errors import Conflict, ValidationError
from hyperloop.core.permissions import Action, require
from hyperloop.db.models import Analysis, AnalysisDataset, AnalysisMember, Dataset, User
from hyperloop.enums import EmailPolicy


def create_analysis(
    s: Session,
    actor: Actor | None,
    name: str,
    pwg: str,
    *,
    service: bool = False,
    description: str = "",
) -> Analysis:
    """A new analysis (admins; ``actor=None`` is the trusted admin CLI / sync)."""
    if actor is not None:
        require(actor, Action.ANALYSIS_MANAGE)
    if not name.strip() or not pwg.strip():
        raise ValidationError("an analysis needs a name and a PWG")
    if s.scalars(select(Analysis).where(Analysis.name == name)).first() is not None:
        raise Conflict(f"analysis {name!r} already exists", {"name": name})
    analysis = Analysis(name=name, pwg=pwg, is_service=service, description=description)
    s.add(analysis)
    flush_or_conflict(s, f"analysis {name!r} already exists", {"name": name})
    return analysis


def add_member(s: Session, actor: Actor | None, analysis_id: int, user_id: int) -> AnalysisMember:
    if actor is not None:
        require(actor, Action.ANALYSIS_MANAGE)
    analysis = get_or_404(s, Analysis, analysis_id, "analysis")
    user = get_or_404(s, User, user_id, "user")
    existing = s.get(AnalysisMember, (analysis.id, user.id))
    if existing is not None:
        return existing
    order = s.scalar(
        select(func.coalesce(func.max(AnalysisMember.display_order), -1)).where(
            AnalysisMember.user_id == user.id
        )
    )
    member = AnalysisMember(analysis_id=analysis.id, user_id=user.id, display_order=order + 1)
    s.add(member)
    s.flush()
    s.refresh(user, ["memberships"])
    return member


def remove_member(s: Session, actor: Actor | None, analysis_id: int, user_id: int) -> None:
    if actor is not None:
        require(actor, Action.ANALYSIS_MANAGE)
    member = get_or_404(s, AnalysisMember, (analysis_id, user_id), "membership")
    s.delete(member)
    s.flush()


def set_email_policy(s: Session, actor: Actor, analysis_id: int, policy: str) -> Analysis:
    analysis = get_or_404(s, Analysis, analysis_id, "analysis")
    require(actor, Action.ANALYSIS_EDIT, analysis)
    try:
        analysis.email_policy = EmailPolicy(policy)
    except ValueError:
        raise ValidationError(f"unknown e-mail policy {policy!r} (none, all, enabler)") from None
    s.flush()
    return analysis


def set_display(
    s: Session,
    actor: Actor,
    analysis_id: int,
    *,
    order: int | None = None,
    collapsed: bool | None = None,
) -> AnalysisMember:
    """Save the acting user's order/collapse of one analysis on My Analyses."""
    member = get_or_404(s, AnalysisMember, (analysis_id, actor.user.id), "membership")
    if order is not None:
        member.display_order = order
    if collapsed is not None:
        member.collapsed = collapsed
    s.flush()
    return member


def my_analyses(s: Session, user: User) -> list[Analysis]:
    """The user's analyses in their saved order (service analyses are listed separately)."""
    stmt = (
        select(Analysis)
        .join(AnalysisMember, AnalysisMember.analysis_id == Analysis.id)
        .where(AnalysisMember.user_id == user.id)
        .order_by(AnalysisMember.display_order, Analysis.name)
    )
    return list(s.scalars(stmt))


def service_analyses(s: Session) -> list[Analysis]:
    return list(s.scalars(select(Analysis).where(Analysis.is_service).order_by(Analysis.name)))


def add_dataset(s: Session, actor: Actor, analysis_id: int, dataset_id: int) -> AnalysisDataset:
    """Add a dataset to an analysis; datasets with short datasets must be used via those."""
    analysis = get_or_404(s, Analysis, analysis_id, "analysis")
    require(actor, Action.ANALYSIS_EDIT, analysis)
    dataset = get_or_404(s, Dataset, dataset_id, "dataset")
    if dataset.short_datasets:
        names = ", ".join(d.name for d in dataset.short_datasets)
        raise ValidationError(
            f"dataset {dataset.name!r} has short datasets ({names}); add one of those instead "
            "(staged submission)",
            {"dataset": dataset.name},
        )
    existing = s.scalars(
        select(AnalysisDataset).where(
            AnalysisDataset.analysis_id == analysis.id, AnalysisDataset.dataset_id == dataset.id
        )
    ).first()
    if existing is not None:
        return existing
    link = AnalysisDataset(analysis_id=analysis.id, dataset_id=dataset.id)
    s.add(link)
    s.flush()
    return link


def remove_dataset(s: Session, actor: Actor, analysis_id: int, dataset_id: int) -> None:
    analysis = get_or_404(s, Analysis, analysis_id, "analysis")
    require(actor, Action.ANALYSIS_EDIT, analysis)
    link = s.scalars(
        select(AnalysisDataset).where(
            AnalysisDataset.analysis_id == analysis_id, AnalysisDataset.dataset_id == dataset_id
        )
    ).first()
    if link is not None:
        s.delete(link)
        s.flush()


def analysis_dataset_ids(s: Session, analysis_id: int) -> set[int]:
    stmt = select(AnalysisDataset.dataset_id).where(AnalysisDataset.analysis_id == analysis_id)
    return set(s.scalars(stmt))


def sync_analyses(s: Session, doc: dict) -> dict[str, list[str]]:  # type: ignore[type-arg]
    """Create/update analyses and memberships from an external tracker export:
    ``{"analyses": [{"name", "pwg", "service": bool, "members": [username, ...]}]}``.
    Unknown users are created without password (they log in through OIDC/certificates).
    Members missing from the export are removed. Trusted input (admin CLI / sync job)."""
    from hyperloop.core.users import create_user, find_user

    report: dict[str, list[str]] = {"created": [], "updated": [], "users_created": []}
    items = doc.get("analyses") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise ValidationError("analysis export must be {'analyses': [...]}")
    for item in items:
        name, pwg = item.get("name"), item.get("pwg")
        if not name or not pwg:
            raise ValidationError(f"analysis entry {item!r} needs a name and a pwg")
        analysis = s.scalars(select(Analysis).where(Analysis.name == name)).first()
        if analysis is None:
            analysis = create_analysis(s, None, name, pwg, service=bool(item.get("service")))
            report["created"].append(name)
        elif analysis.pwg != pwg or analysis.is_service != bool(item.get("service")):
            analysis.pwg, analysis.is_service = pwg, bool(item.get("service"))
            report["updated"].append(name)
        wanted = set()
        for username in item.get("members", []):
            user = find_user(s, username)
            if user is None:
                user = create_user(s, username)
                report["users_created"].append(username)
            wanted.add(user.id)
            add_member(s, None, analysis.id, user.id)
        s.flush()
        s.refresh(analysis, ["members"])
        for member in list(analysis.members):
            if member.user_id not in wanted:
                remove_member(s, None, analysis.id, member.user_id)
    s.flush()
    return report
