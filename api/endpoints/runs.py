"""Distillation runs: status (stage by stage) and the frontier its evaluation measured."""

from datetime import datetime
from typing import Any

from ninja import Query, Router, Schema

from distill.models import Run
from distill.selectors import run_stage_rows

from ..auth import require
from ..errors import ERRORS, ApiError
from ..paging import PageOut, Paging, page

router = Router(tags=["runs"])


class StageOut(Schema):
    name: str
    state: str
    done: int
    total: int
    percent: int
    eta_seconds: float | None


class RunOut(Schema):
    id: int
    name: str
    corpus: str
    benchmark: str | None
    status: str
    stage: str
    stages: list[StageOut]
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class RunPage(PageOut):
    items: list[RunOut]


class FrontierOut(Schema):
    run: int
    status: str
    frontier: list[dict[str, Any]]  # per budget: teacher share, figures with intervals, the gate's verdict
    gate: dict[str, Any] | None
    teacher: dict[str, Any] | None  # the teacher's and the student's agreement reports
    student: dict[str, Any] | None


def run_out(run: Run) -> dict:
    return {"id": run.id, "name": run.name, "corpus": run.corpus.name,
            "benchmark": run.benchmark.name if run.benchmark else None, "status": run.status, "stage": run.stage,
            "stages": [vars(row) for row in run_stage_rows(run)], "error": run.error, "created_at": run.created_at,
            "started_at": run.started_at, "finished_at": run.finished_at}


def run_get(run_id: int) -> Run:
    run = Run.objects.select_related("corpus", "benchmark").filter(id=run_id).first()
    if run is None:
        raise ApiError(404, "not_found", f"no run {run_id}", field="run_id")
    return run


@router.get("/runs", response={200: RunPage, **ERRORS}, summary="List runs, newest first")
def run_list(request, paging: Query[Paging]):
    require(request, "distill.view_run")
    result = page(Run.objects.select_related("corpus", "benchmark").order_by("-created_at", "-id"), paging)
    result["items"] = [run_out(run) for run in result["items"]]
    return result


@router.get("/runs/{int:run_id}", response={200: RunOut, **ERRORS}, summary="A run's status, stage by stage")
def run_detail(request, run_id: int):
    require(request, "distill.view_run")
    return run_out(run_get(run_id))


@router.get("/runs/{int:run_id}/frontier", response={200: FrontierOut, **ERRORS},
            summary="The frontier and the promotion gate's verdict (empty until the evaluate stage ran)")
def run_frontier(request, run_id: int):
    require(request, "distill.view_run")
    run = run_get(run_id)
    evaluate = run.metrics.get("evaluate", {})
    return {"run": run.id, "status": run.status, "frontier": evaluate.get("frontier", []),
            "gate": evaluate.get("gate"), "teacher": evaluate.get("teacher"), "student": evaluate.get("student")}
