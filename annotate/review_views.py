"""The review pages, for reviewers and admins: the disagreement queue and its decisions (keys
or clicks), undo, and the audit log. Parse, call annotate.review or the review service,
render; with htmx a POST answers the `#pair` fragment (the next disagreement), without
JavaScript it redirects to the queue, whose choices stay in the query string."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.htmx import HtmxHttpRequest, fragment_or_redirect

from .forms import DecisionForm, ReviewFilterForm, SpotDrawForm, id_errors
from .models import Benchmark
from .review import (
    CANT_JUDGE,
    CONSENSUS,
    DEFAULT_SPREAD,
    PEOPLE,
    SPOT,
    cant_judge_pairs,
    disagreements,
    pair_evidence,
    people_disagreements,
    review_counts,
    review_labelers,
    review_log,
    spot_check_queue,
)
from .selectors import benchmark_excluded_annotators, highlight_preference
from .services.review import ReviewError, adjudication_decide, adjudication_undo, spot_checks_draw
from .views import GRADES, bad_request, benchmark_or_404

FILTERS = ("labeler", "mode", "spread", "query", "grade", "model_grade", "annotator")
RECENT = 5


def _benchmark(request, name: str) -> Benchmark:
    allowed = request.user.is_active and request.user.has_perm("annotate.review_pair")
    return benchmark_or_404(request, name, allowed=allowed, refusal="Reviewing is for reviewers and admins.")


def _choices(request, benchmark: Benchmark) -> dict:
    """The queue's labeler and filters from the query string; a bad value counts as unset."""
    form = ReviewFilterForm(request.GET)
    form.is_valid()
    data = {name: form.cleaned_data.get(name) for name in [*FILTERS, "pair"]}
    labelers = list(review_labelers(benchmark=benchmark))
    labeler = next((lab for lab in labelers if lab.name == data["labeler"]), labelers[0] if labelers else None)
    annotators = list(get_user_model().objects.filter(judgments__pair__benchmark_items__benchmark=benchmark)
                      .distinct().order_by("username"))
    annotator = next((a for a in annotators if a.username == data["annotator"]), None)
    kept = {name: data[name] for name in FILTERS if data[name] not in (None, "")}
    # Without a model on the benchmark, the people's own disagreements are the queue.
    mode = data["mode"] or (CONSENSUS if labeler else PEOPLE)
    return {"data": data, "labelers": labelers, "labeler": labeler, "annotators": annotators, "annotator": annotator,
            "mode": mode, "spread": data["spread"] or DEFAULT_SPREAD, "query_string": urlencode(kept),
            # The model whose grades are reviewed: none in the people's queue (nor in its log entries).
            "reviewed": labeler if mode in (CONSENSUS, "any") else None}


def _queue_url(benchmark: Benchmark, query_string: str, **extra) -> str:
    url = reverse("annotate:review", args=[benchmark.name])
    query = "&".join(q for q in (query_string, urlencode(extra)) if q)
    return f"{url}?{query}" if query else url


def _context(request, benchmark: Benchmark, choices: dict, *, focus: int | None = None) -> dict:
    data, labeler = choices["data"], choices["reviewed"]
    exclude = benchmark_excluded_annotators(benchmark=benchmark)
    queue = []
    if choices["mode"] == PEOPLE:
        queue = people_disagreements(benchmark=benchmark, spread=choices["spread"], query=data["query"] or "",
                                     grade=data["grade"], annotator=choices["annotator"], exclude=exclude)
    elif choices["mode"] == CANT_JUDGE:
        queue = cant_judge_pairs(benchmark=benchmark, query=data["query"] or "", exclude=exclude)
    elif choices["mode"] == SPOT:
        queue = spot_check_queue(benchmark=benchmark, exclude=exclude)
    elif labeler is not None:
        queue = disagreements(benchmark=benchmark, labeler=labeler, mode=choices["mode"], query=data["query"] or "",
                              grade=data["grade"], model_grade=data["model_grade"], annotator=choices["annotator"],
                              exclude=exclude)
    if choices["mode"] in (PEOPLE, CONSENSUS, "any") and (labeler is not None or choices["mode"] == PEOPLE):
        # This source's spot-checks follow its disagreements, marked as such.
        listed = {d.pair_id for d in queue}
        queue += [d for d in spot_check_queue(benchmark=benchmark, labeler=labeler, any_source=False, exclude=exclude)
                  if d.pair_id not in listed]
    focus = focus or data["pair"]
    current = next((d for d in queue if d.pair_id == focus), queue[0] if queue else None)
    recent = list(review_log(benchmark=benchmark).filter(decided_by=request.user)[:RECENT])
    return {
        **choices,
        "benchmark": benchmark,
        "grades": GRADES,
        "remaining": len(queue),
        "current": current,
        "evidence": pair_evidence(pair_id=current.pair_id, labeler=labeler) if current else None,
        "counts": review_counts(benchmark=benchmark),
        "spot_checks": sum(d.spot_check for d in queue),
        "highlight": highlight_preference(user=request.user),
        "recent": recent,
        "can_undo": bool(recent),
    }


def _next_disagreement(request: HtmxHttpRequest, benchmark: Benchmark, choices: dict, *, focus: int | None = None):
    """After a POST: the next disagreement as a fragment for htmx, a redirect for a plain form."""
    extra = {"pair": focus} if focus else {}
    return fragment_or_redirect(request, template="annotate/review.html", fragment="pair",
                                context=lambda: _context(request, benchmark, choices, focus=focus),
                                url=_queue_url(benchmark, choices["query_string"], **extra))


@login_required
@require_http_methods(["GET", "POST"])
def review(request: HtmxHttpRequest, name: str):
    benchmark = _benchmark(request, name)
    choices = _choices(request, benchmark)
    if request.method == "GET":
        return render(request, "annotate/review.html", _context(request, benchmark, choices))
    form = DecisionForm(request.POST)
    if not form.is_valid():
        if bad_id := id_errors(form, "pair"):
            return bad_request(bad_id)
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return _next_disagreement(request, benchmark, choices)
    data = form.cleaned_data
    try:
        decision = adjudication_decide(
            benchmark=benchmark, pair_id=data["pair"], reviewer=request.user, action=data["action"],
            labeler=choices["reviewed"], grade=data["grade"], comment=data["comment"],
        )
    except ReviewError as exc:
        messages.warning(request, str(exc))
    else:
        messages.success(request, f"Decided: {decision.get_action_display().lower()} ({decision.after_label}).")
    return _next_disagreement(request, benchmark, choices)


@login_required
@require_POST
def review_undo(request: HtmxHttpRequest, name: str):
    benchmark = _benchmark(request, name)
    choices = _choices(request, benchmark)
    try:
        entry = adjudication_undo(benchmark=benchmark, reviewer=request.user)
    except ReviewError as exc:
        messages.warning(request, str(exc))
        return _next_disagreement(request, benchmark, choices)
    if entry is None:
        messages.info(request, "Nothing to undo.")
        return _next_disagreement(request, benchmark, choices)
    messages.info(request,
                  f"Undone: this pair was {entry.before_label}, it is {entry.after_label} again. Decide it anew.")
    return _next_disagreement(request, benchmark, choices, focus=entry.pair_id)


@login_required
@require_GET
def review_log_page(request, name: str):
    benchmark = _benchmark(request, name)
    page = Paginator(review_log(benchmark=benchmark), 50).get_page(request.GET.get("page"))
    return render(request, "annotate/review_log.html", {"benchmark": benchmark, "page": page})


@login_required
@require_POST
def review_spot_draw(request: HtmxHttpRequest, name: str):
    """Draw spot-checks among the pairs the queue's source agreed on (the model in the query
    string, or the people), the share given or the benchmark's."""
    benchmark = _benchmark(request, name)
    choices = _choices(request, benchmark)
    form = SpotDrawForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The share of pairs to check is a number from 0 to 1.")
        return _next_disagreement(request, benchmark, choices)
    source = choices["reviewed"] if choices["mode"] != PEOPLE else None
    try:
        drawn = spot_checks_draw(benchmark=benchmark, labeler=source, share=form.cleaned_data["share"],
                                 drawn_by=request.user, exclude=benchmark_excluded_annotators(benchmark=benchmark))
    except ReviewError as exc:
        messages.warning(request, str(exc))
    else:
        messages.info(request, f"Drew {len(drawn)} spot-check{'s' if len(drawn) != 1 else ''} among the pairs "
                               f"{'the people' if source is None else source.name} agreed on.")
    return _next_disagreement(request, benchmark, choices)
