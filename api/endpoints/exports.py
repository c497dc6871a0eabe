"""Exports, streamed as they are read: a labeler's labels, a person's judgments or a
benchmark's consensus, as TREC qrels, JSONL or CSV."""

from typing import Literal

from django.contrib.auth import get_user_model
from django.http import StreamingHttpResponse
from ninja import Query, Router, Schema
from pydantic import Field

from annotate.selectors import benchmark_consensus_rows
from labeling.services.exports import CONTENT_TYPES, SUFFIXES, annotator_qrel_rows, labeler_qrel_rows, qrels_stream

from ..auth import require
from ..errors import ERRORS, ApiError, bad_request
from .benchmarks import benchmark_get
from .labelers import labeler_get

router = Router(tags=["exports"])



class ExportQuery(Schema):
    labeler: str | None = Field(None, max_length=100, description="A labeler's labels (with distributions).")
    annotator: str | None = Field(None, max_length=150, description="A person's judgments.")
    benchmark: str | None = Field(None, max_length=100, description="A benchmark's consensus (reviewed grades first).")
    format: Literal["trec", "jsonl", "csv"] = "trec"


STREAMED = {"content": {"text/plain": {"schema": {"type": "string"}},
                        "application/x-ndjson": {"schema": {"type": "string"}},
                        "text/csv": {"schema": {"type": "string"}}},
            "description": "The rows, streamed: TREC qrels (qid Q0 docid grade), JSONL or CSV."}


@router.get("/exports/qrels", response=ERRORS, openapi_extra={"responses": {200: STREAMED}},
            summary="Export grades: one of labeler, annotator or benchmark")
def export_qrels(request, query: Query[ExportQuery]):
    chosen = [k for k in ("labeler", "annotator", "benchmark") if getattr(query, k)]
    if len(chosen) != 1:
        raise bad_request("give one of labeler, annotator or benchmark", field="labeler")
    if query.labeler:
        require(request, "labeling.view_modellabel")
        rows = labeler_qrel_rows(labeler=labeler_get(query.labeler), extra=query.format != "trec")
        name = query.labeler
    elif query.annotator:
        require(request, "labeling.view_judgment")
        person = get_user_model().objects.filter(username=query.annotator).first()
        if person is None:
            raise ApiError(404, "not_found", f"no annotator named {query.annotator!r}", field="annotator")
        rows, name = annotator_qrel_rows(annotator=person), query.annotator
    else:
        require(request, "labeling.view_judgment")
        benchmark = benchmark_get(request, query.benchmark or "")
        rows, name = benchmark_consensus_rows(benchmark=benchmark), benchmark.name
    response = StreamingHttpResponse(qrels_stream(rows=rows, fmt=query.format),
                                     content_type=CONTENT_TYPES[query.format])
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    response["Content-Disposition"] = f'attachment; filename="{safe}.{SUFFIXES[query.format]}"'
    return response
