"""Benchmarks: a new one from a corpus (its pairs chosen on a worker, the build's progress
polled), with a preview of its guidelines; its set-up page: members with their progress and
gold accuracy, added and removed, and its downloads."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotate.models import Benchmark, Membership
from annotate.selectors import gold_accuracy, progress_get
from annotate.services import annotator_create, membership_add, membership_remove
from annotate.text import markdown_safe
from config.htmx import HtmxHttpRequest, page_or_fragment
from config.notices import unsent_warn
from distill.models import BenchmarkBuild
from distill.services.benchmark_builds import benchmark_build_create
from labeling.services.import_jobs import import_upload_save

from ..forms import BenchmarkForm, MemberAddForm
from . import benchmark_or_404


def _params(data: dict) -> dict:
    params = {"query_ids": data["query_ids"], "title": data["title"], "guidelines": data["guidelines"],
              "judgments_required": data["judgments_required"], "gold_share": data["gold_share"],
              "calibration": data["calibration"], "reference": data["reference"].name if data["reference"] else "",
              "seed": 0}
    if data["method"] in ("bm25", "runs"):
        params["k"] = data["k"]
    if data["method"] == "stratified":
        params |= {"labeler": data["labeler"].name, "n": data["n"]}
    return params


@require_http_methods(["GET", "POST"])
@permission_required(["annotate.add_benchmark", "annotate.add_benchmarkitem", "labeling.add_pair"],
                     raise_exception=True)
def benchmark_new(request: HtmxHttpRequest):
    form = BenchmarkForm(request.POST or None, request.FILES or None, initial={"corpus": request.GET.get("corpus")})
    preview = None
    if request.method == "POST" and "preview" in request.POST:
        preview = markdown_safe(request.POST.get("guidelines", "")[:100_000])
        if request.htmx:
            return render(request, "workspace/benchmark_new.html#preview", {"preview": preview})
        form = BenchmarkForm(initial=request.POST.dict())  # without JS: the page again, as typed, no errors yet
    elif request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        params = _params(data)
        if data["method"] == "runs":
            params |= {"uploaded": True, "run_paths": [str(import_upload_save(name=f.name, chunks=f.chunks()))
                                                       for f in data["runs"]]}
        try:
            build = benchmark_build_create(name=data["name"], corpus=data["corpus"], method=data["method"],
                                           params=params, user=request.user)
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            unsent_warn(request, build)
            return redirect("workspace:build_detail", build.id)
    return render(request, "workspace/benchmark_new.html", {"form": form, "preview": preview})


@require_GET
@permission_required("annotate.add_benchmark", raise_exception=True)
def build_detail(request: HtmxHttpRequest, build_id: int):
    build = get_object_or_404(BenchmarkBuild.objects.select_related("corpus", "benchmark"), id=build_id)
    context = {"build": build, "active": build.is_active}
    return page_or_fragment(request, template="workspace/build_detail.html", fragment="status", context=context)


def _member_rows(benchmark: Benchmark) -> list[dict]:
    accuracy = {a.annotator_id: a for a in gold_accuracy(benchmark=benchmark)}
    rows = []
    for membership in Membership.objects.filter(benchmark=benchmark).select_related("user").order_by("user__username"):
        rows.append({"user": membership.user, "progress": progress_get(benchmark=benchmark, annotator=membership.user),
                     "gold": accuracy.get(membership.user_id)})
    return rows


@require_http_methods(["GET", "POST"])
@permission_required("annotate.view_membership", raise_exception=True)
def benchmark_setup(request, name: str):
    """The benchmark's set-up page: its items, its members (added here), and its downloads."""
    benchmark = benchmark_or_404(request, name)
    may_create = request.user.has_perm("auth.add_user")
    form = MemberAddForm(request.POST or None, may_create=may_create)
    if request.method == "POST":
        if not request.user.has_perm("annotate.add_membership"):
            raise PermissionDenied
        if form.is_valid():
            data = form.cleaned_data
            with transaction.atomic():
                if data.get("create"):
                    user = annotator_create(username=data["username"], password=data["password"])
                else:
                    user = get_user_model().objects.get(username=data["username"])
                added = membership_add(benchmark=benchmark, users=[user])
            messages.success(request, f"{user.get_username()} added." if added
                             else f"{user.get_username()} was a member already.")
            return redirect("workspace:benchmark_setup", benchmark.name)
    context = {"benchmark": benchmark, "form": form, "members": _member_rows(benchmark),
               "build": BenchmarkBuild.objects.filter(benchmark=benchmark).select_related("corpus").first()}
    return render(request, "workspace/benchmark_setup.html", context)


@require_POST
@permission_required("annotate.delete_membership", raise_exception=True)
def member_remove(request, name: str, user_id: int):
    benchmark = benchmark_or_404(request, name)
    user = get_object_or_404(get_user_model(), id=user_id)
    if membership_remove(benchmark=benchmark, users=[user]):
        messages.success(request, f"{user.get_username()} removed (their judgments stay).")
    return redirect("workspace:benchmark_setup", benchmark.name)
