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


@pytest.mark.django_db(transaction=True)
def test_a_markdown_document_renders_and_its_script_does_not_run(browser, live_server, bench_factory):  # noqa: F811
    bench = bench_factory(n=1, required=1, name="md")
    document = bench.items.get().pair.document
    document.path = "engineering/runbook.md"
    document.text = ("# Failover runbook\n\nRun `pg_ctl promote` on the replica.\n\n```\nSELECT 1;\n```\n\n"
                     "<script>window.__ran = true; alert('x')</script>"
                     '<img src="https://tracker.example/p.gif" onerror="window.__ran = true">\n\n'
                     + "\n\n".join(f"Paragraph {i} about the expense report." for i in range(400)))
    document.save()
    make_annotators(1, benchmark=bench)
    context, page, errors = login(browser, live_server, reverse("annotate:grade", args=[bench.name]), "ann0", "pw")
    dialogs, requests = [], []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: requests.append(request.url))
    page.wait_for_selector("#pair[data-item]")
    assert page.inner_text("#doc-text h1") == "Failover runbook"
    assert page.inner_text("#doc-text code >> nth=0") == "pg_ctl promote"
    assert page.locator("#doc-text pre code").count() == 1
    assert page.locator("#doc-text script, #doc-text img").count() == 0
    assert page.evaluate("window.__ran === undefined") and not dialogs
    assert not [u for u in requests if not u.startswith(live_server.url)]  # no remote load
    assert page.locator("#doc-text mark").count() > 100  # "expense report" in the paragraphs

    # Scrolled half-way, then the highlight toggled off (a reload): the position is kept.
    page.eval_on_selector("#doc-text", "el => { el.scrollTop = 2000; el.dispatchEvent(new Event('scroll')); }")
    page.click("#highlight-toggle")
    page.wait_for_selector("#highlight-toggle[aria-pressed=false]")
    assert page.locator("#doc-text mark").count() == 0
    assert abs(page.eval_on_selector("#doc-text", "el => el.scrollTop") - 2000) < 5
    page.goto(live_server.url + reverse("annotate:grade", args=[bench.name]))
    assert page.locator("#highlight-toggle[aria-pressed=false]").count() == 1  # kept for the person
    assert not errors, errors
    context.close()
