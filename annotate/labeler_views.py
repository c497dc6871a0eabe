"""The labeler pages (read-only, for reviewers and admins): each labeler's backend, model and the
prompt it grades with (text and version), the prompt versions its labels carry, and its agreement
with a benchmark's people per prompt version (?benchmark=, ?prompt_version= to pick one)."""

from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Count
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import render
from django.views.decorators.http import require_GET

from labeling.models import Labeler, ModelLabel
from labeling.selectors import labeler_prompt, labeler_prompt_versions

from .selectors import benchmarks_visible_to, labeler_agreement_rows

MAX_VERSION_LENGTH = ModelLabel._meta.get_field("prompt_version").max_length or 100


@require_GET
@login_required
@permission_required("labeling.view_labeler", raise_exception=True)
def labeler_list(request):
    labelers = Labeler.objects.annotate(n_labels=Count("labels")).order_by("name")
    return render(request, "annotate/labeler_list.html", {"labelers": labelers})


@require_GET
@login_required
@permission_required("labeling.view_labeler", raise_exception=True)
def labeler_detail(request, name: str):
    labeler = Labeler.objects.filter(name=name).first()
    if labeler is None:
        raise Http404("No such labeler.")
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
    context = {
        "labeler": labeler, "prompt": prompt, "prompt_error": prompt_error, "versions": versions,
        "benchmarks": benchmarks, "benchmark": benchmark, "chosen": chosen if chosen in versions else None,
        "problems": problems,
        "rows": (labeler_agreement_rows(labeler=labeler, benchmark=benchmark, prompt_versions=shown)
                 if benchmark else []),
        "members": _members(labeler),
    }
    return render(request, "annotate/labeler_detail.html", context)


def _members(labeler: Labeler) -> list[str] | None:
    """An ensemble's members that exist (its params are an admin's free JSON)."""
    names = labeler.params.get("members") if labeler.backend == Labeler.Backend.ENSEMBLE else None
    if not isinstance(names, list):
        return None
    asked = [n for n in names if isinstance(n, str)]
    found = set(Labeler.objects.filter(name__in=asked).values_list("name", flat=True))
    return [n for n in names if n in found]
