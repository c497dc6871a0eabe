"""Corpora: the list, a new corpus with its first import, imports of documents, queries and
qrels (as jobs on a worker, their progress polled), a corpus's page and a document's view."""

from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from annotate.selectors import corpora_visible_to, user_sees_corpora
from config.htmx import HtmxHttpRequest, page_or_fragment
from config.notices import unsent_warn
from labeling.models import Corpus, ImportJob
from labeling.selectors import (
    corpora_with_counts,
    corpus_counts,
    documents_search,
    graders_of_corpus,
    import_jobs_of_corpus,
)
from labeling.services.corpora import corpus_create
from labeling.services.import_jobs import IMPORT_PERMISSIONS, import_job_create, import_upload_save

from ..forms import CorpusForm, DocumentSearchForm, ImportForm

PAGE_SIZE = 25


def _corpus_or_404(request, name: str) -> Corpus:
    if not user_sees_corpora(user=request.user):
        raise PermissionDenied
    return get_object_or_404(corpora_visible_to(user=request.user), name=name)


def _kinds_allowed(user) -> tuple[str, ...]:
    return tuple(k for k, perms in IMPORT_PERMISSIONS.items() if user.has_perms(perms))


def _import_start(request, form: ImportForm, corpus_name: str) -> ImportJob:
    """The form's file kept for the worker (or its server path), and the job sent."""
    data = form.cleaned_data
    kind = data["kind"]
    if kind == "qrels" and not request.user.has_perm("labeling.add_judgment" if data["annotator"]
                                                     else "labeling.add_modellabel"):
        raise PermissionDenied
    if data.get("resolved"):
        path, uploaded = data["resolved"], False
    else:
        path, uploaded = import_upload_save(name=data["file"].name, chunks=data["file"].chunks()), True
    return import_job_create(kind=kind, corpus_name=corpus_name, path=path, uploaded=uploaded,
                             annotator=data["annotator"], labeler=data["labeler"], user=request.user)


def _import_form(request, **kwargs) -> ImportForm:
    return ImportForm(request.POST or None, request.FILES or None, kinds=_kinds_allowed(request.user),
                      may_use_path=request.user.has_perm("labeling.add_corpus"), **kwargs)


@require_GET
@login_required
def corpus_list(request):
    if not user_sees_corpora(user=request.user):
        raise PermissionDenied
    return render(request, "workspace/corpus_list.html", {"corpora": corpora_with_counts()[:500]})


@require_http_methods(["GET", "POST"])
@permission_required(["labeling.add_corpus", "labeling.add_document"], raise_exception=True)
def corpus_new(request):
    form = CorpusForm(request.POST or None)
    upload = _import_form(request, initial={"kind": "documents"})
    if request.method == "POST" and form.is_valid() and upload.is_valid():
        try:
            with transaction.atomic():
                corpus, _ = corpus_create(name=form.cleaned_data["name"], description=form.cleaned_data["description"])
                job = _import_start(request, upload, corpus.name)
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            return _to_job(request, job)
    return render(request, "workspace/corpus_new.html", {"form": form, "upload": upload})


def _to_job(request, job: ImportJob):
    unsent_warn(request, job)
    return redirect("workspace:import_detail", job.id)


@require_http_methods(["GET", "POST"])
@login_required
def corpus_import(request, name: str):
    corpus = _corpus_or_404(request, name)
    if not _kinds_allowed(request.user):
        raise PermissionDenied
    form = _import_form(request, initial={"kind": request.GET.get("kind", "queries")})
    if request.method == "POST" and form.is_valid():
        if not request.user.has_perms(IMPORT_PERMISSIONS[form.cleaned_data["kind"]]):
            raise PermissionDenied
        try:
            job = _import_start(request, form, corpus.name)
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            return _to_job(request, job)
    return render(request, "workspace/corpus_import.html", {"corpus": corpus, "form": form})


@require_GET
@permission_required("labeling.view_importjob", raise_exception=True)
def import_detail(request: HtmxHttpRequest, job_id: int):
    job = get_object_or_404(ImportJob, id=job_id)
    context = {"job": job, "active": job.is_active,
               "corpus": Corpus.objects.filter(name=job.corpus_name).first()}
    return page_or_fragment(request, template="workspace/import_detail.html", fragment="status", context=context)


@require_GET
@login_required
def corpus_detail(request: HtmxHttpRequest, name: str):
    corpus = _corpus_or_404(request, name)
    search = DocumentSearchForm(request.GET or None)
    text = search.cleaned_data["q"] if search.is_valid() else ""
    documents = Paginator(documents_search(corpus=corpus, text=text), PAGE_SIZE).get_page(request.GET.get("page"))
    people, labelers = graders_of_corpus(corpus=corpus)
    context = {"corpus": corpus, "counts": corpus_counts(corpus=corpus), "search": search, "q": text,
               "people": people, "labelers": labelers if request.user.has_perm("labeling.view_modellabel") else [],
               "documents": documents, "imports": import_jobs_of_corpus(corpus_name=corpus.name),
               "benchmarks": corpus.benchmark_builds.filter(benchmark__isnull=False).select_related("benchmark")}
    return page_or_fragment(request, template="workspace/corpus_detail.html", fragment="documents", context=context)


@require_GET
@login_required
def document_detail(request, name: str, document_id: int):
    corpus = _corpus_or_404(request, name)
    document = corpus.documents.filter(id=document_id).first()
    if document is None:
        raise Http404("no such document in this corpus")
    # No query to highlight: the document as graders read it.
    return render(request, "workspace/document_detail.html", {"corpus": corpus, "document": document,
                                                              "query": {"text": ""}})
