from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.shortcuts import render

from annotate.models import Benchmark
from annotate.selectors import benchmarks_visible_to, corpora_visible_to, user_can_grade, user_sees_corpora

from .health import health_report


def _sees_health_detail(user) -> bool:
    return user.is_active and (user.is_staff or user.is_superuser)


@login_not_required
def health(request):
    """ok or not for anyone (a load balancer's probe); what is up and what failed only for
    admins: the database vendor, the broker, worker names and errors tell an attacker much."""
    report = health_report()
    # The web tier is serviceable with the database and broker up; a missing worker is
    # reported (ok: false) but does not fail the probe, so a load balancer keeps the site.
    serviceable = report["database"]["ok"] and report["broker"]["ok"]
    body = report if _sees_health_detail(request.user) else {"ok": report["ok"]}
    return JsonResponse(body, status=200 if serviceable else 503)


def home(request):
    user = request.user
    can_grade = user_can_grade(user=user)
    benchmarks = benchmarks_visible_to(user=user) if can_grade else Benchmark.objects.none()
    return render(request, "home.html", {"benchmarks": benchmarks[:50], "can_grade": can_grade,
                                         "corpora": corpora_visible_to(user=user)[:50],
                                         "sees_corpora": user_sees_corpora(user=user)})
