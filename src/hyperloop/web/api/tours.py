"""Guided tours of the main pages: the steps of a page's tour, "don't show again" (per
user), and showing every tour again."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from hyperloop.core import preferences
from hyperloop.core.preferences import TourPage
from hyperloop.readmodels.tours import tour_data
from hyperloop.web.deps import DB, CurrentActor

router = APIRouter(prefix="/tours", tags=["users"])


class TourStep(BaseModel):
    selector: str
    title: str
    text: str


class TourOut(BaseModel):
    page: str
    steps: list[TourStep]
    dismissed: bool


class DismissedOut(BaseModel):
    dismissed: list[str]


@router.get("/{page}", response_model=TourOut, summary="The guided tour of a page")
def get_tour(page: TourPage, actor: CurrentActor, db: DB) -> dict:
    return tour_data(actor.user, page)


@router.post(
    "/{page}/dismiss",
    response_model=DismissedOut,
    summary="Don't show the guided tour of this page again (for me)",
)
def dismiss_tour(page: TourPage, actor: CurrentActor, db: DB) -> DismissedOut:
    return DismissedOut(dismissed=preferences.dismiss_tour(db, actor.user, page))


@router.post("/restore", response_model=DismissedOut, summary="Show every guided tour again")
def restore_tours(actor: CurrentActor, db: DB) -> DismissedOut:
    preferences.restore_tours(db, actor.user)
    return DismissedOut(dismissed=[])
