"""Run writes: launch a distillation run, cancel one."""

from ninja import Schema, Status
from pydantic import Field

from distill.config import DEFAULTS, config_from_choices
from distill.services.runs import run_cancel, run_launch
from labeling.models import Labeler

from ..auth import require, user_of
from ..errors import ERRORS, ApiError, ErrorOut, bad_request
from .benchmarks import benchmark_get
from .corpora import corpus_visible
from .runs import RunOut, router, run_get, run_out


class RunIn(Schema):
    """The launch form's fields, with its bounds and defaults (distill.forms.RunLaunchForm)."""

    name: str = Field(min_length=1, max_length=200)
    corpus: str = Field(min_length=1, max_length=100)
    benchmark: str | None = Field(None, max_length=100,
                                  description="The human benchmark the student is checked against.")
    generator: str = Field(DEFAULTS["generator"], max_length=100)
    teacher: str = Field(DEFAULTS["teacher"], max_length=100)
    student_base: str = Field(DEFAULTS["student_base"], max_length=500)
    seed_documents: int = Field(DEFAULTS["synthesize"]["seed_documents"], ge=1, le=1_000_000)
    queries_per_document: int = Field(DEFAULTS["synthesize"]["queries_per_document"], ge=1, le=10)
    bm25_negatives: int = Field(DEFAULTS["mine"]["bm25_negatives"], ge=0, le=50)
    random_negatives: int = Field(DEFAULTS["mine"]["random_negatives"], ge=0, le=20)
    epochs: int = Field(DEFAULTS["train"]["epochs"], ge=1, le=20)
    learning_rate: float = Field(DEFAULTS["train"]["learning_rate"], ge=1e-7, le=1e-2)
    batch_size: int = Field(DEFAULTS["train"]["batch_size"], ge=1, le=256)
    max_length: int = Field(DEFAULTS["train"]["max_length"], ge=32, le=512)
    gate_margin: float = Field(DEFAULTS["evaluate"]["margin"], ge=0, le=1)


class RunLaunchedOut(Schema):
    run: RunOut
    url: str


def _labeler_of_role(name: str, roles: tuple[str, ...], field: str) -> None:
    if not Labeler.objects.filter(name=name, role__in=roles).exists():
        raise bad_request(f"no {' or '.join(roles)} labeler named {name!r}", field=field)


@router.post("/runs", response={202: RunLaunchedOut, **ERRORS}, summary="Launch a distillation run on the workers")
def run_launch_view(request, payload: RunIn):
    require(request, "distill.add_run")
    corpus = corpus_visible(request, payload.corpus)
    benchmark = benchmark_get(request, payload.benchmark) if payload.benchmark else None
    _labeler_of_role(payload.generator, (Labeler.Role.GENERATOR,), "generator")
    _labeler_of_role(payload.teacher, (Labeler.Role.TEACHER,), "teacher")
    choices = payload.dict(exclude={"name", "corpus", "benchmark"})
    run = run_launch(name=payload.name, corpus=corpus, benchmark=benchmark, config=config_from_choices(**choices),
                     user=user_of(request))
    run = run_get(run.id)
    return Status(202, {"run": run_out(run), "url": request.build_absolute_uri(f"/api/v1/runs/{run.id}")})


@router.post("/runs/{int:run_id}/cancel", response={200: RunOut, 409: ErrorOut, **ERRORS},
             summary="Cancel a queued or running run")
def run_cancel_view(request, run_id: int):
    require(request, "distill.change_run")
    run = run_get(run_id)
    if not run_cancel(run=run):
        raise ApiError(409, "conflict", f"run {run.id} had already ended ({run.status})")
    return run_out(run_get(run.id))
