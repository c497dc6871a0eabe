"""Job ownership is a lease one process holds (labeling.workers): in the database, then with
real worker processes, two of them under one node name."""

import os
import signal
import socket
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from config.celery import app
from labeling.enqueue import task_send
from labeling.models import Labeler, LabelingJob, ModelLabel
from labeling.services.labeling_jobs import LABEL_JOB_TASK, labeling_job_create
from labeling.workers import ACTIVE, WAITING, job_claim, job_lease, job_renew, job_unsent, jobs_stranded
from tests.factories import LabelerFactory, PairFactory, QueryFactory

from .test_labeler_openai import OK, scripted


def _job(n_pairs=3, **fields):
    query = QueryFactory(external_id=f"q-{uuid.uuid4().hex[:6]}")
    for _ in range(n_pairs):
        PairFactory(query=query)
    job = labeling_job_create(labeler=LabelerFactory(), scope={"query_id": query.id}, enqueue=False)
    LabelingJob.objects.filter(id=job.id).update(**fields)
    return LabelingJob.objects.get(id=job.id)


@pytest.mark.django_db
def test_a_live_lease_is_refused_to_anyone_else_whatever_the_name_until_it_expires(settings):
    settings.JOB_LEASE_SECONDS = 60
    job = _job()
    assert job_claim(LabelingJob, job.id, me="worker@host#aaaa")
    assert job_claim(LabelingJob, job.id, me="worker@host#aaaa")  # its own again: a redelivery
    assert not job_claim(LabelingJob, job.id, me="worker@host#bbbb")  # same node name, another process
    assert not jobs_stranded(LabelingJob.objects.filter(id=job.id)).exists()

    LabelingJob.objects.filter(id=job.id).update(heartbeat_at=timezone.now() - timedelta(seconds=61))
    assert jobs_stranded(LabelingJob.objects.filter(id=job.id)).exists()  # the holder died
    assert not job_renew(LabelingJob, job.id, me="worker@host#bbbb")
    assert job_claim(LabelingJob, job.id, me="worker@host#bbbb")
    assert LabelingJob.objects.get(id=job.id).owner == "worker@host#bbbb"
    assert not job_renew(LabelingJob, job.id, me="worker@host#aaaa")  # the old holder knows it lost it


@pytest.mark.django_db
def test_waiting_jobs_are_stranded_when_unsent_or_sent_long_ago(settings):
    settings.JOB_LEASE_SECONDS = 60
    unsent = _job(owner=WAITING, heartbeat_at=None)
    sent = _job(owner=WAITING, heartbeat_at=timezone.now())
    long_ago = _job(owner=WAITING, heartbeat_at=timezone.now() - timedelta(seconds=601))
    foreground = _job(owner="", heartbeat_at=None)  # run by a command, not the queue's
    stranded = set(jobs_stranded(LabelingJob.objects.all()).values_list("id", flat=True))
    assert stranded == {unsent.id, long_ago.id}
    assert sent.id not in stranded and foreground.id not in stranded


@pytest.mark.django_db(transaction=True)
def test_of_many_processes_claiming_at_once_exactly_one_gets_the_lease():
    job = _job()
    start = threading.Barrier(8)
    won: list[str] = []

    def claim(n: int) -> None:
        me = f"twin@host#{n}"
        start.wait()
        try:
            if job_claim(LabelingJob, job.id, me=me):
                won.append(me)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and LabelingJob.objects.get(id=job.id).owner == won[0]


@pytest.mark.django_db(transaction=True)
def test_a_held_lease_is_renewed_while_the_task_runs_and_released_after(settings):
    settings.JOB_LEASE_SECONDS = 2  # renewed every 0.5 s
    job = _job()
    with job_lease(LabelingJob, job.id, hostname="worker@host") as me:
        assert job_claim(LabelingJob, job.id, me=me)
        time.sleep(3)  # longer than the lease: renewed meanwhile
        assert not job_claim(LabelingJob, job.id, me="worker@host#other")
        held = LabelingJob.objects.get(id=job.id)
        assert held.owner == me and held.heartbeat_at > timezone.now() - timedelta(seconds=2)
    assert job_claim(LabelingJob, job.id, me="worker@host#other")  # released: free at once


def test_active_means_queued_or_running():
    assert ACTIVE == (LabelingJob.Status.QUEUED, LabelingJob.Status.RUNNING)


@pytest.mark.django_db(transaction=True)
def test_a_task_that_leaves_its_job_active_hands_it_back_to_the_sweep(settings):
    settings.JOB_LEASE_SECONDS = 60
    active, done = _job(status=LabelingJob.Status.RUNNING), _job(status=LabelingJob.Status.RUNNING)
    for job in (active, done):
        with job_lease(LabelingJob, job.id, hostname="worker@host") as me:
            assert job_claim(LabelingJob, job.id, me=me)
            if job is done:
                LabelingJob.objects.filter(id=job.id).update(status=LabelingJob.Status.SUCCEEDED)
    assert LabelingJob.objects.get(id=done.id).owner == ""
    assert LabelingJob.objects.get(id=active.id).owner == WAITING and not job_unsent(LabelingJob, active.id)
    assert list(jobs_stranded(LabelingJob.objects.all())) == [LabelingJob.objects.get(id=active.id)]


# --- real worker processes --------------------------------------------------------------------

HOLD_AT = 4  # the scripted judge holds its answers from this request on, until the test lets go


def _held_judge(gate: threading.Event):
    def script(n, body):
        if n >= HOLD_AT:
            gate.wait(60)
        return (*OK[:3], 0.01)
    return script


def _slow_job(server, n_pairs):
    query = QueryFactory(external_id="q1")
    for _ in range(n_pairs):
        PairFactory(query=query)
    judge = LabelerFactory(name="http-judge", role=Labeler.Role.TEACHER, backend=Labeler.Backend.OPENAI,
                           model_ref="judge",
                           params={"base_url": server.base_url, "max_concurrency": 1, "backoff_s": 0.01})
    return labeling_job_create(labeler=judge, scope={"query__external_id": "q1"}, batch_size=3)


def _wait(until, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := until():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _job_where(job_id: int, condition) -> LabelingJob | None:
    job = LabelingJob.objects.get(id=job_id)
    assert job.status != LabelingJob.Status.FAILED, job.error
    return job if condition(job) else None


@pytest.mark.worker
def test_two_workers_with_one_node_name_never_run_a_job_twice(celery_worker_process):
    # RabbitMQ refuses a second worker under a name in use (its control queue is exclusive):
    # there the twin's refusal is checked, and the duplicate waits for the first worker.
    refused_twins = app.conf.broker_url.startswith("amqp")
    gate = threading.Event()
    with scripted(_held_judge(gate)) as server:
        job = _slow_job(server, n_pairs=24)
        name = f"twin-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
        celery_worker_process(queues="gpu", name=name)
        _wait(lambda: _job_where(job.id, lambda j: j.done >= 3), 60, "the first worker's first batch")
        # A second worker under the same name: its start sweeps, and a duplicate message (a
        # redelivery) reaches it while the first still holds the job.
        if refused_twins:
            with pytest.raises(RuntimeError, match="RESOURCE_LOCKED"):
                celery_worker_process(queues="gpu", name=name)
        else:
            second = celery_worker_process(queues="gpu", name=name)
        assert task_send(task=LABEL_JOB_TASK, args=(job.id,), queue="gpu")
        deadline = time.monotonic() + 30
        while not refused_twins and not (bowed_out := "succeeded" in second.output()) and time.monotonic() < deadline:
            time.sleep(0.2)
        gate.set()
        job = _wait(lambda: _job_where(job.id, lambda j: j.status == LabelingJob.Status.SUCCEEDED), 60,
                    "the job to finish")
        assert (job.done, len(server.requests)) == (24, 24)  # each pair asked of the model once
        assert ModelLabel.objects.filter(labeler=job.labeler).count() == 24
        if not refused_twins:
            assert bowed_out and LABEL_JOB_TASK in second.output(), second.output()  # it had the duplicate


@pytest.mark.worker
def test_a_dead_workers_job_is_resumed_once_its_lease_expires(celery_worker_process):
    gate = threading.Event()
    with scripted(_held_judge(gate)) as server:
        job = _slow_job(server, n_pairs=12)
        first = celery_worker_process(queues="gpu")
        _wait(lambda: _job_where(job.id, lambda j: j.done >= 3), 60, "the first worker's first batch")
        os.killpg(first.proc.pid, signal.SIGKILL)
        first.proc.wait()
        gate.set()
        celery_worker_process(queues="gpu")  # its sweep takes the job once the dead lease expires
        job = _wait(lambda: _job_where(job.id, lambda j: j.status == LabelingJob.Status.SUCCEEDED), 90,
                    "the job to be resumed and finish")
        assert job.done == job.total == 12
        assert ModelLabel.objects.filter(labeler=job.labeler).count() == 12
