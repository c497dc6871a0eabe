import re

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.urls import reverse

from annotate.models import Benchmark
from config.demo import BENCHMARK, CORPUS, demo_load
from labeling.models import Document, Judgment, Pair, Query


@pytest.mark.django_db
def test_demo_loads_a_gradeable_benchmark_and_reloads_without_change(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    first = demo_load()
    assert first.documents >= 150
    docs = Document.objects.filter(corpus__name=CORPUS)
    assert docs.count() == first.documents
    assert docs.exclude(author="").count() == first.documents  # enterprise metadata came along
    assert docs.filter(modified_at__isnull=True).count() == 0
    benchmark = Benchmark.objects.get(name=BENCHMARK)
    assert benchmark.items.count() == first.pairs > 0
    assert 0 < benchmark.items.exclude(gold_grade=None).count() == first.gold < first.pairs
    assert authenticate(username="annotator1", password=first.logins["annotator1"])

    counts = (Document.objects.count(), Query.objects.count(), Pair.objects.count(), benchmark.items.count())
    second = demo_load()
    assert second.logins == first.logins
    assert (Document.objects.count(), Query.objects.count(), Pair.objects.count(), benchmark.items.count()) == counts


@pytest.mark.django_db
def test_load_demo_prints_the_logins(settings, tmp_path, capsys):
    settings.VAR_DIR = tmp_path
    call_command("load_demo")
    out = capsys.readouterr().out
    assert "annotator1" in out and "admin" in out and BENCHMARK in out


@pytest.mark.django_db
def test_the_first_start_shows_agreement_figures_and_a_review_queue(settings, tmp_path, client):
    """After load_demo alone (no worker yet), a reviewer finds figures on the agreement
    dashboard and disagreements between the demo annotators in the review queue."""
    settings.VAR_DIR = tmp_path
    summary = demo_load()
    assert summary.judgments > 0
    client.force_login(get_user_model().objects.get(username="reviewer"))

    dashboard = client.get(reverse("annotate:agreement", args=[BENCHMARK])).content.decode()
    assert "Not computed yet" not in dashboard
    for name in ("annotator1", "annotator2", "annotator3"):
        assert f'<td class="text">{name}' in dashboard
    alpha = re.search(r"Krippendorff's α \(ordinal\)</div>\s*<div class=\"big\">([^<]+)<", dashboard)
    assert alpha and 0 < float(alpha.group(1)) < 1  # they agree, not perfectly

    review = client.get(reverse("annotate:review", args=[BENCHMARK])).content.decode()
    remaining = re.search(r'<strong id="remaining">(\d+)</strong>', review)
    assert remaining and int(remaining.group(1)) > 0
    assert 'data-item="' in review and "between annotators" in review

    again = demo_load()
    assert again.judgments == summary.judgments
    assert Judgment.objects.count() == summary.judgments  # reloading replaced them, added none
