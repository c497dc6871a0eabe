"""The labeler pages. For reviewers and admins, read-only: each labeler's backend, model and the
prompt it grades with (text and version), the prompt versions its labels carry, and its agreement
with a benchmark's people per prompt version (?benchmark=, ?prompt_version= to pick one). For
admins: a form per backend to create or edit one, and a test button that grades three pairs."""

from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Count
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotate.selectors import benchmarks_visible_to, labeler_agreement_rows
from config.htmx import HtmxHttpRequest, page_or_fragment
from labeling.job_estimate import labeler_projection
from labeling.models import Labeler, ModelLabel
from labeling.selectors import labeler_prompt, labeler_prompt_versions
from labeling.services.labeler_setup import TEST_PAIRS, labeler_create, labeler_test, labeler_update

from ..labeler_forms import FORM_BACKENDS, LabelerForm

MAX_VERSION_LENGTH = ModelLabel._meta.get_field("prompt_version").max_length or 100


@require_GET
@login_required
@permission_required("labeling.view_labeler", raise_exception=True)
def labeler_list(request):
    labelers = Labeler.objects.annotate(n_labels=Count("labels")).order_by("name")
    return render(request, "workspace/labeler_list.html", {"labelers": labelers})


@require_GET
@login_required
@permission_required("labeling.view_labeler", raise_exception=True)
def labeler_detail(request, name: str):
    labeler = _labeler_or_404(name)
    chosen = request.GET.get("prompt_version")
    if chosen is not None and len(chosen) > MAX_VERSION_LENGTH:
        return HttpResponseBadRequest("prompt_version is too long.")
    versions = labeler_prompt_versions(labeler=labeler)
    benchmarks = list(benchmarks_visible_to(user=request.user).order_by("name"))
    wanted = request.GET.get("benchmark")
    benchmark = next((b for b in benchmarks if b.name == wanted), None) if wanted else (benchmarks[0] if benchmarks
                                                                                       else None)
    problems = []
    if wanted and benchmark is None:
        problems.append(f"No benchmark named {wanted[:100]!r} that you can see.")
    if chosen is not None and chosen not in versions:
        problems.append(f"This labeler has no labels with prompt version {chosen!r}.")
    shown = [chosen] if chosen in versions else list(versions)
    try:
        prompt, prompt_error = labeler_prompt(labeler=labeler), ""
    except (OSError, KeyError, ValueError) as exc:  # a prompt named in params that is not there, or malformed
        prompt, prompt_error = None, str(exc)
    measured = labeler_projection(labeler=labeler, pairs=1000)
    context = {
        "labeler": labeler, "prompt": prompt, "prompt_error": prompt_error, "versions": versions,
        "benchmarks": benchmarks, "benchmark": benchmark, "chosen": chosen if chosen in versions else None,
        "problems": problems,
        "rows": (labeler_agreement_rows(labeler=labeler, benchmark=benchmark, prompt_versions=shown)
                 if benchmark else []),
        "members": _members(labeler),
        "editable": labeler.backend in FORM_BACKENDS,
        "jobs": labeler.jobs.order_by("-created_at", "-id")[:10],
        "measured": measured,
    }
    return render(request, "workspace/labeler_detail.html", context)


def _labeler_or_404(name: str) -> Labeler:
    labeler = Labeler.objects.filter(name=name[:100]).first()
    if labeler is None:
        raise Http404("No such labeler.")
    return labeler


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("labeling.add_labeler", raise_exception=True)
def labeler_new(request):
    """?backend= picks the form (OpenAI-compatible first: the usual teacher)."""
    backend = request.GET.get("backend") or Labeler.Backend.OPENAI
    if backend not in FORM_BACKENDS:
        return HttpResponseBadRequest("Unknown backend.")
    form = LabelerForm(request.POST or None, backend=backend)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            labeler = labeler_create(name=data["name"], role=data["role"], backend=backend,
                                     model_ref=data.get("model_ref", ""), params=form.params())
        except ValueError as exc:
            form.add_error("name", str(exc))
        else:
            return redirect("workspace:labeler_detail", labeler.name)
    return render(request, "workspace/labeler_form.html", {
        "form": form, "backend": backend, "backend_label": Labeler.Backend(backend).label,
        "backends": [(b, Labeler.Backend(b).label) for b in FORM_BACKENDS]})


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("labeling.change_labeler", raise_exception=True)
def labeler_edit(request, name: str):
    labeler = _labeler_or_404(name)
    if labeler.backend not in FORM_BACKENDS:
        return HttpResponseBadRequest(f"A {labeler.get_backend_display()} labeler is set up by its command.")
    form = LabelerForm(request.POST or None, backend=labeler.backend, labeler=labeler)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            labeler_update(labeler=labeler, role=data["role"], model_ref=data.get("model_ref", ""),
                           prompt_version=labeler.prompt_version, params=form.params())
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("workspace:labeler_detail", labeler.name)
    return render(request, "workspace/labeler_form.html", {
        "form": form, "labeler": labeler, "backend": labeler.backend, "backend_label": labeler.get_backend_display()})


@require_POST
@login_required
@permission_required("labeling.change_labeler", raise_exception=True)
def labeler_test_view(request: HtmxHttpRequest, name: str):
    """Grade the three test pairs now (bounded: see labeler_setup.TEST_TIMEOUT_S) and show the
    grades, latency and tokens, or why it could not. As a fragment with htmx, else the page."""
    labeler = _labeler_or_404(name)
    context = {"labeler": labeler, "result": labeler_test(labeler=labeler, pairs=len(TEST_PAIRS))}
    return page_or_fragment(request, template="workspace/labeler_test.html", fragment="result", context=context)


def _members(labeler: Labeler) -> list[str] | None:
    """An ensemble's members that exist (its params are an admin's free JSON)."""
    names = labeler.params.get("members") if labeler.backend == Labeler.Backend.ENSEMBLE else None
    if not isinstance(names, list):
        return None
    asked = [n for n in names if isinstance(n, str)]
    found = set(Labeler.objects.filter(name__in=asked).values_list("name", flat=True))
    return [n for n in names if n in found]
