"""The people-vs-people review queue (annotate.selectors.review.people_disagreements) and its page: it
works on a benchmark no model graded, by the spread the reviewer picks, and its decisions go
to the same audit log and consensus as the model review's."""

import re

import pytest
from django.urls import reverse

from annotate.models import Adjudication, ReviewDecision
from annotate.roles import REVIEWER, user_role_set
from annotate.selectors import benchmark_consensus_grades
from annotate.selectors.review import NO_MAJORITY, people_disagreements
from tests.factories import JudgmentFactory, UserFactory

from .conftest import make_annotators

HTMX = {"HTTP_HX_REQUEST": "true"}
# pair name -> the three annotators' grades
CASES = {"wide": [0, 3, 3], "two": [1, 1, 3], "nomajority": [0, 1, 2], "one": [2, 2, 3], "same": [1, 1, 1]}


@pytest.fixture
def people_setup(bench_factory):
    benchmark = bench_factory(n=len(CASES), required=3, name="ppl")
    items = list(benchmark.items.select_related("pair").order_by("position"))
    people = make_annotators(3, benchmark=benchmark)
    pairs = {}
    for (name, grades), item in zip(CASES.items(), items, strict=True):
        pairs[name] = item.pair
        for person, grade in zip(people, grades, strict=True):
            JudgmentFactory(pair=item.pair, annotator=person, grade=grade, comment=f"{name} by {person.username}")
    reviewer = UserFactory(username="rev")
    user_role_set(user=reviewer, role=REVIEWER)
    return {"benchmark": benchmark, "pairs": pairs, "people": people, "reviewer": reviewer}


def names(setup, found) -> list[str]:
    by_id = {pair.id: name for name, pair in setup["pairs"].items()}
    return [by_id[d.pair_id] for d in found]


@pytest.mark.django_db
def test_the_spread_picks_the_disagreements_widest_first(people_setup):
    bench = people_setup["benchmark"]
    one_apart = people_disagreements(benchmark=bench, spread="1")
    assert names(people_setup, one_apart) == ["wide", "two", "nomajority", "one"]
    assert names(people_setup, people_disagreements(benchmark=bench, spread="2")) == ["wide", "two", "nomajority"]
    assert names(people_setup, people_disagreements(benchmark=bench, spread="3")) == ["wide"]
    assert names(people_setup, people_disagreements(benchmark=bench, spread=NO_MAJORITY)) == ["nomajority"]
    assert names(people_setup, people_disagreements(benchmark=bench, spread="1", grade=3)) == ["wide"]
    with pytest.raises(ValueError):
        people_disagreements(benchmark=bench, spread="9")


@pytest.mark.django_db
def test_without_a_model_the_page_shows_the_people_queue_and_decides_into_the_log(client, people_setup):
    bench, pairs = people_setup["benchmark"], people_setup["pairs"]
    client.force_login(people_setup["reviewer"])
    page = client.get(reverse("annotate:review", args=[bench.name])).content.decode()
    assert "No model has graded" not in page
    assert '<strong id="remaining">3</strong>' in page and "grades 2+ apart" in page
    assert re.search(r'<div id="pair"[^>]*data-item="(\d+)"', page).group(1) == str(pairs["wide"].id)
    assert "wide by ann1" in page  # every annotator's comment
    assert 'data-key="m"' not in page  # no model to take a grade from
    url = reverse("annotate:review", args=[bench.name]) + "?mode=people&spread=2"
    response = client.post(url, {"pair": pairs["wide"].id, "grade": 3, "comment": "the doc answers it"}, **HTMX)
    assert '<strong id="remaining">2</strong>' in response.content.decode()
    decision = ReviewDecision.objects.get()
    assert (decision.action, decision.labeler, decision.before_grade, decision.after_grade) == ("set_grade", None, 3, 3)
    client.post(url, {"pair": pairs["two"].id, "action": "keep_human"}, **HTMX)
    assert dict(Adjudication.objects.values_list("pair_id", "grade")) == {pairs["wide"].id: 3, pairs["two"].id: 1}
    assert benchmark_consensus_grades(benchmark=bench)[pairs["two"].id] == 1
    # A model-only action is refused without a model: nothing logged.
    client.post(url, {"pair": pairs["nomajority"].id, "action": "take_model"}, **HTMX)
    assert ReviewDecision.objects.count() == 2
