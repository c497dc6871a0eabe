from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.htmx import HtmxHttpRequest, page_or_fragment
from config.notices import unsent_warn

from .forms import RunLaunchForm
from .models import Run
from .selectors import RunEstimate, run_cost, run_estimate, run_is_active, run_rounds_rows, run_stage_rows
from .services.next_round import run_next_round
from .services.runs import run_cancel, run_launch, run_retry


@require_GET
@permission_required("distill.view_run", raise_exception=True)
def run_list(request):
    return render(request, "distill/run_list.html", {"runs": Run.objects.select_related("corpus", "benchmark")[:100]})


@require_http_methods(["GET", "POST"])
@permission_required("distill.add_run", raise_exception=True)
def run_new(request):
    form = RunLaunchForm(request.POST or None)
    if request.method == "POST" and request.POST.get("action") != "estimate" and form.is_valid():
        run = run_launch(name=form.cleaned_data["name"], corpus=form.cleaned_data["corpus"],
                         benchmark=form.cleaned_data["benchmark"], config=form.config(), user=request.user)
        unsent_warn(request, run)
        return redirect("distill:run_detail", run.id)
    return render(request, "distill/run_new.html", {"form": form, "estimate": _estimate(form)})


def _estimate(form: RunLaunchForm) -> RunEstimate | None:
    data = form.choices()
    if not data.get("teacher"):
        return None
    return run_estimate(teacher=data["teacher"], benchmark=data.get("benchmark"), **{
        key: data[key] for key in ("seed_documents", "queries_per_document", "bm25_negatives", "random_negatives")})


@require_GET
@permission_required("distill.view_run", raise_exception=True)
def run_detail(request: HtmxHttpRequest, run_id: int):
    run = get_object_or_404(Run.objects.select_related("corpus", "benchmark", "created_by"), id=run_id)
    if not request.htmx and not messages.get_messages(request):
        unsent_warn(request, run)
    context = {"run": run, "stages": run_stage_rows(run), "active": run_is_active(run), "rounds": run_rounds_rows(run),
               "cost": run_cost(run)}
    return page_or_fragment(request, template="distill/run_detail.html", fragment="status", context=context)


@require_POST
@permission_required("distill.change_run", raise_exception=True)
def run_cancel_view(request, run_id: int):
    run = get_object_or_404(Run, id=run_id)
    if not run_cancel(run=run):
        messages.warning(request, "The run had already ended.")
    return redirect("distill:run_detail", run.id)


@require_POST
@permission_required("distill.change_run", raise_exception=True)
def run_retry_view(request, run_id: int):
    run = get_object_or_404(Run, id=run_id)
    if not run_retry(run=run):
        messages.warning(request, "Only a failed or cancelled run can be retried.")
    else:
        unsent_warn(request, run)
    return redirect("distill:run_detail", run.id)


@require_POST
@permission_required("distill.add_run", raise_exception=True)
def run_next_round_view(request, run_id: int):
    """Train the next student: this run's config, plus the reviewers' decisions on its benchmark."""
    previous = get_object_or_404(Run.objects.select_related("benchmark", "corpus"), id=run_id)
    try:
        run = run_next_round(previous=previous, user=request.user)
    except ValueError as exc:
        messages.warning(request, str(exc))
        return redirect("distill:run_detail", previous.id)
    unsent_warn(request, run)
    return redirect("distill:run_detail", run.id)
