"""The grading page in a real browser (Playwright driving Debian's chromium, as test_browser.py):
"can't judge" by keyboard, the gold gate's stop with its reason, calibration feedback, and
documents rendered as written."""

import pytest
from django.urls import reverse

from annotate.models import Skip

from .conftest import make_annotators
from .test_browser import browser, pair_id, wait_for_new_pair  # noqa: F401 (browser: a fixture)
from .test_review_people_browser import login


@pytest.mark.django_db(transaction=True)
def test_cant_judge_by_keyboard_takes_the_reason_and_moves_on(browser, live_server, bench_factory):  # noqa: F811
    bench = bench_factory(n=3, required=1, name="cj")
    make_annotators(1, benchmark=bench)
    context, page, errors = login(browser, live_server, reverse("annotate:grade", args=[bench.name]), "ann0", "pw")
    page.wait_for_selector("#pair[data-item]")
    first = pair_id(page)
    page.keyboard.press("l")  # a reason key does nothing while the panel is folded
    page.keyboard.press("c")
    page.wait_for_selector("#cant-judge[open]")
    page.keyboard.press("l")
    wait_for_new_pair(page, first)
    assert page.inner_text("#cant-judge-count") == "1"
    skip = Skip.objects.get()
    assert (str(skip.item_id), skip.reason) == (first, "language")
    assert not errors, errors
    context.close()


@pytest.mark.django_db(transaction=True)
def test_below_the_gold_gate_the_annotator_is_stopped_with_the_reason(browser, live_server, bench_factory):  # noqa: F811
    bench = bench_factory(n=4, required=2, gold={0: 0, 1: 3}, gold_rate=1.0, name="gate")
    bench.gold_min_accuracy, bench.gold_min_items = 0.5, 2
    bench.save()
    make_annotators(1, benchmark=bench)
    gold = {str(i.pk): i.gold_grade for i in bench.items.filter(gold_grade__isnull=False)}
    context, page, errors = login(browser, live_server, reverse("annotate:grade", args=[bench.name]), "ann0", "pw")
    current = page.wait_for_selector("#pair[data-item]") and pair_id(page)
    for _ in range(2):  # gold_rate 1: both gold pairs first, each graded wrong by keyboard
        assert current in gold
        page.keyboard.press(str(3 - gold[current]))
        current = wait_for_new_pair(page, current)
    assert current is None  # regular pairs are left, but none is served
    reason = page.inner_text("#gate-reason")
    assert "0 of 2 gold pairs" in reason and "50%" in reason
    assert not errors, errors
    context.close()
