"""A reviewer adjudicates disagreements between annotators by keyboard on a benchmark no model
has graded, in a real browser (Playwright driving Debian's chromium, as test_browser.py)."""

import pytest
from django.urls import reverse

from annotate.models import Adjudication, ReviewDecision
from annotate.roles import REVIEWER, user_role_set
from labeling.models import ModelLabel
from tests.factories import JudgmentFactory, UserFactory

from .conftest import make_annotators
from .test_browser import browser, pair_id, wait_for_new_pair  # noqa: F401 (browser: a fixture)


def login(browser, live_server, url, username, password):  # noqa: F811
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server.url + url)
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.keyboard.press("Enter")
    return context, page, errors


def reviewer_user(username="rev"):
    user = UserFactory(username=username)
    user.set_password("pw")
    user.save()
    user_role_set(user=user, role=REVIEWER)
    return user


@pytest.mark.django_db(transaction=True)
def test_a_reviewer_adjudicates_people_vs_people_by_keyboard(browser, live_server, bench_factory):  # noqa: F811
    benchmark = bench_factory(n=4, required=3, name="nomodel")
    items = list(benchmark.items.order_by("position"))
    people = make_annotators(3, benchmark=benchmark)
    for item, grades in zip(items, ([0, 3, 3], [1, 1, 3], [0, 2, 2], [2, 2, 2]), strict=True):
        for person, grade in zip(people, grades, strict=True):
            JudgmentFactory(pair=item.pair, annotator=person, grade=grade, comment=f"says {grade}")
    assert not ModelLabel.objects.exists()
    reviewer_user()

    context, page, errors = login(browser, live_server, reverse("annotate:review", args=[benchmark.name]), "rev", "pw")
    page.wait_for_selector("#pair[data-item]")
    assert page.inner_text("#remaining") == "3"
    assert "between annotators" in page.inner_text("#queue-kind")
    assert "says 3" in page.inner_text("#pair") and page.locator('#pair [data-key="m"]').count() == 0
    current = pair_id(page)
    decided = []
    for key in ["3", "h", "a"]:
        page.keyboard.press(key)
        decided.append((int(current), key))
        current = wait_for_new_pair(page, current)
    assert page.inner_text("#remaining") == "0"
    log = list(ReviewDecision.objects.order_by("id"))
    assert [(d.pair_id, d.action, d.labeler_id) for d in log] == [
        (p, {"3": "set_grade", "h": "keep_human", "a": "ambiguous"}[k], None) for p, k in decided]
    assert dict(Adjudication.objects.values_list("pair_id", "grade")) == {
        items[0].pair_id: 3, items[1].pair_id: 1, items[2].pair_id: None}
    assert not errors, errors
    context.close()


@pytest.mark.django_db(transaction=True)
def test_a_spot_check_appears_marked_and_its_verdict_counts(browser, live_server, bench_factory):  # noqa: F811
    from annotate.models import SpotCheck
    from annotate.services.dashboard import benchmark_stats_refresh

    benchmark = bench_factory(n=3, required=2, name="spots")
    items = list(benchmark.items.order_by("position"))
    people = make_annotators(2, benchmark=benchmark)
    for item, grades in zip(items, ([0, 3], [2, 2], [1, 1]), strict=True):
        for person, grade in zip(people, grades, strict=True):
            JudgmentFactory(pair=item.pair, annotator=person, grade=grade)
    reviewer = reviewer_user()
    user_role_set(user=reviewer, role="admin")  # the dashboard too

    context, page, errors = login(browser, live_server, reverse("annotate:review", args=[benchmark.name]), "rev", "pw")
    page.wait_for_selector("#pair[data-item]")
    assert page.inner_text("#remaining") == "1"
    page.fill("input[name=share]", "1")
    page.click("#spot-draw")
    page.wait_for_selector("#spot-count")
    assert page.inner_text("#remaining") == "3" and page.inner_text("#spot-count") == "2"
    current = pair_id(page)
    assert page.locator("#spot-badge").count() == 0  # the disagreement first
    page.keyboard.press("3")
    current = wait_for_new_pair(page, current)
    assert "Spot-check · agreed" in page.inner_text("#spot-badge")
    checked = int(current)
    agreed = SpotCheck.objects.get(pair_id=checked).agreed_grade
    page.keyboard.press(str((agreed + 2) % 4))  # the agreed grade was wrong
    current = wait_for_new_pair(page, current)
    page.keyboard.press("h")  # the other one was right
    wait_for_new_pair(page, current)
    assert dict(SpotCheck.objects.values_list("pair_id", "wrong"))[checked] is True
    assert sorted(SpotCheck.objects.values_list("wrong", flat=True)) == [False, True]

    benchmark_stats_refresh(benchmark_id=benchmark.pk)
    page.goto(live_server.url + reverse("annotate:agreement", args=[benchmark.name]))
    row = page.inner_text("#spot-panel tr.spot-row")
    assert "people" in row and "0.500" in row  # one of two wrong (strata of one each)
    assert not errors, errors
    context.close()
