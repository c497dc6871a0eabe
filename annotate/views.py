"""The grading pages: parse, call a service or selector, render. With htmx a POST answers the
`#pair` fragment (the next pair, the progress, the recent grades); without JavaScript it
redirects to the grading page, which shows the next pair."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.htmx import HtmxHttpRequest, fragment_or_redirect, page_or_fragment, redirect_page
from labeling.grades import DEFINITIONS, Grade

from . import dashboard, services
from .forms import GradeForm, LeaseForm, RegradeForm, id_errors
from .models import Benchmark, BenchmarkItem, Skip
from .selectors import (
    RECENT_EDITABLE,
    annotator_gate,
    benchmark_visible_get,
    benchmarks_visible_to,
    grades_recent,
    highlight_preference,
    progress_get,
    user_can_grade,
)

GRADES = [{"value": g.value, "label": g.label, "definition": DEFINITIONS[g]} for g in Grade]
GRADE_LABEL = {g.value: g.label for g in Grade}
# "Can't judge" reasons with their keys (pressed once the panel is open).
CANT_JUDGE_REASONS = [{"value": r.value, "label": r.label, "key": r.value[0]} for r in Skip.Reason]


def benchmark_or_404(request, name: str, *, allowed: bool, refusal: str) -> Benchmark:
    """The benchmark if the user may do this (`allowed`, else 403 with `refusal`) and may see
    it (else 404: one they do not belong to looks like one that does not exist)."""
    if not allowed:
        raise PermissionDenied(refusal)
    try:
        return benchmark_visible_get(user=request.user, name=name)
    except Benchmark.DoesNotExist:
        raise Http404("No such benchmark.") from None


def _benchmark(request, name: str) -> Benchmark:
    return benchmark_or_404(request, name, allowed=user_can_grade(user=request.user),
                            refusal="You have no grading role.")


def _grade_url(benchmark: Benchmark) -> str:
    return reverse("annotate:grade", args=[benchmark.name])


def _needs_guidelines(benchmark: Benchmark, user) -> bool:
    if not benchmark.guidelines.strip():
        return False
    return services.membership_for(benchmark=benchmark, annotator=user).guidelines_seen_at is None


def _to_guidelines(request: HtmxHttpRequest, benchmark: Benchmark):
    """A grading POST before the guidelines were accepted: to the guidelines (htmx: the whole page)."""
    messages.info(request, "Read the guidelines and accept them first.")
    url = reverse("annotate:guidelines", args=[benchmark.name])
    return redirect_page(request, url)


def bad_request(message: str) -> HttpResponseBadRequest:
    """400 for a request no page sends (an id out of range, a missing field), with the reason."""
    return HttpResponseBadRequest(f"Bad request: {message}\n", content_type="text/plain; charset=utf-8")


def _kept_message(submitted: services.Submitted, grade: int) -> str | None:
    """A resubmit of a graded pair changes nothing: say which grade was kept, if it differs."""
    if submitted.created or submitted.judgment.grade == grade:
        return None
    kept = submitted.judgment.grade
    return (f"You had already graded this pair {kept} · {GRADE_LABEL[kept]}; that grade was kept, not "
            f"{grade} · {GRADE_LABEL[grade]}. To change it, use your last grades in the list.")


def _calibration_feedback(submitted: services.Submitted, item_id: int) -> str | None:
    """After a calibration pair with a known grade: that grade and why (the item's note)."""
    item = BenchmarkItem.objects.filter(pk=item_id, is_calibration=True, gold_grade__isnull=False).first()
    if item is None or item.gold_grade is None or not submitted.created:
        return None
    given, expected = submitted.judgment.grade, item.gold_grade
    verdict = "Right" if given == expected else f"You gave {given} · {GRADE_LABEL[given]}"
    why = f" Why: {item.note.strip()}" if item.note.strip() else ""
    return f"Calibration: {verdict}; the expected grade is {expected} · {GRADE_LABEL[expected]}.{why}"


def _pair_context(request, benchmark: Benchmark, *, undone: services.Undone | None = None) -> dict:
    lease = services.pair_next_for_annotator(benchmark=benchmark, annotator=request.user)
    item = lease.item if lease else None
    pair = None
    if item is not None:
        item = BenchmarkItem.objects.select_related("pair__query", "pair__document").get(pk=item.pk)
        pair = item.pair
    progress = progress_get(benchmark=benchmark, annotator=request.user)
    return {
        # Nothing to grade: say so if the gold gate is why.
        "gate": annotator_gate(benchmark=benchmark, annotator=request.user) if item is None else None,
        "benchmark": benchmark,
        "lease": lease,
        "item": item,
        # Blind grading: never the gold grade, a model's label or anyone else's grade.
        "is_calibration": bool(item and item.is_calibration),
        "query": pair.query if pair else None,
        "document": pair.document if pair else None,
        "grades": GRADES,
        "reasons": CANT_JUDGE_REASONS,
        "highlight": highlight_preference(user=request.user),
        "progress": progress,
        "recent": grades_recent(benchmark=benchmark, annotator=request.user),
        "recent_limit": RECENT_EDITABLE,
        "undone": undone,
        "lease_seconds": int(services.lease_duration().total_seconds()),
    }


def _next_pair(request: HtmxHttpRequest, benchmark: Benchmark, *, undone: services.Undone | None = None):
    """After a POST: the next pair as a fragment for htmx, a redirect for a plain form."""
    return fragment_or_redirect(request, template="annotate/grade.html", fragment="pair",
                                context=lambda: _pair_context(request, benchmark, undone=undone),
                                url=_grade_url(benchmark))


@login_required
@require_GET
def benchmark_list(request):
    benchmarks = list(benchmarks_visible_to(user=request.user).order_by("name"))
    rows = [{"benchmark": b, "progress": progress_get(benchmark=b, annotator=request.user)} for b in benchmarks]
    return render(request, "annotate/benchmark_list.html",
                  {"rows": rows, "can_grade": user_can_grade(user=request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def guidelines(request, name: str):
    benchmark = _benchmark(request, name)
    if request.method == "POST":
        services.guidelines_accept(benchmark=benchmark, annotator=request.user)
        return redirect(_grade_url(benchmark))
    first_time = _needs_guidelines(benchmark, request.user)
    return render(request, "annotate/guidelines.html", {"benchmark": benchmark, "first_time": first_time,
                                                        "grades": GRADES})


@login_required
@require_http_methods(["GET", "POST"])
def grade(request: HtmxHttpRequest, name: str):
    benchmark = _benchmark(request, name)
    if request.method == "GET":
        if _needs_guidelines(benchmark, request.user):
            return redirect("annotate:guidelines", name=benchmark.name)
        return render(request, "annotate/grade.html", _pair_context(request, benchmark))
    if _needs_guidelines(benchmark, request.user):
        return _to_guidelines(request, benchmark)
    form = GradeForm(request.POST)
    if not form.is_valid():
        if bad_id := id_errors(form, "item"):
            return bad_request(bad_id)
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return _next_pair(request, benchmark)
    data = form.cleaned_data
    try:
        if data["action"] == "skip":
            services.pair_skip(benchmark=benchmark, annotator=request.user, item_id=data["item"])
        elif data["action"] == "cant_judge":
            services.pair_cant_judge(benchmark=benchmark, annotator=request.user, item_id=data["item"],
                                     reason=data["reason"], note=data["comment"])
            messages.info(request, "Noted: you cannot judge that pair. It goes to the reviewers and not back to you.")
        else:
            submitted = services.judgment_submit(
                benchmark=benchmark, annotator=request.user, item_id=data["item"], grade=data["grade"],
                comment=data["comment"], input_method=data["input_method"],
            )
            if kept := _kept_message(submitted, data["grade"]):
                messages.warning(request, kept)
            elif feedback := _calibration_feedback(submitted, data["item"]):
                messages.info(request, feedback, extra_tags="calibration")
    except services.QueueError as exc:
        messages.warning(request, str(exc))
    return _next_pair(request, benchmark)


@login_required
@require_POST
def undo(request: HtmxHttpRequest, name: str):
    benchmark = _benchmark(request, name)
    if _needs_guidelines(benchmark, request.user):
        return _to_guidelines(request, benchmark)
    undone = services.judgment_undo(benchmark=benchmark, annotator=request.user)
    if undone is None:
        messages.info(request, "Nothing to undo.")
    else:
        messages.info(request,
                      f"Undone: you had graded this {undone.grade} · {GRADE_LABEL[undone.grade]}. Grade it again.")
    return _next_pair(request, benchmark, undone=undone)


@login_required
@require_POST
def regrade(request: HtmxHttpRequest, name: str, judgment_id: int):
    benchmark = _benchmark(request, name)
    if _needs_guidelines(benchmark, request.user):
        return _to_guidelines(request, benchmark)
    form = RegradeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Pick a grade (0-3).")
        return _next_pair(request, benchmark)
    try:
        judgment = services.judgment_regrade(
            benchmark=benchmark, annotator=request.user, judgment_id=judgment_id, grade=form.cleaned_data["grade"],
            input_method=form.cleaned_data["input_method"] or "click",
        )
    except services.QueueError as exc:
        messages.warning(request, str(exc))
    else:
        messages.success(request, f"Changed to {judgment.grade} · {GRADE_LABEL[judgment.grade]}.")
    return _next_pair(request, benchmark)


@login_required
@require_POST
def lease_renew(request, name: str):
    """The page's heartbeat while its annotator is active: 204, or 409 when the pair is gone."""
    benchmark = _benchmark(request, name)
    form = LeaseForm(request.POST)
    if not form.is_valid():
        return bad_request(id_errors(form, "item") or "item: a pair id is required.")
    held = services.lease_renew(benchmark=benchmark, annotator=request.user, item_id=form.cleaned_data["item"])
    return HttpResponse(status=204 if held else 409)


def _agreement_benchmark(request, name: str) -> Benchmark:
    allowed = request.user.is_active and request.user.has_perm("annotate.view_agreement")
    return benchmark_or_404(request, name, allowed=allowed, refusal="Agreement figures are for reviewers and admins.")


@login_required
@require_http_methods(["GET", "POST"])
def agreement(request: HtmxHttpRequest, name: str):
    """The agreement dashboard: the cached figures, a background refresh when they are missing
    or stale (GET) or when asked for (POST, the Refresh button)."""
    benchmark = _agreement_benchmark(request, name)
    sending = None
    if request.method == "POST" and "exclude_gated" in request.POST:
        # The gold gate's switch: admins only; the figures are recomputed at once.
        if not request.user.has_perm("annotate.change_benchmark"):
            raise PermissionDenied("Only admins change what the figures count.")
        services.benchmark_exclude_gated_set(benchmark=benchmark, exclude=request.POST["exclude_gated"] == "1")
        dashboard.benchmark_stats_refresh(benchmark_id=benchmark.pk)
        return redirect("annotate:agreement", name=benchmark.name)
    if request.method == "POST":
        sending = dashboard.benchmark_stats_enqueue(benchmark=benchmark, force=True)
        if not request.htmx:
            if sending and sending.failed:
                messages.warning(request, "The task queue is unreachable: the figures refresh once it is back.")
            else:
                messages.info(request, "Refresh queued: the figures update in a moment.")
            return redirect("annotate:agreement", name=benchmark.name)
    stats = dashboard.benchmark_stats_get(benchmark=benchmark)
    pending = request.method == "POST" or dashboard.benchmark_stats_is_stale(stats=stats)
    if pending and request.method == "GET":
        sending = dashboard.benchmark_stats_enqueue(benchmark=benchmark)
    context = {"benchmark": benchmark, "stats": stats, "data": stats.payload if stats else None, "pending": pending,
               "queue_unreachable": bool(sending and sending.failed), "stale_seconds": dashboard.STALE_SECONDS}
    return page_or_fragment(request, template="annotate/dashboard.html", fragment="stats", context=context)


@login_required
@require_POST
def highlight_toggle(request):
    """Turn the marking of query terms in documents on or off for this person, then back to
    the page they were on (only a page of this site)."""
    services.highlight_preference_set(user=request.user, highlight=request.POST.get("highlight") == "1")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = reverse("annotate:benchmark_list")
    return redirect(back)
