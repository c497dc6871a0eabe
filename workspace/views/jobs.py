"""Labeling jobs in the browser: the form with its estimate before launch, the list, and a job's
page (progress, pairs/s, cost so far, set-aside pairs, Cancel), polled by htmx while it runs and
refreshed by the browser without JavaScript."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.htmx import HtmxHttpRequest, page_or_fragment
from config.notices import unsent_warn
from labeling.job_estimate import labeling_job_estimate
from labeling.models import Labeler, LabelingJob
from labeling.selectors import jobs_throughput, set_aside_reasons, set_aside_rows
from labeling.services.labeling_jobs import labeling_job_cancel, labeling_job_create
from labeling.services.promotion import NotPromoted, promotion_refusal

from ..job_forms import LabelingJobForm


@require_GET
@login_required
@permission_required("labeling.view_labelingjob", raise_exception=True)
def job_list(request):
    jobs = LabelingJob.objects.select_related("labeler").order_by("-created_at", "-id")[:200]
    return render(request, "workspace/job_list.html", {"jobs": jobs})


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("labeling.add_labelingjob", raise_exception=True)
def job_new(request):
    """GET: the form (?labeler=, ?benchmark= preselect). POST "estimate": the form again with what
    the job would take; POST "launch": the job, then its page."""
    initial = {key: request.GET[key][:100] for key in ("labeler", "benchmark", "corpus") if key in request.GET}
    form = LabelingJobForm(request.POST or None, request.FILES or None, initial=initial)
    estimate = refusal = None
    if request.method == "POST" and form.is_valid():
        labeler: Labeler = form.cleaned_data["labeler"]
        refusal = (promotion_refusal(labeler) or "").replace("--force", "the “Label anyway” box")
        if request.POST.get("action") == "launch":
            try:
                job = labeling_job_create(labeler=labeler, scope=form.scope, description=form.description,
                                          batch_size=form.cleaned_data["batch_size"],
                                          gated=not form.cleaned_data["force"])
            except NotPromoted:
                form.add_error("force", "This student has not passed its promotion gate: tick “Label anyway” to "
                                        "label with it all the same.")
            except ValueError as exc:
                form.add_error(None, str(exc))
            else:
                unsent_warn(request, job)
                return redirect("workspace:job_detail", job.id)
        if form.is_valid():
            estimate = labeling_job_estimate(labeler=labeler, scope=form.scope)
    return render(request, "workspace/job_new.html", {
        "form": form, "estimate": estimate, "refusal": refusal,
        "description": form.description if estimate else ""})


@require_GET
@login_required
@permission_required("labeling.view_labelingjob", raise_exception=True)
def job_detail(request: HtmxHttpRequest, job_id: int):
    job = get_object_or_404(LabelingJob.objects.select_related("labeler"), id=job_id)
    context = {"job": job, "active": job.is_active, "throughput": jobs_throughput(jobs=[job]),
               "percent": int(100 * job.done / job.total) if job.total else 0,
               "set_aside": set_aside_reasons(job=job) if job.set_aside else {},
               "set_aside_rows": set_aside_rows(job_ids=[job.id], limit=20) if job.set_aside else []}
    return page_or_fragment(request, template="workspace/job_detail.html", fragment="status", context=context)


@require_POST
@login_required
@permission_required("labeling.change_labelingjob", raise_exception=True)
def job_cancel(request, job_id: int):
    job = get_object_or_404(LabelingJob, id=job_id)
    if not job.is_active:
        messages.warning(request, "The job had already ended.")
    labeling_job_cancel(job=job)
    return redirect("workspace:job_detail", job.id)
