"""What the system remembers per user (``users.preferences``): the dataset and target of the
train an operator composed last (Train Submission opens on them) and the guided tours the
user dismissed ("don't show again")."""

from __future__ import annotations

from typing import Any, Literal, get_args

from sqlalchemy.orm import Session

from hyperloop.core.errors import ValidationError
from hyperloop.db.models import User

#: a page that has a guided tour (the API's page parameter; ``tours_dismissed`` holds some)
TourPage = Literal["my-analyses", "wagon", "train-submission", "train-run", "datasets", "dashboard"]
#: the same pages, in order
TOUR_PAGES: tuple[str, ...] = get_args(TourPage)


def of(user: User) -> dict[str, Any]:
    """The user's preferences (a copy; empty when none was saved)."""
    return dict(user.preferences or {})


def _save(s: Session, user: User, key: str, value: Any) -> dict[str, Any]:
    prefs = of(user)
    prefs[key] = value
    user.preferences = prefs  # a new dict: the JSON column sees the change
    s.flush()
    return prefs


def remember_submission(s: Session, user: User, dataset_id: int, target_id: int | None) -> None:
    """The operator composed a train on ``dataset_id`` for ``target_id``: Train Submission
    opens on them next time."""
    _save(s, user, "train_submission", {"dataset_id": dataset_id, "target_id": target_id})


def last_submission(user: User) -> dict[str, int | None]:
    """The dataset and target of the operator's last composed train (None: none yet)."""
    last = of(user).get("train_submission") or {}
    return {"dataset_id": last.get("dataset_id"), "target_id": last.get("target_id")}


def dismiss_tour(s: Session, user: User, page: str) -> list[str]:
    """Dismiss ("don't show again") the tour of ``page``: the dismissed pages afterwards."""
    if page not in TOUR_PAGES:
        raise ValidationError(
            f"no guided tour for page {page!r} (one of {', '.join(TOUR_PAGES)})", {"page": page}
        )
    dismissed = sorted(set(of(user).get("tours_dismissed") or []) | {page})
    _save(s, user, "tours_dismissed", dismissed)
    return dismissed


def restore_tours(s: Session, user: User) -> None:
    """Show every guided tour again."""
    _save(s, user, "tours_dismissed", [])


def tours_dismissed(user: User) -> list[str]:
    return list(of(user).get("tours_dismissed") or [])
