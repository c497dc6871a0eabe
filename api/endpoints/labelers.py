"""Labelers (models and recorded runs that grade pairs) and their labeling jobs."""

from datetime import datetime
from typing import Any

from ninja import Query, Router, Schema

from labeling.models import Labeler, LabelingJob

from ..auth import require
from ..errors import ERRORS, ApiError
from ..paging import PageOut, Paging, page

router = Router()


class LabelerOut(Schema):
    id: int
    name: str
    role: str
    backend: str
    model_ref: str
    prompt_version: str
    promotion: dict[str, Any]  # the promotion gate's verdict (labeling.services.promotion); {} before any
    created_at: datetime


class LabelerPage(PageOut):
    items: list[LabelerOut]


class JobOut(Schema):
    id: int
    labeler: str
    description: str
    status: str
    total: int
    done: int
    pairs_per_second: float | None
    tokens_in: int
    tokens_out: int
    seconds: float
    cost: float
    parts: dict[str, Any]
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobPage(PageOut):
    items: list[JobOut]


def labeler_get(name: str) -> Labeler:
    labeler = Labeler.objects.filter(name=name).first()
    if labeler is None:
        raise ApiError(404, "not_found", f"no labeler named {name!r}", field="labeler")
    return labeler


def job_out(job: LabelingJob) -> dict:
    return {"id": job.id, "labeler": job.labeler.name, "description": job.description, "status": job.status,
            "total": job.total, "done": job.done, "pairs_per_second": job.pairs_per_second,
            "tokens_in": job.tokens_in, "tokens_out": job.tokens_out, "seconds": job.seconds, "cost": job.cost,
            "parts": job.parts, "error": job.error, "created_at": job.created_at, "started_at": job.started_at,
            "finished_at": job.finished_at}


def job_get(job_id: int) -> LabelingJob:
    job = LabelingJob.objects.select_related("labeler").filter(id=job_id).first()
    if job is None:
        raise ApiError(404, "not_found", f"no labeling job {job_id}", field="job_id")
    return job


@router.get("/labelers", response={200: LabelerPage, **ERRORS}, summary="List labelers", tags=["labelers"])
def labeler_list(request, paging: Query[Paging]):
    require(request, "labeling.view_labeler")
    return page(Labeler.objects.order_by("name"), paging)


@router.get("/labelers/{name}", response={200: LabelerOut, **ERRORS}, summary="One labeler", tags=["labelers"])
def labeler_detail(request, name: str):
    require(request, "labeling.view_labeler")
    return labeler_get(name)


@router.get("/labeling-jobs", response={200: JobPage, **ERRORS}, summary="List labeling jobs, newest first",
            tags=["labeling jobs"])
def job_list(request, paging: Query[Paging]):
    require(request, "labeling.view_labelingjob")
    result = page(LabelingJob.objects.select_related("labeler").order_by("-created_at", "-id"), paging)
    result["items"] = [job_out(job) for job in result["items"]]
    return result


@router.get("/labeling-jobs/{int:job_id}", response={200: JobOut, **ERRORS}, summary="A labeling job's status",
            tags=["labeling jobs"])
def job_detail(request, job_id: int):
    require(request, "labeling.view_labelingjob")
    return job_out(job_get(job_id))
