"""Benchmarks: list, one, members, progress, agreement figures (reads); create, members add (writes).

Who sees which benchmark is annotate.selectors' rule, as on the pages: an annotator their own,
reviewers and admins every one; a benchmark one may not see is a 404, like one that does not exist.
"""

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from ninja import Query, Router, Schema, Status
from pydantic import Field

from annotate.models import Benchmark, Membership
from annotate.selectors import benchmark_visible_get, benchmarks_visible_to, progress_get
from annotate.selectors.dashboard import benchmark_stats_get, benchmark_stats_is_stale
from annotate.services import benchmark_create, membership_add
from annotate.services.dashboard import benchmark_stats_enqueue

from ..auth import require, user_of
from ..errors import ERRORS, ApiError
from ..paging import PageOut, Paging, page

router = Router(tags=["benchmarks"])


class BenchmarkOut(Schema):
    id: int
    name: str
    title: str
    judgments_required: int
    gold_rate: float
    regular_count: int
    gold_count: int
    calibration_count: int
    created_at: datetime


class BenchmarkPage(PageOut):
    items: list[BenchmarkOut]


class MemberOut(Schema):
    username: str
    judged_regular: int
    judged_gold: int
    judged_calibration: int


class MemberPage(PageOut):
    items: list[MemberOut]


class ProgressOut(Schema):
    judgments_done: int = 0
    judgments_total: int = 0
    percent: int = 0
    mine: int = 0
    mine_total: int = 0


class AgreementOut(Schema):
    computed_at: datetime | None
    stale: bool
    refreshing: bool  # a refresh was asked of the workers
    figures: dict[str, Any] | None  # annotate.selectors.dashboard's payload: completion, alpha, kappas, ...


def benchmark_get(request, name: str) -> Benchmark:
    try:
        return benchmark_visible_get(user=user_of(request), name=name)
    except Benchmark.DoesNotExist:
        raise ApiError(404, "not_found", f"no benchmark named {name!r}", field="name") from None


@router.get("/benchmarks", response={200: BenchmarkPage, **ERRORS}, summary="List the benchmarks you may see")
def benchmark_list(request, paging: Query[Paging]):
    return page(benchmarks_visible_to(user=user_of(request)).order_by("name"), paging)


@router.get("/benchmarks/{name}", response={200: BenchmarkOut, **ERRORS}, summary="One benchmark")
def benchmark_detail(request, name: str):
    return benchmark_get(request, name)


@router.get("/benchmarks/{name}/members", response={200: MemberPage, **ERRORS}, summary="Who grades it")
def benchmark_members(request, name: str, paging: Query[Paging]):
    require(request, "annotate.view_membership")
    benchmark = benchmark_get(request, name)
    members = Membership.objects.filter(benchmark=benchmark).select_related("user").order_by("user__username")
    result = page(members, paging)
    result["items"] = [{"username": m.user.get_username(), "judged_regular": m.judged_regular,
                        "judged_gold": m.judged_gold, "judged_calibration": m.judged_calibration}
                       for m in result["items"]]
    return result


@router.get("/benchmarks/{name}/progress", response={200: ProgressOut, **ERRORS},
            summary="Judgments done of those required, and yours")
def benchmark_progress(request, name: str):
    progress = progress_get(benchmark=benchmark_get(request, name), annotator=user_of(request))
    return {"judgments_done": progress.done, "judgments_total": progress.total, "percent": progress.percent,
            "mine": progress.mine, "mine_total": progress.mine_total}


@router.get("/benchmarks/{name}/agreement", response={200: AgreementOut, **ERRORS},
            summary="Agreement figures (as last computed; a stale set asks the workers for fresh ones)")
def benchmark_agreement(request, name: str):
    require(request, "annotate.view_agreement")
    benchmark = benchmark_get(request, name)
    stats = benchmark_stats_get(benchmark=benchmark)
    stale = benchmark_stats_is_stale(stats=stats)
    sending = benchmark_stats_enqueue(benchmark=benchmark) if stale else None
    return {"computed_at": stats.computed_at if stats else None, "stale": stale,
            "refreshing": sending is not None and not sending.failed,
            "figures": stats.payload if stats else None}


class BenchmarkIn(Schema):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[-a-zA-Z0-9_]+$")
    title: str = Field("", max_length=200)
    guidelines: str = Field("", max_length=100_000)
    judgments_required: int = Field(3, ge=1, le=100)
    gold_rate: float = Field(0.1, ge=0, le=1)


class MembersIn(Schema):
    usernames: list[str] = Field(min_length=1, max_length=1000)


class MembersAddedOut(Schema):
    added: int


@router.post("/benchmarks", response={201: BenchmarkOut, **ERRORS},
             summary="Create a benchmark (or update the settings of the one with this name)")
def benchmark_create_view(request, payload: BenchmarkIn):
    require(request, "annotate.add_benchmark")
    return Status(201, benchmark_create(**payload.dict()))


@router.post("/benchmarks/{name}/members", response={200: MembersAddedOut, **ERRORS},
             summary="Let these people grade the benchmark")
def benchmark_members_add(request, name: str, payload: MembersIn):
    require(request, "annotate.add_membership")
    benchmark = benchmark_get(request, name)
    users = list(get_user_model().objects.filter(username__in=payload.usernames))
    if missing := sorted(set(payload.usernames) - {u.get_username() for u in users}):
        raise ApiError(400, "invalid", f"no such user: {', '.join(missing[:5])}", field="usernames")
    return {"added": membership_add(benchmark=benchmark, users=users)}
