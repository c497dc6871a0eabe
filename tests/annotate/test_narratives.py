"""Query narratives: imported from a TSV's third column or a JSONL field, shown to graders and
reviewers above the document; the demo's queries carry some."""

import json

import pytest
from django.urls import reverse

from labeling.importers import queries_import
from labeling.importers.errors import ImportFileError
from labeling.models import Query

from .conftest import make_annotators


@pytest.mark.django_db
def test_narratives_come_from_a_third_column_or_a_field(tmp_path):
    tsv = tmp_path / "q.tsv"
    tsv.write_text("q1\tparental leave\tAn employee wants the number of days.\nq2\tvpn setup\n", encoding="utf-8")
    queries_import(path=tsv, corpus_name="c")
    assert dict(Query.objects.values_list("external_id", "narrative")) == {
        "q1": "An employee wants the number of days.", "q2": ""}
    jsonl = tmp_path / "q.jsonl"
    jsonl.write_text(json.dumps({"qid": "q2", "query": "vpn setup", "description": "A new hire on a laptop."}) + "\n",
                     encoding="utf-8")
    queries_import(path=jsonl, corpus_name="c")
    assert Query.objects.get(external_id="q2").narrative == "A new hire on a laptop."
    bad = tmp_path / "bad.tsv"
    bad.write_text("q3\ttext\tnarrative\textra\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="or 3 with a narrative"):
        queries_import(path=bad, corpus_name="c")


@pytest.mark.django_db
def test_the_grading_page_shows_the_narrative_escaped(client, bench_factory):
    bench = bench_factory(n=1, required=1)
    query = bench.items.get().pair.query
    query.narrative = "Wants the <b>current</b> policy."
    query.save()
    (person,) = make_annotators(1, benchmark=bench)
    client.force_login(person)
    page = client.get(reverse("annotate:grade", args=[bench.name])).content.decode()
    assert 'id="query-narrative"' in page and "Wants the &lt;b&gt;current&lt;/b&gt; policy." in page


@pytest.mark.django_db
def test_the_demo_queries_carry_narratives(settings, tmp_path):
    from config.demo import demo_load

    settings.VAR_DIR = tmp_path
    demo_load()
    assert Query.objects.exclude(narrative="").count() >= 8
    assert "primary PostgreSQL" in Query.objects.get(external_id="d1").narrative
