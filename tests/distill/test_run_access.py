"""Who may open the run pages, with which methods, and what a refusal logs."""

import logging

import pytest
from django.urls import reverse

from annotate.roles import ADMIN, ANNOTATOR, REVIEWER, user_role_set
from distill.models import Run
from tests.factories import BenchmarkFactory, CorpusFactory, UserFactory


@pytest.fixture
def run(db):
    return Run.objects.create(name="first", corpus=CorpusFactory(name="c"), status=Run.Status.SUCCEEDED)


def run_pages(run) -> list[str]:
    return [reverse("distill:run_list"), reverse("distill:run_new"), reverse("distill:run_detail", args=[run.id])]


@pytest.mark.django_db
@pytest.mark.parametrize("role", [ANNOTATOR, REVIEWER, None])
def test_a_logged_in_user_without_the_permission_gets_403_not_the_login_page(client, run, role):
    user = UserFactory(username=f"u-{role}")
    if role:
        user_role_set(user=user, role=role)
    client.force_login(user)
    for path in run_pages(run):
        assert client.get(path).status_code == 403, path
    for name in ("run_cancel", "run_retry", "run_next_round"):
        assert client.post(reverse(f"distill:{name}", args=[run.id])).status_code == 403, name


@pytest.mark.django_db
def test_run_pages_answer_405_to_other_methods(client, run):
    admin = UserFactory(username="boss")
    user_role_set(user=admin, role=ADMIN)
    client.force_login(admin)
    for path in run_pages(run):
        assert client.get(path).status_code == 200, path
        for method in ("put", "delete", "patch"):
            assert getattr(client, method)(path).status_code == 405, (method, path)
    assert client.get(reverse("distill:run_cancel", args=[run.id])).status_code == 405
    assert Run.objects.filter(pk=run.pk, status=Run.Status.SUCCEEDED).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["/runs/", "/benchmarks/b/grade/"])
def test_a_403_logs_one_line_without_a_traceback(client, run, caplog, page):
    BenchmarkFactory(name="b")
    client.force_login(UserFactory(username="plain"))  # no role: no runs, no grading
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get(page).status_code == 403
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == f"Forbidden (Permission denied): {page}"
    assert record.exc_info is None and "Traceback" not in caplog.text
