"""The review pages through Django's test client: who may open them, decisions by htmx and by
plain form (no JavaScript), undo, and the audit log page."""

import re

import pytest
from django.urls import reverse

from annotate.models import Adjudication, ReviewDecision
from annotate.roles import ADMIN, user_role_set
from tests.factories import UserFactory

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name, bench, query: str = "") -> str:
    return reverse(f"annotate:{name}", args=[bench.name]) + (f"?{query}" if query else "")


def shown_pair(response) -> int | None:
    match = re.search(r'<div id="pair"[^>]*data-item="(\d+)"', response.content.decode())
    return int(match.group(1)) if match else None


@pytest.fixture
def reviewer_client(client, review_setup):
    client.force_login(review_setup["reviewer"])
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "name"), [("get", "review"), ("post", "review"), ("post", "review_undo"),
                                               ("get", "review_log")])
def test_an_annotator_gets_403_on_every_review_page(client, review_setup, method, name):
    annotator = review_setup["people"][0]  # a member of the benchmark, with the annotator role
    client.force_login(annotator)
    bench = review_setup["benchmark"]
    data = {"pair": review_setup["pairs"]["far"].id, "action": "keep_human"} if method == "post" else {}
    response = getattr(client, method)(url(name, bench), data)
    assert response.status_code == 403
    assert not ReviewDecision.objects.exists() and not Adjudication.objects.exists()


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_log_in(client, review_setup):
    response = client.get(url("review", review_setup["benchmark"]))
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.django_db
def test_reviewers_and_admins_see_the_queue_with_the_evidence(client, review_setup):
    admin = UserFactory(username="boss")
    user_role_set(user=admin, role=ADMIN)
    for user in (review_setup["reviewer"], admin):
        client.force_login(user)
        response = client.get(url("review", review_setup["benchmark"]))
        assert response.status_code == 200
        assert shown_pair(response) == review_setup["pairs"]["far"].id  # the first of the queue
    page = response.content.decode()
    assert '<strong id="remaining">3</strong>' in page
    assert "far by ann0" in page and "4.5 s" in page  # comments and time spent of each judgment
    assert page.count('class="chart bars"') == 2  # the student's and the teacher's distributions
    assert all(f'data-key="{key}"' in page for key in "hm0123au")


@pytest.mark.django_db
def test_a_decision_by_htmx_answers_the_next_disagreement(reviewer_client, review_setup):
    bench, pairs = review_setup["benchmark"], review_setup["pairs"]
    response = reviewer_client.post(url("review", bench), {"pair": pairs["far"].id, "action": "take_model",
                                                          "comment": "the model is right"}, **HTMX)
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith('<div id="pair"')  # the fragment only
    assert shown_pair(response) == pairs["sure"].id
    assert '<strong id="remaining">2</strong>' in response.content.decode()
    adjudication = Adjudication.objects.get(pair=pairs["far"])
    assert (adjudication.grade, adjudication.comment, adjudication.decided_by) == (
        3, "the model is right", review_setup["reviewer"])
    assert ReviewDecision.objects.get().labeler == review_setup["student"]  # the model in the URL's choices


@pytest.mark.django_db
def test_without_javascript_a_grade_button_decides_and_redirects_with_the_filters(reviewer_client, review_setup):
    bench, pairs = review_setup["benchmark"], review_setup["pairs"]
    query = "labeler=student-x&mode=any&grade=2"
    response = reviewer_client.post(url("review", bench, query), {"pair": pairs["sure"].id, "grade": "1"})
    assert response.status_code == 302 and response["Location"] == url("review", bench, query)
    assert Adjudication.objects.get(pair=pairs["sure"]).grade == 1
    page = reviewer_client.get(response["Location"])
    assert shown_pair(page) == pairs["split"].id  # mode any, people's grade 2: "split" is what is left


@pytest.mark.django_db
def test_a_bad_decision_is_explained_and_nothing_changes(reviewer_client, review_setup):
    response = reviewer_client.post(url("review", review_setup["benchmark"]), {"pair": review_setup["pairs"]["far"].id},
                                    **HTMX)
    assert "Pick an action or a grade" in response.content.decode()
    assert not ReviewDecision.objects.exists()


@pytest.mark.django_db
def test_undo_brings_the_pair_back_first_and_the_log_page_lists_every_entry(reviewer_client, review_setup):
    bench, pairs = review_setup["benchmark"], review_setup["pairs"]
    reviewer_client.post(url("review", bench), {"pair": pairs["unsure"].id, "action": "ambiguous"}, **HTMX)
    response = reviewer_client.post(url("review_undo", bench), **HTMX)
    assert shown_pair(response) == pairs["unsure"].id  # not "far", the head of the queue
    assert "Undone" in response.content.decode()
    assert not Adjudication.objects.exists()
    response = reviewer_client.post(url("review_undo", bench))
    assert response.status_code == 302
    assert "Nothing to undo" in reviewer_client.get(response["Location"]).content.decode()

    log = reviewer_client.get(url("review_log", bench)).content.decode()
    assert log.count('class="log-entry"') == 2
    assert "Flag as ambiguous" in log and "Undo" in log and "rev" in log


@pytest.mark.django_db
def test_the_next_round_is_offered_only_to_who_may_launch_runs(client, review_setup):
    from distill.models import Run

    bench = review_setup["benchmark"]
    Run.objects.create(name="first", corpus=bench.items.first().pair.query.corpus, benchmark=bench,
                       status=Run.Status.SUCCEEDED)
    client.force_login(review_setup["reviewer"])
    assert "Start the next round" not in client.get(url("review", bench)).content.decode()
    admin = UserFactory(username="boss")
    user_role_set(user=admin, role=ADMIN)
    client.force_login(admin)
    assert "Start the next round" in client.get(url("review", bench)).content.decode()


@pytest.mark.django_db
def test_a_huge_query_and_document_keep_the_review_pages_bounded(reviewer_client, review_setup):
    bench, pair = review_setup["benchmark"], review_setup["pairs"]["far"]
    pair.query.text = "budget " * 1_000_000  # 7 MB
    pair.query.save()
    pair.document.text = "budget report " * 1_000_000
    pair.document.save()
    page = reviewer_client.get(url("review", bench)).content.decode()
    assert shown_pair(reviewer_client.get(url("review", bench))) == pair.id
    assert "This query is long: only the first 500 of its 7,000,000 characters are shown." in page
    assert "This document is long: only the first 200,000 of its 14,000,000 characters are shown." in page
    assert len(page) < 800_000, len(page)
    reviewer_client.post(url("review", bench), {"pair": pair.id, "action": "keep_human"})
    for path in (url("review", bench), url("review_log", bench)):  # the decision is in the recent list and the log
        response = reviewer_client.get(path)
        assert response.status_code == 200 and len(response.content) < 800_000, (path, len(response.content))
