"""Labeler and labeling job writes: create and test a labeler; estimate, create and cancel a
labeling job; and /judge, a small batch graded synchronously (as UMBRELA's /v1/judge)."""

from typing import Any, Literal

from ninja import Schema, Status
from pydantic import Field

from labeling.job_estimate import labeling_job_estimate
from labeling.judge import MAX_JUDGE_PAIRS, JudgeFailed, JudgeUnavailable, pairs_judge
from labeling.labelers.base import PairInput
from labeling.scopes import MAX_QUERY_IDS, pair_scope_build
from labeling.services.labeler_setup import labeler_create, labeler_test
from labeling.services.labeling_jobs import labeling_job_cancel, labeling_job_create
from labeling.services.promotion import NotPromoted

from ..auth import require
from ..errors import ERRORS, LIMITED, ApiError, ErrorOut, bad_request
from ..ratelimit import rate_limit
from .labelers import JobOut, LabelerOut, job_get, job_out, labeler_get, router


class LabelerIn(Schema):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[-a-zA-Z0-9_]+$")
    role: Literal["generator", "teacher", "student", "recorded"]
    backend: Literal["local_lm", "openai", "vllm", "cross_encoder", "recorded", "anchored", "ensemble"]
    model_ref: str = Field("", max_length=500)
    prompt_version: str = Field("", max_length=100)
    params: dict[str, Any] = Field(default_factory=dict)


class LabelerTestOut(Schema):
    ok: bool
    error: str
    seconds: float | None
    grade: int | None
    distribution: list[float] | None
    pairs: list[dict[str, Any]]  # per test pair: title, grade, distribution, latency_ms, tokens_in, tokens_out


class ScopeIn(Schema):
    labeler: str = Field(min_length=1, max_length=100)
    benchmark: str | None = Field(None, max_length=100)
    corpus: str | None = Field(None, max_length=100)
    query_ids: list[str] | None = Field(None, max_length=MAX_QUERY_IDS)


class JobIn(ScopeIn):
    batch_size: int | None = Field(None, ge=1, le=4096)
    force: bool = Field(False, description="Label with a student that has not passed its promotion gate.")


class EstimateOut(Schema):
    pairs: int
    to_label: int
    pairs_per_second: float | None  # from the labeler's last finished jobs; null before any
    seconds: float | None
    cost: float | None
    based_on_jobs: int
    tokens_in: int | None  # at the tokens per pair those jobs used; null before any
    tokens_out: int | None


class JobCreatedOut(Schema):
    job: JobOut
    url: str
    estimate: EstimateOut


class JudgePair(Schema):
    query: str = Field(min_length=1, max_length=1000)
    document: str = Field(min_length=1, max_length=100_000)
    title: str = Field("", max_length=500)
    qid: str = Field("", max_length=255, description="For a recorded run: the query's id.")
    docid: str = Field("", max_length=255, description="For a recorded run: the document's id.")


class JudgeIn(Schema):
    labeler: str = Field(min_length=1, max_length=100)
    pairs: list[JudgePair] = Field(min_length=1, max_length=MAX_JUDGE_PAIRS)


class Judgment(Schema):
    grade: int
    distribution: list[float]
    expected_grade: float


class JudgeOut(Schema):
    labeler: str
    seconds: float
    judgments: list[Judgment]


def _scope(payload: ScopeIn) -> tuple[dict, str]:
    try:
        return pair_scope_build(benchmark=payload.benchmark, corpus=payload.corpus, query_ids=payload.query_ids)
    except ValueError as exc:
        raise bad_request(str(exc), field="benchmark") from None


@router.post("/labelers", response={201: LabelerOut, **ERRORS}, summary="Create a labeler", tags=["labelers"])
def labeler_create_view(request, payload: LabelerIn):
    require(request, "labeling.add_labeler")
    try:
        return Status(201, labeler_create(**payload.dict()))
    except ValueError as exc:
        raise bad_request(str(exc), field="name") from None


@router.post("/labelers/{name}/test", response={200: LabelerTestOut, **LIMITED},
             summary="Grade one fixed pair with the labeler: does it work, how fast", tags=["labelers"])
def labeler_test_view(request, name: str):
    require(request, "labeling.change_labeler")
    labeler = labeler_get(name)
    rate_limit(request, "judge")
    return labeler_test(labeler=labeler)


@router.post("/labeling-jobs/estimate", response={200: EstimateOut, **ERRORS},
             summary="What a labeling job would take: pairs, time and cost", tags=["labeling jobs"])
def job_estimate_view(request, payload: ScopeIn):
    require(request, "labeling.add_labelingjob")
    scope, _ = _scope(payload)
    return vars(labeling_job_estimate(labeler=labeler_get(payload.labeler), scope=scope))


@router.post("/labeling-jobs", response={202: JobCreatedOut, **ERRORS},
             summary="Start a labeling job on the workers (202: poll its url)", tags=["labeling jobs"])
def job_create_view(request, payload: JobIn):
    require(request, "labeling.add_labelingjob")
    labeler = labeler_get(payload.labeler)
    scope, description = _scope(payload)
    estimate = labeling_job_estimate(labeler=labeler, scope=scope)
    try:
        job = labeling_job_create(labeler=labeler, scope=scope, description=description,
                                  batch_size=payload.batch_size, gated=not payload.force)
    except NotPromoted as exc:
        raise bad_request(str(exc).replace("--force", "force: true"), field="force") from None
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    job = job_get(job.id)
    return Status(202, {"job": job_out(job), "url": request.build_absolute_uri(f"/api/v1/labeling-jobs/{job.id}"),
                 "estimate": vars(estimate)})


@router.post("/labeling-jobs/{int:job_id}/cancel", response={200: JobOut, **ERRORS},
             summary="Cancel a queued or running job (its labels so far stay)", tags=["labeling jobs"])
def job_cancel_view(request, job_id: int):
    require(request, "labeling.change_labelingjob")
    labeling_job_cancel(job=job_get(job_id))
    return job_out(job_get(job_id))


@router.post("/judge", response={200: JudgeOut, 409: ErrorOut, **LIMITED}, tags=["judge"],
             summary=f"Grade up to {MAX_JUDGE_PAIRS} (query, document) pairs now: grades and distributions")
def judge(request, payload: JudgeIn):
    require(request, "labeling.add_labelingjob")
    labeler = labeler_get(payload.labeler)
    rate_limit(request, "judge")
    pairs = [PairInput(query=p.query, text=p.document, title=p.title, query_id=p.qid, document_id=p.docid)
             for p in payload.pairs]
    try:
        judged = pairs_judge(labeler=labeler, pairs=pairs)
    except JudgeUnavailable as exc:
        raise bad_request(str(exc), field="labeler") from None
    except JudgeFailed as exc:
        # 409: the labeler, as configured, cannot grade (a model that does not load, an endpoint
        # down); the request itself was fine. Not a 5xx: this server did not fail.
        raise ApiError(409, "labeler_failed", str(exc), field="labeler") from None
    return {"labeler": labeler.name, "seconds": judged.seconds,
            "judgments": [{"grade": label.grade, "distribution": label.distribution,
                           "expected_grade": label.expected_grade} for label in judged.labels]}
