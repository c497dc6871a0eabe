"""A new annotator grades the demo benchmark in a real browser, by keyboard alone.

Playwright (pip) drives Debian's chromium (/usr/bin/chromium; `.ci/run` installs it, and
`playwright install` is never run: no browser downloads). Without either, the test is skipped
with the reason. Screenshots go to artifacts/ (git-ignored)."""

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from annotate.models import BenchmarkItem, Lease
from labeling.models import Judgment

CHROMIUM = os.environ.get("ASSESSOR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(settings.BASE_DIR) / "artifacts"
KEYS = "3210321032"  # the grades given by keyboard, in order


def _unavailable(reason: str):
    # CI sets ASSESSOR_REQUIRE_BROWSER: there a missing browser is a failure, not a skip.
    if os.environ.get("ASSESSOR_REQUIRE_BROWSER"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright import sync_api
    except ImportError:
        _unavailable("the pip package playwright is not installed (requirements.txt pins it)")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        _unavailable(f"no chromium at {CHROMIUM}: apt-get install chromium (.ci/run does), or set ASSESSOR_CHROMIUM")
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # ordinary synchronous code between browser steps.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def pair_id(page) -> str | None:
    return page.eval_on_selector("#pair", "el => el.dataset.item || null")


def wait_for_new_pair(page, previous: str | None) -> str | None:
    """Until another pair is on screen and has settled (the page takes keys again)."""
    page.wait_for_function(
        """prev => { const p = document.querySelector('#pair');
                     return p && p.dataset.item !== prev
                            && !document.documentElement.hasAttribute('data-grading-busy'); }""",
        arg=previous, timeout=20_000)
    return pair_id(page)


def test_a_new_annotator_grades_the_demo_by_keyboard(browser, live_server, settings, tmp_path):
    from config.demo import BENCHMARK, demo_load

    settings.VAR_DIR = tmp_path  # the demo's logins file
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    summary = demo_load()
    ARTIFACTS.mkdir(exist_ok=True)
    grade_url = reverse("annotate:grade", args=[BENCHMARK])

    context = browser.new_context(viewport={"width": 1360, "height": 900}, device_scale_factor=1)
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server.url + grade_url)

    # Log in; the first visit shows the guidelines before any pair.
    assert "/login/" in page.url
    page.fill("#id_username", "annotator1")
    page.fill("#id_password", summary.logins["annotator1"])
    page.keyboard.press("Enter")
    page.wait_for_url("**/guidelines/")
    assert "Brightwater" in page.inner_text("main")
    page.screenshot(path=str(ARTIFACTS / "guidelines.png"), full_page=True)
    page.keyboard.press("Enter")  # the start button has the focus
    page.wait_for_selector("#pair[data-item]")
    page.screenshot(path=str(ARTIFACTS / "grading.png"))

    # Grade 10 pairs by keyboard: each key grades and htmx swaps in the next pair (no page load).
    page.evaluate("window.__sameDocument = true")
    graded: list[tuple[int, int]] = []
    current = pair_id(page)
    for key in KEYS:
        page.keyboard.press(key)
        graded.append((int(current), int(key)))
        current = wait_for_new_pair(page, current)
    assert page.evaluate("window.__sameDocument") is True  # never reloaded
    page.screenshot(path=str(ARTIFACTS / "grading-after-10.png"))

    def mine():  # the grades given here, not the demo's own (demo/judgments/, imported)
        return {j.pair_id: j for j in Judgment.objects.filter(annotator__username="annotator1")
                .exclude(input_method=Judgment.InputMethod.IMPORT)}

    items = dict(BenchmarkItem.objects.filter(pk__in=[i for i, _ in graded]).values_list("pk", "pair_id"))
    judged = mine()
    assert {items[i]: g for i, g in graded} == {p: j.grade for p, j in judged.items()}
    assert {j.input_method for j in judged.values()} == {"key"}
    assert all(j.seconds is not None and j.seconds >= 0 for j in judged.values())

    # Keys do nothing while typing a comment; Esc leaves the box.
    page.click("#comment")
    page.keyboard.type("0 1 u s")
    assert pair_id(page) == current and len(mine()) == 10
    page.fill("#comment", "")
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.id") != "comment"

    # "?" opens the help with the guidelines; Esc closes it.
    page.keyboard.press("?")
    page.wait_for_selector("#help[open]")
    assert "Keys" in page.inner_text("#help") and "Brightwater" in page.inner_text("#help")
    page.screenshot(path=str(ARTIFACTS / "help.png"))
    page.keyboard.press("Escape")
    page.wait_for_selector("#help:not([open])", state="attached")

    # u undoes the last grade: that pair comes back, and can be graded again.
    last_item, last_grade = graded[-1]
    page.keyboard.press("u")
    assert wait_for_new_pair(page, current) == str(last_item)
    assert "you had graded this" in page.inner_text("#pair")
    assert items[last_item] not in mine()
    page.screenshot(path=str(ARTIFACTS / "grading-undo.png"))
    regrade = 1 if last_grade != 1 else 0
    page.keyboard.press(str(regrade))
    assert wait_for_new_pair(page, str(last_item)) == current  # back to where the annotator was
    judged = mine()
    assert len(judged) == 10 and judged[items[last_item]].grade == regrade

    # s skips: another pair, and no judgment.
    page.keyboard.press("s")
    skipped = current
    current = wait_for_new_pair(page, current)
    assert current != skipped and len(mine()) == 10

    # A click grades too, recorded as a click.
    page.click('#pair button.grade[data-key="2"]')
    current = wait_for_new_pair(page, current)
    clicked = Judgment.objects.filter(annotator__username="annotator1").order_by("-created_at").first()
    assert (clicked.grade, clicked.input_method) == (2, "click")

    # Every pair the annotator graded is within its cap; they hold exactly the pair on screen.
    leased = Lease.objects.filter(annotator__username="annotator1").values_list("item_id", flat=True)
    assert list(leased) == [int(current)]
    page.mouse.move(0, 0)
    page.screenshot(path=str(ARTIFACTS / "grading.png"))
    page.screenshot(path=str(ARTIFACTS / "grading-full.png"), full_page=True)
    assert not errors, errors
    context.close()


def test_a_hostile_document_renders_inert_and_bounded(browser, live_server, settings, bench_factory):
    """A javascript: link (mixed case, a tab inside), markup in the title and text, a 5 MB text and
    a 100k-word query: in Chromium no script runs, the link is text, the page shows a bounded
    prefix with its note, and the pair is graded as usual."""
    import time

    from annotate.roles import ANNOTATOR, user_role_set
    from annotate.services import guidelines_accept
    from tests.factories import UserFactory

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    bench = bench_factory(n=2, required=1, name="hostile")
    user = UserFactory(username="grader")
    user.set_password("grader-pw")
    user.save()
    user_role_set(user=user, role=ANNOTATOR)
    guidelines_accept(benchmark=bench, annotator=user)
    for item in bench.items.select_related("pair__query", "pair__document"):
        document, query = item.pair.document, item.pair.query
        document.url = "JaVa\tScRiPt:alert(document.domain)"
        document.title = "<img src=x onerror=alert(1)>Budget"
        document.text = ("budget <script>alert(2)</script> report " * 125_000)[:5_000_000]
        document.save()
        query.text = "budget " + " ".join(f"w{i:06d}" for i in range(100_000))
        query.save()

    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    dialogs, errors = [], []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", "grader")
    page.fill("#id_password", "grader-pw")
    page.keyboard.press("Enter")
    page.wait_for_url(live_server.url + "/")
    started = time.perf_counter()
    page.goto(live_server.url + reverse("annotate:grade", args=[bench.name]))
    page.wait_for_selector("#pair[data-item]")
    loaded = time.perf_counter() - started

    # The link: shown as text, nothing on the page links to a javascript: URL, a click goes nowhere.
    assert page.locator("a.meta-link").count() == 0
    inert = page.locator(".meta-link-inert")
    assert inert.is_visible() and "alert(document.domain)" in inert.inner_text()
    assert page.eval_on_selector_all("a[href]", "els => els.filter(a => a.protocol !== 'http:' "
                                                "&& a.protocol !== 'https:').length") == 0
    url_before = page.url
    inert.click()
    assert page.url == url_before
    # The text: markup shown as text, a bounded prefix, the note says how much.
    assert page.locator("#doc-text script, .doc-title img").count() == 0
    assert "<img src=x onerror=alert(1)>" in page.inner_text(".doc-title")
    note = page.locator("#doc-cut")
    assert note.is_visible()
    assert note.inner_text() == "This document is long: only the first 200,000 of its 5,000,000 characters are shown."
    assert page.eval_on_selector("#doc-text", "el => el.textContent.length") == 200_000
    assert page.locator(".query-cut").is_visible()
    assert page.eval_on_selector("#doc-text", "el => el.querySelectorAll('mark').length") > 1000
    page.screenshot(path=str(ARTIFACTS / "hostile-document.png"))
    html_size = len(page.content())

    # The page still works: a key grades the pair and the next one comes.
    first = pair_id(page)
    page.keyboard.press("2")
    assert wait_for_new_pair(page, first) != first
    assert Judgment.objects.filter(annotator=user).count() == 1
    assert not dialogs, dialogs
    assert not errors, errors
    print(f"hostile page: loaded in {loaded:.2f} s, {html_size:,} characters of HTML")
    context.close()
