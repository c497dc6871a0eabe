"""`manage.py serve` supervises its web server and workers: a dead worker is started again,
with a backoff, and the site stays up."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from io import StringIO
from urllib.request import urlopen

import pytest
from django.conf import settings

from config.management.commands import serve
from labeling.models import LabelingJob, ModelLabel
from labeling.services.labeling_jobs import labeling_job_create
from tests.factories import LabelerFactory, PairFactory, QueryFactory
from tests.labeling.test_labeling_jobs import _run_file


def _supervise_for(command: serve.Command, child: serve.Child, seconds: float, until=lambda log: False) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not until(command.stderr.getvalue()):
        if failure := command.supervise(child):
            return failure
        time.sleep(0.01)
    if child.proc is not None:
        child.proc.wait()
    return ""


def test_a_process_that_keeps_dying_is_restarted_with_a_doubling_backoff(monkeypatch):
    monkeypatch.setattr(serve, "BACKOFF_MAX_S", 0.4)
    command = serve.Command(stdout=StringIO(), stderr=StringIO())
    child = serve.Child("worker crashy", [sys.executable, "-c", "raise SystemExit(3)"], backoff_s=0.1)
    exits = re.compile(r"worker crashy exited \(exit code 3\) after \d+ s; restarting in ([\d.]+) s")
    assert _supervise_for(command, child, 10, until=lambda log: len(exits.findall(log)) >= 4) == ""
    log = command.stderr.getvalue()
    delays = [float(d) for d in exits.findall(log)]
    assert delays[:4] == [0.1, 0.2, 0.4, 0.4], log
    assert "worker crashy started (pid" in log and ", restart 2" in log


def test_a_web_server_that_fails_at_its_first_start_stops_serve():
    command = serve.Command(stdout=StringIO(), stderr=StringIO())
    web = serve.Child("web", [sys.executable, "-c", "raise SystemExit(1)"])
    assert _supervise_for(command, web, 10).startswith("the web server exited at its start (exit code 1)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _site_up(base: str) -> bool:
    try:
        return urlopen(f"{base}/login/", timeout=5).status == 200
    except OSError:
        return False


def _wait(until, timeout: float, what: str, log):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := until():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text(errors='replace')[-4000:]}")


@pytest.mark.worker
def test_a_killed_worker_comes_back_and_takes_a_task_while_the_site_stays_up(transactional_db, worker_env, tmp_path):
    query = QueryFactory(external_id="q1")
    pairs = [PairFactory(query=query) for _ in range(4)]
    judge = LabelerFactory(name="judge", params={"run_file": str(_run_file(tmp_path, pairs))})
    port, log = _free_port(), tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--bind", f"127.0.0.1:{port}", "--web-workers", "1"],
            cwd=settings.BASE_DIR, env=worker_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    started = re.compile(r"worker default started \(pid (\d+)\)")
    try:
        _wait(lambda: _site_up(base), 60, "the site", log)
        pid = int(_wait(lambda: started.findall(log.read_text()), 60, "the default worker", log)[0])
        _wait(lambda: "default@" in log.read_text() and " ready." in log.read_text(), 60, "its worker ready", log)

        os.killpg(pid, signal.SIGKILL)  # the worker and its pool, as an OOM kill would
        _wait(lambda: "worker default exited (killed by SIGKILL)" in log.read_text(), 10, "serve to notice", log)
        assert proc.poll() is None and _site_up(base)  # serve and its web server stayed up
        pids = _wait(lambda: (found := started.findall(log.read_text()))[1:] and found, 60, "the restart", log)
        assert pids[1] != pids[0] and "restart 1" in log.read_text()

        job = labeling_job_create(labeler=judge, scope={"query__external_id": "q1"})  # queue default
        _wait(lambda: LabelingJob.objects.get(id=job.id).status == LabelingJob.Status.SUCCEEDED, 60,
              "the restarted worker to label", log)
        assert ModelLabel.objects.filter(labeler=judge).count() == 4 and _site_up(base)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, log.read_text()[-4000:]
