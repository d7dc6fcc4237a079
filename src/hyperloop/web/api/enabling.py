"""Enabling and disabling wagons on datasets, with a package tag policy."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field, model_validator

from hyperloop.core import enabling
from hyperloop.enums import TagPolicy, TrainType
from hyperloop.readmodels import overlaps as views_overlaps
from hyperloop.web.api.wagons import EnablingOut
from hyperloop.web.deps import DB, CurrentActor, WagonForReader

router = APIRouter(prefix="/wagons/{wagon_id}/datasets", tags=["enabling"])

DatasetIdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]


class EnableIn(BaseModel):
    policy: TagPolicy = Field(description="fixed tag, latest tag, or a future tag with a PR.")
    tag_id: int | None = Field(default=None, ge=1, le=2**31 - 1, description="For `fixed`.")
    pull_request: str | None = Field(
        default=None, min_length=1, max_length=64, description="For `pull_request`."
    )

    @model_validator(mode="after")
    def _policy_fields(self) -> EnableIn:
        if self.policy is TagPolicy.FIXED and self.tag_id is None:
            raise ValueError("policy 'fixed' needs tag_id")
        if self.policy is TagPolicy.PULL_REQUEST and not self.pull_request:
            raise ValueError("policy 'pull_request' needs pull_request")
        return self


@router.get("", response_model=list[EnablingOut], summary="Datasets the wagon is enabled on")
def list_enablings(wagon: WagonForReader) -> list[EnablingOut]:
    return [EnablingOut.model_validate(e) for e in wagon.enablings]


class DifferenceOut(BaseModel):
    task: str
    parameter: str
    this: Any = Field(description="The value in this wagon's configuration.")
    other: Any = Field(description="The value in the other wagon's configuration.")


class OverlapOut(BaseModel):
    wagon_id: int
    wagon: str
    analysis_id: int
    analysis: str
    workflow: str
    kind: str = Field(description="identical or near-identical (a few parameters differ).")
    level: str = Field(
        description="notice, or warning: a duplicate skim (the same derived tables from the "
        "identical configuration)."
    )
    message: str = Field(description="What overlaps and what to do, in one sentence.")
    differences: list[DifferenceOut]
    derived_tables: list[str]
    produced_by: int | None = Field(
        default=None, description="The done derived-data train run whose output exists."
    )
    enabled: bool = Field(description="The other wagon is enabled on the dataset.")


class EnableOut(EnablingOut):
    overlaps: list[OverlapOut] = Field(
        default_factory=list,
        description="Wagons of other analyses on the dataset with the same workflow and an "
        "identical or near-identical configuration (share or depend on them).",
    )


@router.get(
    "/{dataset_id}/overlaps",
    response_model=list[OverlapOut],
    summary="Wagons of other analyses overlapping this one on a dataset",
)
def overlaps(wagon: WagonForReader, dataset_id: DatasetIdPath, db: DB) -> list[OverlapOut]:
    return [OverlapOut(**o.as_dict()) for o in views_overlaps.overlaps(db, wagon.id, dataset_id)]


@router.put(
    "/{dataset_id}",
    response_model=EnableOut,
    summary="Enable the wagon on a dataset (starts a wagon test); lists overlapping wagons",
)
def enable(
    wagon: WagonForReader, dataset_id: DatasetIdPath, body: EnableIn, actor: CurrentActor, db: DB
) -> EnableOut:
    link = enabling.enable_wagon(
        db,
        actor,
        wagon.id,
        dataset_id,
        policy=body.policy,
        tag_id=body.tag_id,
        pull_request=body.pull_request,
    )
    db.flush()
    found = views_overlaps.overlaps(db, wagon.id, dataset_id)
    return EnableOut.model_validate(link).model_copy(
        update={"overlaps": [OverlapOut(**o.as_dict()) for o in found]}
    )


@router.delete("/{dataset_id}", status_code=204, summary="Disable the wagon on a dataset")
def disable(
    wagon: WagonForReader, dataset_id: DatasetIdPath, actor: CurrentActor, db: DB
) -> Response:
    enabling.disable_wagon(db, actor, wagon.id, dataset_id)
    return Response(status_code=204)


class ScheduleIn(BaseModel):
    scheduled: bool = Field(default=True, description="False removes the wagon from the slot.")
    train_type: TrainType = Field(
        default=TrainType.STANDARD_DERIVED,
        description="standard_derived (wagons share a train), linked_derived (a train of its "
        "own) or slim_derived.",
    )
    slow: bool = Field(default=False, description="Slow train: wait for every job.")
    auto_submit: bool = Field(default=False, description="Submit after a `done` test.")


@router.put(
    "/{dataset_id}/schedule",
    response_model=EnablingOut,
    summary="Schedule a derived-data wagon for the next automatic composition (operators): "
    "its train type, slow train, automatic submission",
)
def schedule(
    wagon: WagonForReader,
    dataset_id: DatasetIdPath,
    body: ScheduleIn,
    actor: CurrentActor,
    db: DB,
) -> EnablingOut:
    row = enabling.schedule_wagon(
        db,
        actor,
        wagon.id,
        dataset_id,
        scheduled=body.scheduled,
        train_type=body.train_type,
        slow=body.slow,
        auto_submit=body.auto_submit,
    )
    return EnablingOut.model_validate(row)
