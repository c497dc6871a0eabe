"""Corpus writes: create a corpus; import documents, queries or qrels (an upload, or a server
path inside the import root) as a job on a worker, answered 202 with the job's URL; add pairs."""

from datetime import datetime
from typing import Any, Literal

from django.conf import settings
from ninja import File, Form, Schema, Status
from ninja.files import UploadedFile
from pydantic import Field

from annotate.services import benchmark_items_add, pairs_by_query
from labeling.models import ImportJob
from labeling.services.corpora import MAX_PAIRS_PER_CALL, UnknownId, corpus_create, pairs_add
from labeling.services.import_jobs import IMPORT_PERMISSIONS, import_job_create, import_path_resolve, import_upload_save

from ..auth import require, user_of
from ..errors import ERRORS, LIMITED, ApiError, bad_request
from ..ratelimit import rate_limit
from .benchmarks import benchmark_get
from .corpora import CorpusOut, corpus_out, corpus_visible, router

Kind = Literal["documents", "queries", "qrels"]


class CorpusIn(Schema):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[-a-zA-Z0-9_]+$")
    description: str = Field("", max_length=10_000)


class ImportFromPathIn(Schema):
    path: str = Field(min_length=1, max_length=1000, description="Relative to the import root (or inside it).")
    annotator: str = Field("", max_length=150, description="Qrels: the person whose judgments they are.")
    labeler: str = Field("", max_length=100, description="Qrels: the recorded run's labeler.")


class ImportOut(Schema):
    id: int
    url: str
    kind: str
    corpus: str
    status: str
    summary: dict[str, Any]
    error: dict[str, Any]  # a refused file: message, file, line, field
    created_at: datetime
    finished_at: datetime | None


class PairKey(Schema):
    qid: str = Field(min_length=1, max_length=255)
    docid: str = Field(min_length=1, max_length=255)


class PairsIn(Schema):
    pairs: list[PairKey] = Field(min_length=1, max_length=MAX_PAIRS_PER_CALL)
    benchmark: str | None = Field(None, max_length=100, description="Also add them to this benchmark, to grade.")


class PairsOut(Schema):
    pair_ids: list[int]
    new: int
    added_to_benchmark: int | None


def import_out(request, job: ImportJob) -> dict:
    return {"id": job.id, "url": request.build_absolute_uri(f"/api/v1/imports/{job.id}"), "kind": job.kind,
            "corpus": job.corpus_name, "status": job.status, "summary": job.summary, "error": job.error,
            "created_at": job.created_at, "finished_at": job.finished_at}


def _accepted(request, job: ImportJob):
    body = import_out(request, job)
    return Status(202, body)


def _qrels_who(kind: str, annotator: str, labeler: str, request) -> None:
    if kind != "qrels":
        if annotator or labeler:
            raise bad_request("annotator and labeler are for qrels only", field="annotator" if annotator else "labeler")
        return
    if bool(annotator) == bool(labeler):
        raise bad_request("qrels need an annotator or a labeler (one of them)", field="annotator")
    require(request, "labeling.add_judgment" if annotator else "labeling.add_modellabel")


def _import_create(request, *, kind: str, corpus: str, path, uploaded: bool, annotator: str, labeler: str):
    try:
        return import_job_create(kind=kind, corpus_name=corpus, path=path, uploaded=uploaded, annotator=annotator,
                                 labeler=labeler, user=user_of(request))
    except ValueError as exc:
        raise bad_request(str(exc)) from None


@router.post("/corpora", response={201: CorpusOut, 200: CorpusOut, **ERRORS},
             summary="Create a corpus (or update the description of the one with this name)")
def corpus_create_view(request, payload: CorpusIn):
    require(request, "labeling.add_corpus")
    corpus, created = corpus_create(name=payload.name, description=payload.description)
    return Status(201 if created else 200, corpus_out(corpus))


@router.post("/corpora/{name}/imports/{kind}", response={202: ImportOut, **LIMITED},
             summary="Import an uploaded file into the corpus, on a worker (202: poll the job's url)")
def import_upload(request, name: str, kind: Kind, file: File[UploadedFile], annotator: Form[str] = "",
                  labeler: Form[str] = ""):
    require(request, *IMPORT_PERMISSIONS[kind])
    _qrels_who(kind, annotator, labeler, request)
    if file.size is not None and file.size > settings.API_UPLOAD_MAX_BYTES:
        raise bad_request(f"the file is over {settings.API_UPLOAD_MAX_BYTES} bytes", field="file")
    if len(annotator) > 150:
        raise bad_request("an annotator's name is at most 150 characters", field="annotator")
    if len(labeler) > 100:
        raise bad_request("a labeler's name is at most 100 characters", field="labeler")
    rate_limit(request, "import")
    path = import_upload_save(name=file.name or "upload", chunks=file.chunks())
    job = _import_create(request, kind=kind, corpus=name, path=path, uploaded=True, annotator=annotator,
                         labeler=labeler)
    return _accepted(request, job)


@router.post("/corpora/{name}/imports/{kind}/from-path", response={202: ImportOut, **LIMITED},
             summary="Import a file or folder on the server (inside the import root), on a worker")
def import_from_path(request, name: str, kind: Kind, payload: ImportFromPathIn):
    require(request, *IMPORT_PERMISSIONS[kind])
    _qrels_who(kind, payload.annotator, payload.labeler, request)
    try:
        path = import_path_resolve(path=payload.path)
    except ValueError as exc:
        raise bad_request(str(exc), field="path") from None
    rate_limit(request, "import")
    job = _import_create(request, kind=kind, corpus=name, path=path, uploaded=False, annotator=payload.annotator,
                         labeler=payload.labeler)
    return _accepted(request, job)


@router.get("/imports/{int:job_id}", response={200: ImportOut, **ERRORS}, summary="An import job's status and outcome")
def import_detail(request, job_id: int):
    require(request, "labeling.view_importjob")
    job = ImportJob.objects.filter(id=job_id).first()
    if job is None:
        raise ApiError(404, "not_found", f"no import job {job_id}", field="job_id")
    return import_out(request, job)


@router.post("/corpora/{name}/pairs", response={200: PairsOut, **ERRORS},
             summary="Add pairs (qid, docid) in bulk, e.g. a ranker's top-k; optionally to a benchmark")
def pairs_add_view(request, name: str, payload: PairsIn):
    require(request, "labeling.add_pair")
    corpus = corpus_visible(request, name)
    benchmark = None
    if payload.benchmark:
        require(request, "annotate.add_benchmarkitem")
        benchmark = benchmark_get(request, payload.benchmark)
    try:
        added = pairs_add(corpus=corpus, keys=[(p.qid, p.docid) for p in payload.pairs])
    except UnknownId as exc:
        raise bad_request(str(exc), field=f"pairs.{exc.index}.{exc.field}") from None
    in_benchmark = None
    if benchmark is not None:
        in_benchmark = benchmark_items_add(benchmark=benchmark, pair_ids=pairs_by_query(pair_ids=added.pair_ids))
    return {"pair_ids": added.pair_ids, "new": added.new, "added_to_benchmark": in_benchmark}
