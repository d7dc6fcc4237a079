"""E-mails queued and sent: mine (users), every one (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hyperloop.readmodels.emails import EmailOut, emails_list_data
from hyperloop.readmodels.paging import Page
from hyperloop.web.deps import DB, CurrentActor
from hyperloop.web.pagination import Paging

router = APIRouter(prefix="/emails", tags=["notifications"])


@router.get(
    "",
    response_model=Page[EmailOut],
    summary="E-mails the system queued or sent, newest first: mine; admins see every one",
)
def list_emails(
    actor: CurrentActor,
    db: DB,
    paging: Paging,
    to: Annotated[
        str | None,
        Query(max_length=255, description="Admins: only e-mails to this address."),
    ] = None,
):
    return emails_list_data(db, actor, paging, to=to)
