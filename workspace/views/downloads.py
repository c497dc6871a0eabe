"""Qrels downloads, streamed: an annotator's judgments, a labeler's labels, or a benchmark's
consensus, as TREC, JSONL or CSV (labeling.services.exports), each name checked against what the
user may see."""

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponseBadRequest, StreamingHttpResponse
from django.views.decorators.http import require_GET

from annotate.selectors import benchmark_consensus_rows
from labeling.models import Labeler
from labeling.services.exports import (
    CONTENT_TYPES,
    FORMATS,
    SUFFIXES,
    annotator_qrel_rows,
    labeler_qrel_rows,
    qrels_stream,
)

from . import benchmark_or_404

SOURCES = ("benchmark", "annotator", "labeler")


@require_GET
@permission_required("labeling.view_judgment", raise_exception=True)
def qrels_download(request):
    fmt = request.GET.get("format", "trec")
    chosen = [s for s in SOURCES if request.GET.get(s)]
    if fmt not in FORMATS or len(chosen) != 1:
        return HttpResponseBadRequest("Give one of benchmark, annotator or labeler, and a format: trec, jsonl or csv.")
    source = chosen[0]
    name = request.GET[source][:150]
    if source == "benchmark":
        rows = benchmark_consensus_rows(benchmark=benchmark_or_404(request, name))
    elif source == "annotator":
        person = get_user_model().objects.filter(username=name).first()
        if person is None:
            raise Http404("no such annotator")
        rows = annotator_qrel_rows(annotator=person)
    else:
        if not request.user.has_perm("labeling.view_modellabel"):
            raise Http404("no such labeler")
        labeler = Labeler.objects.filter(name=name).first()
        if labeler is None:
            raise Http404("no such labeler")
        rows = labeler_qrel_rows(labeler=labeler, extra=fmt != "trec")
    response = StreamingHttpResponse(qrels_stream(rows=rows, fmt=fmt), content_type=CONTENT_TYPES[fmt])
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{source}-{name}")
    response["Content-Disposition"] = f'attachment; filename="{safe}.{SUFFIXES[fmt]}"'
    return response
