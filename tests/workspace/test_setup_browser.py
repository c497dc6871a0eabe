"""An admin sets up a project in a real browser (Playwright driving Debian's chromium, as
tests/annotate/test_browser.py), with a real worker process running the imports and the
benchmark's build: upload a corpus and its queries, see a refused file's line and field,
make a benchmark by BM25 with a previewed guideline, add members (one created here), import
an annotator's qrels, and download the qrels to compare them with what was graded; then make a
teacher on the project's own OpenAI-compatible server (SmolLM2 on CPU, `manage.py serve_openai`),
test it, label the benchmark with it on the worker, see the job's cost, and download its qrels to
compare them with the labels it wrote. Screenshots go to artifacts/ (git-ignored)."""

import json
from pathlib import Path

import pytest
from django.urls import reverse

from annotate.models import Benchmark, Membership
from annotate.roles import ADMIN, user_role_set
from labeling.models import Document, Judgment, Labeler, LabelingJob, ModelLabel, Pair, Query
from tests.annotate.test_browser import ARTIFACTS, browser  # noqa: F401 (browser: a fixture)
from tests.factories import UserFactory
from tests.labeling.conftest import SMOLLM2
from tests.labeling.test_labeler_openai import serve_openai  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.worker, pytest.mark.slow]
PRICE_IN, PRICE_OUT = 3.0, 15.0  # the teacher's, per million tokens

DOCUMENTS = "\n".join(
    f'{{"docid": "d{i}", "title": "{title}", "text": "{text}"}}' for i, (title, text) in enumerate([
        ("Travel policy", "Travel expenses are reimbursed within 30 days of filing the expense report."),
        ("Cafeteria", "The cafeteria opens at 8am and serves lunch until 2pm."),
        ("Receipts", "Expense reports need a receipt for every item over 25 dollars."),
        ("Parking", "Parking permits are renewed each January at the front desk."),
        ("Per diem", "Per diem rates for travel abroad are listed in the finance wiki."),
    ])) + "\n"
QUERIES = "q1\thow are travel expenses reimbursed\nq2\twhen does the cafeteria open\n"
QRELS = "q1 0 d0 3\nq1 0 d2 1\nq2 0 d1 2\n"


def wait_status(page, selector: str, status: str) -> None:
    """Until the polled fragment says the job ended (htmx swaps it every second)."""
    page.wait_for_selector(f'{selector}[data-status="{status}"]', timeout=60_000)


@pytest.mark.django_db(transaction=True)
def test_an_admin_sets_up_a_project_in_the_browser(browser, live_server, celery_worker_process,  # noqa: F811
                                                   worker_env, settings, tmp_path, serve_openai):  # noqa: F811
    settings.UPLOAD_DIR = tmp_path / "uploads"
    worker_env["ASSESSOR_UPLOAD_DIR"] = str(settings.UPLOAD_DIR)
    celery_worker_process("default,gpu")  # gpu: the teacher's labeling job
    admin = UserFactory(username="boss")
    admin.set_password("pw")
    admin.save()
    user_role_set(user=admin, role=ADMIN)
    UserFactory(username="ann1")
    ARTIFACTS.mkdir(exist_ok=True)

    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server.url + reverse("login"))
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw")
    page.keyboard.press("Enter")
    page.click("nav >> text=Corpora")
    page.click("#corpus-new")

    # A corpus from an uploaded JSONL file, imported by the worker.
    page.fill("#id_name", "intranet")
    page.set_input_files("#id_file", files=[{"name": "docs.jsonl", "mimeType": "application/json",
                                             "buffer": DOCUMENTS.encode()}])
    page.click("#corpus-form button[type=submit]")
    wait_status(page, "#import-status", "succeeded")
    assert "Read 5 documents: 5 new" in page.inner_text("#import-summary")
    page.screenshot(path=str(ARTIFACTS / "workspace-import-done.png"), full_page=True)

    # A bad queries file is refused, naming its line and field; the good one imports.
    page.click("text=Import more")
    page.select_option("#id_kind", "queries")
    page.set_input_files("#id_file", files=[{"name": "queries.tsv", "mimeType": "text/plain",
                                             "buffer": b"q1\tfine\n\tno id\n"}])
    page.click("#import-form button[type=submit]")
    wait_status(page, "#import-status", "failed")
    assert (page.inner_text("#error-line"), page.inner_text("#error-field")) == ("2", "qid")
    page.screenshot(path=str(ARTIFACTS / "workspace-import-refused.png"), full_page=True)
    page.click("text=Fix the file and import again")
    page.set_input_files("#id_file", files=[{"name": "queries.tsv", "mimeType": "text/plain",
                                             "buffer": QUERIES.encode()}])
    page.click("#import-form button[type=submit]")
    wait_status(page, "#import-status", "succeeded")
    page.click("text=Open intranet")
    assert page.inner_text("#count-documents") == "5" and page.inner_text("#count-queries") == "2"
    page.fill("#id_q", "cafeteria")
    page.wait_for_function("() => !document.querySelector('#documents').innerText.includes('Receipts')")
    assert "Cafeteria" in page.inner_text("#documents")
    page.screenshot(path=str(ARTIFACTS / "workspace-corpus.png"), full_page=True)

    # A benchmark: BM25's top 2 per query, its guidelines previewed first.
    page.click("#benchmark-new")
    page.fill("#id_name", "travel")
    page.check("input[name=method][value=bm25]")
    page.fill("#id_k", "2")
    page.fill("#id_guidelines", "# How to grade\n\n**3**: the document answers the query.")
    page.click("#preview-button")
    page.wait_for_selector("#preview h1")
    assert page.inner_text("#preview h1") == "How to grade"
    page.screenshot(path=str(ARTIFACTS / "workspace-benchmark-new.png"), full_page=True)
    page.click("#create")
    wait_status(page, "#build-status", "succeeded")
    benchmark = Benchmark.objects.get(name="travel")
    # q1 matches 3 documents, q2 one (the others share none of its words): 2 + 1 pairs.
    assert benchmark.regular_count == Pair.objects.filter(bm25_rank__isnull=False).count() == 3
    assert benchmark.guidelines.startswith("# How to grade")

    # Members: one who exists, one created here.
    page.click("#members-link")
    page.fill("#id_username", "ann1")
    page.click("#member-form button[type=submit]")
    page.fill("#id_username", "ann2")
    page.check("#id_create")
    page.fill("#id_password", "a-long-password")
    page.click("#member-form button[type=submit]")
    page.wait_for_selector('[data-member="ann2"]')
    assert sorted(Membership.objects.filter(benchmark=benchmark).values_list("user__username", flat=True)) == [
        "ann1", "ann2"]

    # ann1's grades, imported as qrels by the worker, then downloaded from the benchmark's page.
    page.goto(live_server.url + reverse("workspace:corpus_import", args=["intranet"]))
    page.select_option("#id_kind", "qrels")
    page.fill("#id_annotator", "ann1")
    page.set_input_files("#id_file", files=[{"name": "ann1.qrels", "mimeType": "text/plain",
                                             "buffer": QRELS.encode()}])
    page.click("#import-form button[type=submit]")
    wait_status(page, "#import-status", "succeeded")
    graded = set(Judgment.objects.filter(annotator__username="ann1")
                 .values_list("pair__query__external_id", "pair__document__external_id", "grade"))
    assert len(graded) == 3
    page.goto(live_server.url + reverse("workspace:benchmark_setup", args=["travel"]))
    page.screenshot(path=str(ARTIFACTS / "workspace-members.png"), full_page=True)
    with page.expect_download() as download:
        page.click('[data-member="ann1"] [data-download="annotator-trec"]')
    lines = Path(download.value.path()).read_text().splitlines()
    assert {(q, d, int(g)) for q, _, d, g in (line.split() for line in lines)} == graded
    with page.expect_download() as download:
        page.click('[data-download="benchmark-jsonl"]')
    consensus = Path(download.value.path()).read_text()
    in_benchmark = set(benchmark.items.values_list("pair__query__external_id", "pair__document__external_id"))
    expected = {(q, d, g) for q, d, g in graded if (q, d) in in_benchmark}
    assert {(r["qid"], r["docid"], r["grade"]) for r in map(json.loads, consensus.splitlines())} == expected
    assert expected  # BM25's top 2 hold some of what ann1 graded
    assert Document.objects.count() == 5 and Query.objects.count() == 2

    _teacher_labels_the_benchmark(page, live_server, serve_openai, benchmark)
    assert not errors, errors
    context.close()


def _teacher_labels_the_benchmark(page, live_server, base_url: str, benchmark: Benchmark) -> None:
    # A teacher on the endpoint, filled wrong first: the key pasted where its variable's name goes.
    page.click("nav >> text=Labelers")
    page.click("text=New labeler")
    page.fill("#id_name", "smol-teacher")
    page.select_option("#id_role", "teacher")
    page.fill("#id_model_ref", SMOLLM2)
    page.fill("#id_base_url", base_url)
    page.fill("#id_api_key_env", "sk-live-abc123")
    page.fill("#id_max_concurrency", "1")  # the server grades one request at a time
    page.fill("#id_price_per_million_input_tokens", str(PRICE_IN))
    page.fill("#id_price_per_million_output_tokens", str(PRICE_OUT))
    page.click("form.card button.primary")
    assert "not the key itself" in page.inner_text("form.card")
    page.screenshot(path=str(ARTIFACTS / "workspace-labeler-refused.png"), full_page=True)
    page.fill("#id_api_key_env", "")
    page.click("form.card button.primary")
    page.wait_for_url("**/labelers/smol-teacher/")
    assert Labeler.objects.get(name="smol-teacher").params["base_url"] == base_url

    page.click("#test-labeler")  # htmx: the result replaces the empty section
    page.wait_for_selector("#test-result .status", timeout=200_000)
    assert page.locator("#test-grades").count(), page.inner_text("#test-result")
    rows = page.locator("#test-grades tbody tr")
    assert rows.count() == 3
    assert all(int(rows.nth(i).locator("td").nth(4).inner_text()) > 50 for i in range(3))  # prompts, counted
    page.screenshot(path=str(ARTIFACTS / "workspace-labeler-tested.png"), full_page=True)

    # The estimate before launch (unknown: never measured), then the job on the worker.
    page.click("text=Label pairs with it")
    page.check('input[name="source"][value="benchmark"]')
    page.select_option("#id_benchmark", benchmark.name)
    page.click('button[value="estimate"]')
    pairs = benchmark.items.count()
    assert page.inner_text("#estimate-pairs") == str(pairs)
    assert "unknown" in page.inner_text("#estimate-unknown")
    page.screenshot(path=str(ARTIFACTS / "workspace-job-estimate.png"), full_page=True)
    page.click("#launch")
    page.wait_for_selector('#job-state:has-text("Succeeded")', timeout=180_000)
    page.screenshot(path=str(ARTIFACTS / "workspace-job-done.png"), full_page=True)
    job = LabelingJob.objects.get()
    assert (job.done, job.total) == (pairs, pairs) and job.tokens_in > 0
    cost = job.tokens_in / 1e6 * PRICE_IN + job.tokens_out / 1e6 * PRICE_OUT
    assert page.inner_text("#job-cost-total") == f"{cost:.4f}" and cost > 0
    assert float(page.inner_text("#job-rate")) == pytest.approx(job.done / job.seconds, abs=0.01)

    # Its qrels, downloaded from the job's page, are the labels it wrote.
    labeled = set(ModelLabel.objects.filter(labeler__name="smol-teacher")
                  .values_list("pair__query__external_id", "pair__document__external_id", "grade"))
    assert len(labeled) == pairs
    with page.expect_download() as download:
        page.click('#job-downloads [data-download="labeler-trec"]')
    lines = Path(download.value.path()).read_text().splitlines()
    assert {(q, d, int(g)) for q, _, d, g in (line.split() for line in lines)} == labeled

    # Measured now: the next estimate has a rate, and nothing is left to label.
    page.goto(live_server.url + reverse("workspace:job_new") + "?labeler=smol-teacher&benchmark=" + benchmark.name)
    page.check('input[name="source"][value="benchmark"]')
    page.click('button[value="estimate"]')
    assert page.inner_text("#estimate-to-label") == "0" and "pairs/s" in page.inner_text("#estimate")
