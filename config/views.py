from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.shortcuts import render

from annotate.selectors import benchmarks_visible_to
from labeling.models import Corpus

from .health import health_report


@login_not_required
def health(request):
    report = health_report()
    # The web tier is serviceable with the database and broker up; a missing worker is
    # reported (ok: false) but does not fail the probe, so a load balancer keeps the site.
    serviceable = report["database"]["ok"] and report["broker"]["ok"]
    return JsonResponse(report, status=200 if serviceable else 503)


def home(request):
    return render(
        request,
        "home.html",
        {"benchmarks": benchmarks_visible_to(user=request.user)[:50], "corpora": Corpus.objects.all()[:50]},
    )
