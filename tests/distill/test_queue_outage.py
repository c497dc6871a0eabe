"""A broker that is down when a run is launched or retried: the page and the command say so,
the run stays queued and unsent, and it starts once a worker reaches the broker."""

import time

import pytest
from django.core.management import call_command
from django.urls import reverse

from annotate.roles import ADMIN, user_role_set
from distill.forms import RunLaunchForm
from distill.models import Run
from distill.services.runs import run_launch, run_retry
from labeling.enqueue import QUEUE_UNREACHABLE
from labeling.models import Labeler
from labeling.workers import WAITING, job_unsent
from tests.factories import CorpusFactory, DocumentFactory, LabelerFactory, UserFactory


def _corpus_and_labelers():
    corpus = CorpusFactory(name="outage")
    DocumentFactory(corpus=corpus)
    # A recorded run writes no queries: the synthesize stage fails at once, on whichever worker took it.
    LabelerFactory(name="gen", role=Labeler.Role.GENERATOR)
    LabelerFactory(name="teach", role=Labeler.Role.TEACHER)
    return corpus


def _admin(client):
    admin = UserFactory(username="boss")
    user_role_set(user=admin, role=ADMIN)
    client.force_login(admin)
    return admin


# Real commits (transaction=True): the enqueue runs on commit, within the request, as in production.
@pytest.mark.django_db(transaction=True)
def test_launch_and_retry_say_the_queue_is_unreachable_instead_of_failing(client, broker_down):
    corpus = _corpus_and_labelers()
    _admin(client)
    form = {name: field.initial for name, field in RunLaunchForm().fields.items() if field.initial is not None}
    form |= {"name": "offline", "corpus": corpus.id, "generator": "gen", "teacher": "teach"}
    with broker_down():
        response = client.post(reverse("distill:run_new"), form, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert QUEUE_UNREACHABLE in page and page.count(QUEUE_UNREACHABLE) == 1
    run = Run.objects.get(name="offline")
    assert run.status == Run.Status.QUEUED and (run.owner, run.heartbeat_at) == (WAITING, None)
    assert QUEUE_UNREACHABLE in client.get(reverse("distill:run_detail", args=[run.id])).content.decode()

    Run.objects.filter(id=run.id).update(status=Run.Status.FAILED, owner="", error="synthesize: boom")
    with broker_down():
        response = client.post(reverse("distill:run_retry", args=[run.id]), follow=True)
    assert response.status_code == 200 and QUEUE_UNREACHABLE in response.content.decode()
    assert Run.objects.get(id=run.id).status == Run.Status.QUEUED and job_unsent(Run, run.id)


@pytest.mark.django_db(transaction=True)
def test_the_distill_command_says_the_queue_is_unreachable(broker_down, capsys):
    _corpus_and_labelers()
    with broker_down():
        call_command("distill", name="cli", corpus="outage", generator="gen", teacher="teach")
    out, err = capsys.readouterr()
    run = Run.objects.get(name="cli")
    assert f"Run {run.id} queued" in out and QUEUE_UNREACHABLE in err and "Traceback" not in out + err
    assert job_unsent(Run, run.id)


def _wait_log(run: Run, text: str, count: int = 1, timeout: float = 60) -> Run:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.log.count(text) >= count and run.status == Run.Status.FAILED:
            return run
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {text!r} x{count}; run {run.status}:\n{run.log}")


@pytest.mark.worker
def test_a_run_saved_while_the_broker_was_down_starts_when_a_worker_reaches_it(broker_down, celery_worker_process):
    corpus = _corpus_and_labelers()
    with broker_down():
        run = run_launch(name="later", corpus=corpus, config={"generator": "gen", "teacher": "teach"})
    assert job_unsent(Run, run.id)
    celery_worker_process(queues="default,gpu")  # its start sweep sends it
    run = _wait_log(run, "synthesize: started on")
    assert "sent to the queue, unreachable before" in run.log and "synthesize: failed" in run.log

    # Retried while the broker is down for this process only: the running worker's periodic sweep sends it.
    with broker_down():
        assert run_retry(run=run)
    assert job_unsent(Run, run.id)
    run = _wait_log(run, "synthesize: started on", count=2, timeout=30)
    assert run.log.count("sent to the queue, unreachable before") == 2
