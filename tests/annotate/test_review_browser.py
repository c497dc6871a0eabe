"""A reviewer clears disagreements on the demo in a real browser, by keyboard alone, after a
run; the benchmark's consensus and the next round's training data follow the decisions.

Same setup as test_browser.py: Playwright (pip) drives Debian's chromium, skipped with the
reason without either; screenshots go to artifacts/ (git-ignored)."""

from django.urls import reverse

from annotate.models import Adjudication, Benchmark, ReviewDecision
from annotate.selectors import benchmark_consensus_grades
from distill.config import config_merge, student_name
from distill.models import Run
from distill.selectors import training_targets
from distill.services.next_round import run_next_round
from labeling.models import Judgment, Labeler, ModelLabel

from .test_browser import ARTIFACTS, browser, pair_id, wait_for_new_pair  # noqa: F401 (browser: a fixture)

KEYS = ["h", "m", "2", "a", "0"]  # keep the people's grade, take the model's, set 2, ambiguous, set 0


def _demo_after_a_run():
    """The demo with eight pairs graded by the three annotators and a succeeded run whose
    student disagrees with them on each (its confidence falling pair by pair, so the queue's
    order is the pairs' order)."""
    from config.demo import BENCHMARK, demo_load

    summary = demo_load()
    benchmark = Benchmark.objects.get(name=BENCHMARK)
    Judgment.objects.all().delete()  # this scenario's grades instead of the demo's own
    items = list(benchmark.items.filter(gold_grade__isnull=True).select_related("pair__query")[:8])
    run = Run.objects.create(name="demo run", corpus=items[0].pair.query.corpus, benchmark=benchmark,
                             status=Run.Status.SUCCEEDED, config=config_merge({}))
    student = Labeler.objects.create(name=student_name(run.id), role=Labeler.Role.STUDENT,
                                     backend=Labeler.Backend.CROSS_ENCODER)
    teacher = Labeler.objects.get(name=run.config["teacher"])
    people = list(benchmark.members.order_by("username"))
    human, model = {}, {}
    for i, item in enumerate(items):
        a, b = i % 4, (i + 1) % 4
        for person, grade in zip(people, (a, a, b), strict=True):
            Judgment.objects.create(pair=item.pair, annotator=person, grade=grade, seconds=3.0 + i)
        human[item.pair_id], model[item.pair_id] = a, (i + 2) % 4
        confidence = 0.95 - 0.05 * i
        distribution = [(1 - confidence) / 3] * 4
        distribution[model[item.pair_id]] = confidence
        ModelLabel.objects.create(pair=item.pair, labeler=student, grade=model[item.pair_id], distribution=distribution,
                                  expected_grade=model[item.pair_id])
        ModelLabel.objects.create(pair=item.pair, labeler=teacher, grade=a, distribution=[0.25] * 4, expected_grade=1.5)
    return summary, benchmark, run, human, model


def test_a_reviewer_clears_five_disagreements_by_keyboard(browser, live_server, settings, tmp_path):  # noqa: F811
    settings.VAR_DIR = tmp_path  # the demo's logins file
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    summary, benchmark, run, human, model = _demo_after_a_run()
    ARTIFACTS.mkdir(exist_ok=True)

    context = browser.new_context(viewport={"width": 1360, "height": 900}, device_scale_factor=1)
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server.url + reverse("annotate:review", args=[benchmark.name]))
    assert "/login/" in page.url
    page.fill("#id_username", "reviewer")
    page.fill("#id_password", summary.logins["reviewer"])
    page.keyboard.press("Enter")
    page.wait_for_selector("#pair[data-item]")
    assert page.inner_text("#remaining") == "8"
    assert "annotator1" in page.inner_text("#pair") and page.locator("#pair svg.bars").count() == 2
    page.screenshot(path=str(ARTIFACTS / "review.png"))

    # Keys do nothing while typing a comment; Esc leaves the box and the next key decides.
    current = pair_id(page)
    page.click("#comment")
    page.keyboard.type("h m 0 a: the title says 2024")
    assert pair_id(page) == current and not ReviewDecision.objects.exists()
    page.keyboard.press("Escape")

    # "?" opens the help; Esc closes it.
    page.keyboard.press("?")
    page.wait_for_selector("#help[open]")
    assert "Keep the people's grade" in page.inner_text("#help")
    page.screenshot(path=str(ARTIFACTS / "review-help.png"))
    page.keyboard.press("Escape")
    page.wait_for_selector("#help:not([open])", state="attached")

    page.evaluate("window.__sameDocument = true")
    decided = []
    for key in KEYS:
        page.keyboard.press(key)
        decided.append((int(current), key))
        current = wait_for_new_pair(page, current)
    assert page.evaluate("window.__sameDocument") is True  # htmx swapped each next pair in
    assert page.inner_text("#remaining") == "3"
    page.screenshot(path=str(ARTIFACTS / "review-after-5.png"))

    # The audit log holds the five, by whom, in the queue's order, with before and after.
    log = list(ReviewDecision.objects.order_by("id"))
    assert len(log) == 5 and {d.decided_by.username for d in log} == {"reviewer"}
    assert [(d.pair_id, d.action) for d in log] == [
        (p, {"h": "keep_human", "m": "take_model", "2": "set_grade", "a": "ambiguous", "0": "set_grade"}[k])
        for p, k in decided]
    assert log[0].comment == "h m 0 a: the title says 2024"
    assert all(d.before_grade == human[d.pair_id] and not d.before_adjudicated for d in log)
    expected = {p: {"h": human[p], "m": model[p], "2": 2, "a": None, "0": 0}[k] for p, k in decided}
    assert dict(Adjudication.objects.values_list("pair_id", "grade")) == expected
    page.goto(live_server.url + reverse("annotate:review_log", args=[benchmark.name]))
    assert page.locator("tr.log-entry").count() == 5
    page.screenshot(path=str(ARTIFACTS / "review-log.png"), full_page=True)

    # The benchmark's consensus is the reviewers' now, without the ambiguous pair ...
    consensus = benchmark_consensus_grades(benchmark=benchmark)
    assert {p: consensus.get(p) for p in expected} == expected
    # ... and the next round trains on the four decided grades (the teacher's nowhere there).
    next_run = run_next_round(previous=run, enqueue=False)
    targets = training_targets(run=next_run, teacher_labels=[])
    assert {p: g for p, _, g in targets.reviewed} == {p: g for p, g in expected.items() if g is not None}
    assert not errors, errors
    context.close()
