"""Access, roles and the grading pages through Django's test client (htmx and plain forms)."""

import re

import pytest
from django.contrib.auth.models import Group
from django.template.defaultfilters import truncatechars
from django.urls import reverse
from django.utils.html import escape

from annotate.forms import ID_MAX
from annotate.models import BenchmarkItem, Lease, Membership, ReviewDecision, Skip
from annotate.roles import ADMIN, ANNOTATOR, REVIEWER, roles_ensure, user_role_set
from annotate.services import GuidelinesRequired, benchmark_create, guidelines_accept, pair_next_for_annotator
from labeling.models import Judgment
from tests.factories import JudgmentFactory, LabelerFactory, ModelLabelFactory, UserFactory

from .conftest import make_annotators

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name, bench, *args):
    return reverse(f"annotate:{name}", args=[bench.name, *args])


@pytest.fixture
def bench(bench_factory):
    return bench_factory(n=4, required=2, guidelines="Grade **carefully**.\n\n<script>alert(1)</script>")


@pytest.fixture
def annotator(bench, client):
    (user,) = make_annotators(1, benchmark=bench)
    guidelines_accept(benchmark=bench, annotator=user)
    client.force_login(user)
    return user


def current_item(response) -> BenchmarkItem | None:
    """The pair on the page (or in the fragment), from its data-item attribute."""
    match = re.search(r'<div id="pair"[^>]*data-item="(\d+)"', response.content.decode())
    return BenchmarkItem.objects.get(pk=int(match.group(1))) if match else None


# --- roles and access ------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_three_roles_exist_with_their_permissions():
    roles_ensure()  # idempotent, and already run by migrate
    groups = {g.name: {f"{p.content_type.app_label}.{p.codename}" for p in g.permissions.all()}
              for g in Group.objects.all()}
    assert {"annotate.grade_benchmark"} == groups[ANNOTATOR]
    assert {"annotate.grade_benchmark", "annotate.view_all_benchmarks", "annotate.review_pair"} <= groups[REVIEWER]
    assert "annotate.change_benchmark" not in groups[REVIEWER]
    assert {"annotate.change_benchmark", "labeling.delete_judgment", "auth.change_user"} <= groups[ADMIN]


@pytest.mark.django_db
def test_an_admin_role_opens_the_django_admin():
    user = UserFactory(username="boss")
    user_role_set(user=user, role=ADMIN)
    user.refresh_from_db()
    assert user.is_staff and user.has_perm("annotate.change_benchmark")
    user_role_set(user=user, role=ANNOTATOR)
    assert list(user.groups.values_list("name", flat=True)) == [ANNOTATOR]


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_login_and_health_stays_public(client, bench):
    for path in [reverse("annotate:benchmark_list"), url("grade", bench), url("guidelines", bench), "/"]:
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), path
    for path in [url("grade", bench), url("undo", bench), url("lease_renew", bench)]:
        response = client.post(path, {"item": 1, "grade": 2})
        assert response.status_code == 302 and response["Location"].startswith("/login/"), path
    assert client.get("/health").status_code == 200
    assert client.get("/login/").status_code == 200


@pytest.mark.django_db
def test_an_annotator_sees_only_their_benchmarks(client, bench, annotator):
    other = benchmark_create(name="secret-bench", title="Secret")
    listing = client.get(reverse("annotate:benchmark_list")).content.decode()
    assert bench.name in listing and "secret-bench" not in listing
    for path in [url("grade", other), url("guidelines", other)]:
        assert client.get(path).status_code == 404
    assert client.post(url("grade", other), {"item": 1, "grade": 2}).status_code == 404
    assert client.post(url("undo", other)).status_code == 404
    assert not Membership.objects.filter(benchmark=other).exists()


@pytest.mark.django_db
def test_a_user_without_a_role_may_not_grade(client, bench):
    user = UserFactory(username="visitor")
    Membership.objects.create(benchmark=bench, user=user)
    client.force_login(user)
    assert client.get(url("grade", bench)).status_code == 403


@pytest.mark.django_db
def test_a_reviewer_sees_and_may_grade_every_benchmark(client, bench):
    user = UserFactory(username="rev")
    user_role_set(user=user, role=REVIEWER)
    client.force_login(user)
    assert bench.name in client.get(reverse("annotate:benchmark_list")).content.decode()
    guidelines_accept(benchmark=bench, annotator=user)
    assert current_item(client.get(url("grade", bench))) is not None


@pytest.mark.django_db
def test_grading_is_blind(client, bench_factory):
    bench = bench_factory(n=1, required=3, gold={0: 3}, gold_rate=1.0)
    a, b = make_annotators(2, benchmark=bench)
    guidelines_accept(benchmark=bench, annotator=a)
    gold_item = BenchmarkItem.objects.get(benchmark=bench, gold_grade=3)
    JudgmentFactory(pair=gold_item.pair, annotator=b, grade=1, comment="b-was-here")
    labeler = LabelerFactory(name="teacher-secret")
    ModelLabelFactory(pair=gold_item.pair, labeler=labeler, grade=2)
    client.force_login(a)
    response = client.get(url("grade", bench))
    assert current_item(response) == gold_item
    page = response.content.decode()
    assert "teacher-secret" not in page and "b-was-here" not in page
    assert "gold" not in page.lower()


# --- guidelines ------------------------------------------------------------------------------

@pytest.mark.django_db
def test_guidelines_come_before_the_first_pair_and_render_safely(client, bench):
    (user,) = make_annotators(1, benchmark=bench)
    client.force_login(user)
    response = client.get(url("grade", bench))
    assert response.status_code == 302 and response["Location"] == url("guidelines", bench)
    page = client.get(url("guidelines", bench)).content.decode()
    assert "<strong>carefully</strong>" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not Lease.objects.exists()  # no pair held while reading
    response = client.post(url("guidelines", bench))
    assert response["Location"] == url("grade", bench)
    assert client.get(url("grade", bench)).status_code == 200
    # later visits show them without the start button, and the grading page carries them for "?"
    assert "start grading" not in client.get(url("guidelines", bench)).content.decode()
    assert "<strong>carefully</strong>" in client.get(url("grade", bench)).content.decode()


# --- grading ---------------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_page_shows_query_document_metadata_and_escaped_highlighted_text(client, bench, annotator):
    item = BenchmarkItem.objects.filter(benchmark=bench).order_by("position").first()
    doc = item.pair.document
    doc.title, doc.path, doc.author, doc.source = "Expense <b>policy</b>", "finance/expenses.md", "Priya Raman", "wiki"
    doc.text = "How to file an expense report. <script>alert('x')</script> Reports are due monthly."
    doc.save()
    query = item.pair.query
    query.text = "expense reports"
    query.save()
    page = client.get(url("grade", bench)).content.decode()
    assert "<mark>Expense</mark> &lt;b&gt;policy&lt;/b&gt;" in page
    assert "finance/expenses.md" in page and "Priya Raman" in page and "wiki" in page
    assert "<mark>expense</mark> <mark>report</mark>." in page and "<mark>Reports</mark>" in page
    assert "<script>alert('x')</script>" not in page
    for grade, label in [(0, "Irrelevant"), (3, "Perfectly relevant")]:
        assert f'data-key="{grade}"' in page and label in page


@pytest.mark.django_db
def test_htmx_grading_swaps_in_the_next_pair_and_stores_the_input_method(client, bench, annotator):
    first = current_item(client.get(url("grade", bench)))
    response = client.post(url("grade", bench),
                           {"item": first.pk, "grade": 3, "input_method": "key", "comment": "clear"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="pair"') and "<html" not in html
    assert current_item(response) != first
    judgment = Judgment.objects.get(annotator=annotator)
    assert (judgment.grade, judgment.input_method, judgment.comment) == (3, "key", "clear")
    assert judgment.seconds is not None and judgment.seconds >= 0
    assert "1 graded" in html  # my progress bar moved


@pytest.mark.django_db
def test_without_javascript_the_form_posts_and_redirects_to_the_next_pair(client, bench, annotator):
    first = current_item(client.get(url("grade", bench)))
    response = client.post(url("grade", bench), {"item": first.pk, "grade": 1})
    assert response.status_code == 302 and response["Location"] == url("grade", bench)
    assert Judgment.objects.get(annotator=annotator).input_method == "click"
    assert current_item(client.get(url("grade", bench))) != first
    # a double submit (the back button, a second click) changes nothing
    client.post(url("grade", bench), {"item": first.pk, "grade": 0})
    assert Judgment.objects.get(annotator=annotator).grade == 1


@pytest.mark.django_db
def test_skip_undo_and_regrade_through_the_page(client, bench, annotator):
    first = current_item(client.get(url("grade", bench)))
    second = current_item(client.post(url("grade", bench), {"item": first.pk, "action": "skip"}, **HTMX))
    assert second != first
    third = current_item(client.post(url("grade", bench), {"item": second.pk, "grade": 2}, **HTMX))
    response = client.post(url("undo", bench), **HTMX)
    assert current_item(response) == second
    assert "you had graded this 2" in response.content.decode()
    assert not Judgment.objects.filter(annotator=annotator).exists()
    response = client.post(url("grade", bench), {"item": second.pk, "grade": 0, "input_method": "key"}, **HTMX)
    assert current_item(response) == third  # back to where the annotator was
    judgment = Judgment.objects.get(annotator=annotator)
    response = client.post(url("regrade", bench, judgment.pk), {"grade": 3}, **HTMX)
    assert "Changed to 3" in response.content.decode()
    assert Judgment.objects.get(pk=judgment.pk).grade == 3
    # The recent list: the pair's query and document, the new grade pressed, its regrade form.
    page, document = response.content.decode(), judgment.pair.document
    assert f'<span class="recent-query">{escape(truncatechars(judgment.pair.query.text, 48))}</span>' in page
    doc_title = escape(truncatechars(document.title or document.external_id, 48))
    assert f'<span class="recent-doc">{doc_title}</span>' in page
    regrade_form = page[page.index(f'action="{url("regrade", bench, judgment.pk)}"'):]
    assert re.search(r'value="3"[^>]*class="mini grade-3 current"\s*aria-pressed="true"', regrade_form[:2000])
    other = JudgmentFactory(annotator=UserFactory(username="stranger"), grade=1)
    response = client.post(url("regrade", bench, other.pk), {"grade": 3}, **HTMX)
    assert Judgment.objects.get(pk=other.pk).grade == 1 and "last 10" in response.content.decode()


@pytest.mark.django_db
def test_a_bad_post_is_reported_not_a_server_error(client, bench, annotator):
    item = current_item(client.get(url("grade", bench)))
    response = client.post(url("grade", bench), {"item": item.pk, "grade": 7}, **HTMX)
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    response = client.post(url("grade", bench), {"item": 999999, "grade": 2}, **HTMX)
    assert "not in this benchmark" in response.content.decode()
    assert not Judgment.objects.exists()


@pytest.mark.django_db
def test_lease_renew_answers_204_then_409_when_gone(client, bench, annotator):
    item = current_item(client.get(url("grade", bench)))
    assert client.post(url("lease_renew", bench), {"item": item.pk}).status_code == 204
    Lease.objects.all().delete()
    assert client.post(url("lease_renew", bench), {"item": item.pk}).status_code == 409


@pytest.mark.django_db
def test_when_nothing_is_left_the_page_says_so(client, bench_factory):
    bench = bench_factory(n=1, required=1)
    a, b = make_annotators(2, benchmark=bench)
    for user in (a, b):
        guidelines_accept(benchmark=bench, annotator=user)
    client.force_login(a)
    item = current_item(client.get(url("grade", bench)))
    response = client.post(url("grade", bench), {"item": item.pk, "grade": 2}, **HTMX)
    assert current_item(response) is None and "Nothing left for you here" in response.content.decode()
    client.force_login(b)
    assert current_item(client.get(url("grade", bench))) is None


@pytest.mark.django_db
def test_the_demo_puts_its_users_in_roles_and_on_the_benchmark(settings, tmp_path):
    from config.demo import BENCHMARK, demo_load

    settings.VAR_DIR = tmp_path
    demo_load()
    from django.contrib.auth import get_user_model

    users = {u.username: u for u in get_user_model().objects.all()}
    assert users["annotator1"].groups.filter(name=ANNOTATOR).exists()
    assert users["reviewer"].groups.filter(name=REVIEWER).exists()
    assert set(Membership.objects.filter(benchmark__name=BENCHMARK).values_list("user__username", flat=True)) == {
        "annotator1", "annotator2", "annotator3"}
    bench = Membership.objects.filter(benchmark__name=BENCHMARK).first().benchmark
    assert bench.regular_count + bench.gold_count == bench.items.count() > 0


@pytest.mark.django_db
def test_admin_pages_for_the_new_models_render(admin_client, bench_factory):
    bench = bench_factory(n=2, required=1)
    (user,) = make_annotators(1, benchmark=bench)
    from annotate.services import pair_next_for_annotator, pair_skip

    lease = pair_next_for_annotator(benchmark=bench, annotator=user)
    pair_skip(benchmark=bench, annotator=user, item_id=lease.item.pk)
    pair_next_for_annotator(benchmark=bench, annotator=user)
    for model in ("benchmark", "benchmarkitem", "membership", "lease", "skip"):
        assert admin_client.get(f"/admin/annotate/{model}/").status_code == 200, model
    assert admin_client.get(f"/admin/annotate/benchmark/{bench.pk}/change/").status_code == 200
    response = admin_client.post("/admin/annotate/benchmark/",
                                 {"action": "refresh_counts", "_selected_action": [bench.pk]})
    assert response.status_code == 302


# --- hardening (issue 15): grade only what was handed out, ids in range, what a resubmit kept ----

@pytest.mark.django_db
def test_an_annotator_may_grade_only_the_pair_the_queue_handed_them(client, bench_factory):
    bench = bench_factory(n=4, required=2, gold={0: 3}, gold_rate=0.0, guidelines="Read me.")
    (user,) = make_annotators(1, benchmark=bench)
    guidelines_accept(benchmark=bench, annotator=user)
    client.force_login(user)
    served = current_item(client.get(url("grade", bench)))
    gold = BenchmarkItem.objects.get(benchmark=bench, gold_grade=3)  # gold_rate 0: never served
    never_served = BenchmarkItem.objects.filter(benchmark=bench, gold_grade=None).exclude(pk=served.pk).first()
    for item in (gold, never_served):
        response = client.post(url("grade", bench), {"item": item.pk, "grade": 3}, **HTMX)
        assert response.status_code == 200 and "not handed to you" in response.content.decode()
        response = client.post(url("grade", bench), {"item": item.pk, "action": "skip"}, **HTMX)
        assert "not handed to you" in response.content.decode()
    assert not Judgment.objects.exists()
    assert not Skip.objects.exists()  # skipping a gold pair by id would take it out of the queue
    assert current_item(client.post(url("grade", bench), {"item": served.pk, "grade": 2}, **HTMX)) != served
    assert list(Judgment.objects.values_list("pair_id", flat=True)) == [served.pair_id]


@pytest.mark.django_db
def test_nothing_is_graded_or_leased_before_the_guidelines_are_accepted(client, bench):
    (user,) = make_annotators(1, benchmark=bench)
    client.force_login(user)
    item = BenchmarkItem.objects.filter(benchmark=bench).first()
    response = client.post(url("grade", bench), {"item": item.pk, "grade": 2})
    assert response.status_code == 302 and response["Location"] == url("guidelines", bench)
    response = client.post(url("grade", bench), {"item": "oops"}, **HTMX)  # it used to answer a leased pair
    assert response.status_code == 200 and response["HX-Redirect"] == url("guidelines", bench)
    for path in (url("undo", bench), url("regrade", bench, 1)):
        assert client.post(path, {"grade": 1}, **HTMX)["HX-Redirect"] == url("guidelines", bench)
    assert not Lease.objects.exists() and not Judgment.objects.exists()
    with pytest.raises(GuidelinesRequired):
        pair_next_for_annotator(benchmark=bench, annotator=user)


@pytest.mark.django_db
def test_a_resubmit_with_another_grade_says_which_grade_was_kept(client, bench, annotator):
    first = current_item(client.get(url("grade", bench)))
    client.post(url("grade", bench), {"item": first.pk, "grade": 1}, **HTMX)
    response = client.post(url("grade", bench), {"item": first.pk, "grade": 3}, **HTMX)  # a stale tab, the back button
    page = response.content.decode()
    assert "You had already graded this pair 1 · Related; that grade was kept, not 3 · Perfectly relevant." in page
    assert Judgment.objects.get(annotator=annotator).grade == 1
    response = client.post(url("grade", bench), {"item": first.pk, "grade": 1}, **HTMX)  # the same grade: no noise
    assert "already graded" not in response.content.decode()


BIG_ID = str(10**25)


@pytest.mark.django_db
def test_every_view_that_parses_an_id_answers_a_huge_one_without_a_server_error(client, review_setup):
    bench, reviewer = review_setup["benchmark"], review_setup["reviewer"]
    guidelines_accept(benchmark=bench, annotator=reviewer)
    client.force_login(reviewer)
    client.get(url("grade", bench))  # holds a pair, as a grading page would
    review = reverse("annotate:review", args=[bench.name])
    posts = [(review, {"pair": BIG_ID, "action": "keep_human"}), (url("grade", bench), {"item": BIG_ID, "grade": 1}),
             (url("grade", bench), {"item": BIG_ID, "action": "skip"}), (url("lease_renew", bench), {"item": BIG_ID})]
    for path, data in posts:
        response = client.post(path, data, **HTMX)
        field = next(iter(data))
        assert response.status_code == 400, (path, data)
        assert f"{field}: Ensure this value is less than or equal to {ID_MAX}" in response.content.decode()
    response = client.post(url("regrade", bench, BIG_ID), {"grade": 1}, **HTMX)
    assert "Only your last 10 grades" in response.content.decode()
    assert client.get(f"{review}?pair={BIG_ID}").status_code == 200
    assert not ReviewDecision.objects.exists() and not Judgment.objects.filter(annotator=reviewer).exists()
    admin = UserFactory(username="boss")
    user_role_set(user=admin, role=ADMIN)
    client.force_login(admin)
    for path in (f"/runs/{BIG_ID}/", f"/admin/annotate/benchmark/{BIG_ID}/change/"):
        assert client.get(path).status_code in (302, 404), path
    for path in (f"/runs/{BIG_ID}/cancel/", f"/runs/{BIG_ID}/retry/", f"/runs/{BIG_ID}/next-round/"):
        assert client.post(path).status_code == 404, path


@pytest.mark.django_db
def test_a_huge_document_and_query_render_a_bounded_page_fast_with_a_note(client, bench, annotator):
    import time

    from annotate.text import DOCUMENT_TEXT_LIMIT, QUERY_TEXT_LIMIT

    item = current_item(client.get(url("grade", bench)))
    words = [f"w{i:06d}" for i in range(100_000)]
    query, document = item.pair.query, item.pair.document
    query.text = " ".join(words)  # 800 kB, 100k distinct words
    query.save()
    document.text = ("w000001 budget report " * 2_400_000)[:50_000_000]  # 50 MB
    document.url = "JaVa\tScRiPt:alert(1)"
    document.save()
    started = time.perf_counter()
    response = client.get(url("grade", bench))
    elapsed = time.perf_counter() - started
    page = response.content.decode()
    assert response.status_code == 200 and current_item(response) == item
    assert len(page) < 2 * DOCUMENT_TEXT_LIMIT + 100_000, len(page)  # was the whole query, three times
    assert f"This document is long: only the first {DOCUMENT_TEXT_LIMIT:,} of its 50,000,000 characters" in page
    assert f"This query is long: only the first {QUERY_TEXT_LIMIT:,} of its {len(query.text):,} characters" in page
    assert "<mark>w000001</mark>" in page
    assert elapsed < 10, f"{elapsed:.1f} s"
    # The link is text, not a link: no href carries the javascript: URL.
    assert not re.search(r'href="[^"]*script:', page, re.IGNORECASE)
    assert 'class="meta-item meta-link-inert"' in page
    # Graded, the pair is in the recent list (its query in a title attribute): still bounded.
    page = client.post(url("grade", bench), {"item": item.pk, "grade": 1}, **HTMX).content.decode()
    assert "1 graded" in page and len(page) < 100_000, len(page)


@pytest.mark.django_db
def test_an_http_document_link_stays_live(client, bench, annotator):
    item = current_item(client.get(url("grade", bench)))
    document = item.pair.document
    document.url = "https://intranet.example.com/finance/q3?x=1&y=2"
    document.save()
    page = client.get(url("grade", bench)).content.decode()
    assert 'href="https://intranet.example.com/finance/q3?x=1&amp;y=2"' in page
