"""An admin reads a run's frontier and its gate in a real browser: the two plots are drawn, one
point per budget with its interval, the teacher's line in its band, and the verdict in words.

Same setup as tests/annotate/test_browser.py: Playwright (pip) drives Debian's chromium, skipped
with the reason without either; the screenshot goes to artifacts/ (git-ignored)."""

from django.urls import reverse

from annotate.roles import ADMIN, user_role_set
from distill.models import Run
from distill.services.stages import student_evaluate
from tests.annotate.test_browser import ARTIFACTS, browser  # noqa: F401 (a fixture)
from tests.factories import UserFactory

from .test_frontier import evaluated_run


def test_the_run_page_plots_the_frontier_and_says_the_verdict(browser, live_server, settings):  # noqa: F811
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    setup = evaluated_run(margin=0.05)
    student_evaluate(setup.run)
    frontier = Run.objects.get(id=setup.run.id).metrics["evaluate"]["frontier"]
    admin = UserFactory(username="boss")
    admin.set_password("pw-for-the-test")
    admin.save()
    user_role_set(user=admin, role=ADMIN)
    ARTIFACTS.mkdir(exist_ok=True)

    context = browser.new_context(viewport={"width": 1280, "height": 1600}, device_scale_factor=1)
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server.url + reverse("distill:run_detail", args=[setup.run.id]))
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw-for-the-test")
    page.keyboard.press("Enter")
    page.wait_for_selector("#frontier svg.frontier")

    plots = page.locator("#frontier svg.frontier")
    assert plots.count() == 2
    for index in range(2):
        plot = plots.nth(index)
        assert plot.is_visible() and plot.bounding_box()["width"] > 300
        assert plot.locator("g.point").count() == len(frontier)
        assert plot.locator("line.teacher-line").count() == 1 and plot.locator("rect.teacher-band").count() == 1
    # A point's tooltip names its labeler, figure, interval and share.
    first = plots.nth(0).locator("g.point circle title").nth(len(frontier) - 1).text_content()
    assert frontier[-1]["labeler"] in first and "teacher share 20.0%" in first
    verdict = page.inner_text("#frontier p.gate")
    passed = [entry["labeler"] for entry in frontier if entry["gate"]["passed"]]
    assert ("Promoted" in verdict) == bool(passed) and ("Not promoted" in verdict) == (not passed)
    rows = page.locator("#frontier table.frontier tbody tr")
    assert rows.count() == len(frontier) + 1  # and the teacher's row
    page.screenshot(path=str(ARTIFACTS / "run-frontier.png"), full_page=True)
    assert not errors
    context.close()
