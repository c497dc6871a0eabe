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
