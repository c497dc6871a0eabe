import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from annotate.models import Benchmark
from config.demo import BENCHMARK, CORPUS, demo_load
from labeling.models import Document, Pair, Query


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
