"""An admin sets up a teacher and labels a benchmark with it, in a real browser (Playwright
driving Debian's chromium, as tests/annotate/test_browser.py): the teacher is the project's own
OpenAI-compatible server (SmolLM2 on CPU, `manage.py serve_openai`), the job runs on a real
Celery worker, and the page shows what it cost. Screenshots go to artifacts/ (git-ignored)."""

import re

import pytest
from django.urls import reverse

from annotate.roles import ADMIN, user_role_set
from annotate.services import benchmark_create, benchmark_items_add
from labeling.models import Labeler, LabelingJob, ModelLabel
from tests.annotate.test_browser import ARTIFACTS, browser  # noqa: F401 (a fixture)
from tests.factories import CorpusFactory, DocumentFactory, PairFactory, QueryFactory, UserFactory
from tests.labeling.conftest import SMOLLM2
from tests.labeling.test_labeler_openai import serve_openai  # noqa: F401 (a fixture)

PRICE_IN, PRICE_OUT = 3.0, 15.0  # per million tokens


def _benchmark() -> list[int]:
    """A benchmark of 2 queries x 3 documents."""
    corpus = CorpusFactory(name="intranet")
    queries = [QueryFactory(corpus=corpus, external_id=qid, text=text)
               for qid, text in (("q0", "parental leave days"), ("q1", "postgres failover runbook"))]
    documents = [DocumentFactory(corpus=corpus, external_id=e, title=t, text=x) for e, t, x in (
        ("leave", "Parental leave", "Employees get 20 weeks of paid parental leave from 2025."),
        ("failover", "Postgres failover", "Promote the replica with pg_ctl promote, then repoint the proxy."),
        ("lunch", "Cafeteria menu", "Tuesday: lentil soup and bread."))]
    pairs = [PairFactory.create(query=q, document=d).id for q in queries for d in documents]
    benchmark = benchmark_create(name="bench", judgments_required=1)
    benchmark_items_add(benchmark=benchmark, pair_ids=pairs)
    return pairs


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"workspace-{name}.png"), full_page=True)


@pytest.mark.slow
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_admin_creates_and_tests_a_teacher_then_labels_a_benchmark_and_sees_the_cost(
        browser, live_server, celery_worker_process, serve_openai):  # noqa: F811
    pairs = _benchmark()
    admin = UserFactory(username="boss")
    admin.set_password("pw")
    admin.save()
    user_role_set(user=admin, role=ADMIN)
    celery_worker_process("default,gpu")

    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server.url + reverse("workspace:labeler_new") + "?backend=openai")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw")
    page.keyboard.press("Enter")

    # The form, filled wrong first: the key pasted where its variable's name goes.
    page.fill("#id_name", "smol-teacher")
    page.select_option("#id_role", "teacher")
    page.fill("#id_model_ref", SMOLLM2)
    page.fill("#id_base_url", serve_openai)
    page.fill("#id_api_key_env", "sk-live-abc123")
    page.fill("#id_max_concurrency", "1")  # the server grades one request at a time
    page.fill("#id_price_per_million_input_tokens", str(PRICE_IN))
    page.fill("#id_price_per_million_output_tokens", str(PRICE_OUT))
    page.click("form.card button.primary")
    assert "not the key itself" in page.inner_text("form.card")
    _shot(page, "labeler-form-error")
    page.fill("#id_api_key_env", "")
    page.click("form.card button.primary")
    page.wait_for_url(re.compile(r"/labelers/smol-teacher/$"))
    assert Labeler.objects.get(name="smol-teacher").params["base_url"] == serve_openai

    page.click("#test-labeler")  # htmx: the result replaces the empty section
    page.wait_for_selector("#test-result .status", timeout=120_000)
    assert page.locator("#test-grades").count(), page.inner_text("#test-result")
    rows = page.locator("#test-grades tbody tr")
    assert rows.count() == 3
    tokens_in = [int(rows.nth(i).locator("td").nth(4).inner_text()) for i in range(3)]
    assert all(n > 50 for n in tokens_in)  # the prompt went to the server and was counted
    _shot(page, "labeler-tested")

    page.click("text=Label pairs with it")
    page.check('input[name="source"][value="benchmark"]')
    page.click('button[value="estimate"]')
    assert page.inner_text("#estimate-pairs") == str(len(pairs))
    assert "unknown" in page.inner_text("#estimate-unknown")
    _shot(page, "job-estimate")
    page.click("#launch")
    page.wait_for_selector('#job-state:has-text("Succeeded")', timeout=180_000)
    _shot(page, "job-done")

    job = LabelingJob.objects.get()
    assert (job.done, job.total) == (len(pairs), len(pairs)) and job.tokens_in > 0
    expected = job.tokens_in / 1e6 * PRICE_IN + job.tokens_out / 1e6 * PRICE_OUT
    assert page.inner_text("#job-cost-total") == f"{expected:.4f}" and expected > 0
    assert float(page.inner_text("#job-rate")) == pytest.approx(job.done / job.seconds, abs=0.01)
    assert ModelLabel.objects.filter(labeler__name="smol-teacher", pair_id__in=pairs).count() == len(pairs)

    # Measured now: the next estimate has a rate, and nothing is left to label.
    page.goto(live_server.url + reverse("workspace:job_new") + "?labeler=smol-teacher")
    page.check('input[name="source"][value="benchmark"]')
    page.click('button[value="estimate"]')
    assert page.inner_text("#estimate-to-label") == "0"
    assert "pairs/s" in page.inner_text("#estimate")
    assert not errors, errors
    context.close()
