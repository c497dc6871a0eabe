"""Enqueueing (labeling.enqueue) with a broker that is down: a labeling job stays
queued and unsent, the command says so, and a worker started later labels it."""

import time

import pytest
from django.core.management import call_command

from labeling.enqueue import QUEUE_UNREACHABLE, task_send
from labeling.models import LabelingJob, ModelLabel
from labeling.services.labeling_jobs import LABEL_JOB_TASK
from labeling.workers import job_unsent
from tests.factories import LabelerFactory, PairFactory, QueryFactory

from .test_labeling_jobs import _run_file


def test_a_send_to_a_broker_that_is_down_is_logged_and_answers_false(broker_down, caplog):
    with broker_down():
        started = time.monotonic()
        assert task_send(task=LABEL_JOB_TASK, args=(1,), queue="default") is False
        assert time.monotonic() - started < 5  # a few quick retries, not a hung request
    assert "could not enqueue labeling.label_job(1,) on queue default" in caplog.text and "refused" in caplog.text


def _labeled_corpus(tmp_path):
    query = QueryFactory(external_id="q1")
    pairs = [PairFactory(query=query) for _ in range(5)]
    LabelerFactory(name="judge", params={"run_file": str(_run_file(tmp_path, pairs))})
    return query.corpus


@pytest.mark.worker
def test_label_background_with_the_broker_down_says_so_and_a_later_worker_labels(tmp_path, broker_down, capsys,
                                                                                 celery_worker_process):
    corpus = _labeled_corpus(tmp_path)
    with broker_down():
        call_command("label", labeler="judge", corpus=corpus.name, background=True)
    out, err = capsys.readouterr()
    job = LabelingJob.objects.get()
    assert f"Labeling job {job.id} queued" in out and QUEUE_UNREACHABLE in err and "Traceback" not in out + err
    assert job.status == LabelingJob.Status.QUEUED and job_unsent(LabelingJob, job.id)

    celery_worker_process(queues="default")  # the broker is back for the worker: its start sweep sends the job
    deadline = time.monotonic() + 60
    while job.status != LabelingJob.Status.SUCCEEDED and time.monotonic() < deadline:
        time.sleep(0.3)
        job.refresh_from_db()
    assert job.status == LabelingJob.Status.SUCCEEDED, job.error
    assert job.done == 5 and ModelLabel.objects.filter(labeler__name="judge").count() == 5
