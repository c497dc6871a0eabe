"""Project-wide fixtures: a real Celery worker process on the test database."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from kombu import pools as kombu_pools

from config.celery import app

TEST_LEASE_SECONDS = 6


def _test_database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def _reset_broker_pools() -> None:
    # Connections made with the old transport options must not be reused; kombu keeps its
    # pools in a global registry keyed by connection, so clear the registry too.
    kombu_pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture(autouse=True)
def artifact_dir(settings, tmp_path):
    """Saved indexes and other artifacts in the test's own folder, never in var/."""
    settings.ARTIFACT_DIR = tmp_path / "artifacts"
    return settings.ARTIFACT_DIR


@pytest.fixture
def worker_env(tmp_path):
    """The environment a worker process needs to share this test's database and broker."""
    env = {**os.environ, "DATABASE_URL": _test_database_url(), "PYTHONUNBUFFERED": "1",
           # A short job lease, so a dead worker's job resumes within seconds (labeling.workers).
           "ASSESSOR_JOB_LEASE_SECONDS": str(TEST_LEASE_SECONDS),
           "ASSESSOR_ARTIFACT_DIR": str(tmp_path / "artifacts")}
    if app.conf.broker_url.startswith("filesystem"):
        # A private broker folder, so a developer's running worker never takes test tasks.
        broker = tmp_path / "broker"
        options = {
            f"{key}": str(broker / sub)
            for key, sub in [
                ("data_folder_in", "queue"),
                ("data_folder_out", "queue"),
                ("control_folder", "control"),
                ("processed_folder", "processed"),
            ]
        }
        for folder in set(options.values()):
            os.makedirs(folder, exist_ok=True)
        previous = app.conf.broker_transport_options
        app.conf.broker_transport_options = {**previous, **options}
        _reset_broker_pools()
        env["ASSESSOR_BROKER_DIR"] = str(broker)
        yield env
        app.conf.broker_transport_options = previous
        _reset_broker_pools()
    else:
        yield env


@pytest.fixture
def broker_down():
    """`with broker_down(): ...`: this process's broker is a real Redis URL on a closed port
    (connections refused, as when the broker is down); the usual broker again after the block."""

    @contextmanager
    def down():
        with socket.socket() as probe:  # a port nothing listens on once the probe is closed
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url = f"redis://127.0.0.1:{port}/0"
        previous = app.conf.broker_url, app.conf.broker_transport_options, os.environ.get("CELERY_BROKER_URL")
        # Celery reads CELERY_BROKER_URL from the environment before its settings: set both.
        app.conf.broker_url, app.conf.broker_transport_options = url, {}
        os.environ["CELERY_BROKER_URL"] = url
        _reset_broker_pools()
        try:
            yield url
        finally:
            app.conf.broker_url, app.conf.broker_transport_options, env = previous
            if env is None:
                os.environ.pop("CELERY_BROKER_URL", None)
            else:
                os.environ["CELERY_BROKER_URL"] = env
            _reset_broker_pools()

    return down


class WorkerProcess:
    def __init__(self, env: dict, queues: str, log_path, name: str | None = None):
        self.name = name or f"test-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        self.log_path = log_path
        self.log = open(log_path, "w")  # noqa: SIM115 - open for the worker's life, closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queues, "-c", "1",
             "-n", self.name, "--without-gossip", "--without-mingle", "-l", "info"],
            cwd=settings.BASE_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so kill() takes the pool too
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.output()}")
            # Its own log says so too: another worker may answer to the same name.
            if f"{self.name} ready." in self.output() and app.control.ping(destination=[self.name], timeout=0.5):
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole worker, as a crash or an OOM kill would."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def celery_worker_process(transactional_db, worker_env, tmp_path):
    """A real `celery worker` process, started fresh for the test and stopped after it.

    Requests transactional_db: the worker is another process, so it only sees committed rows.
    """
    started: list[WorkerProcess] = []

    def start(queues: str = "default,gpu", name: str | None = None) -> WorkerProcess:
        worker = WorkerProcess(worker_env, queues, tmp_path / f"worker-{len(started)}.log", name=name)
        started.append(worker)  # before waiting, so a worker that never gets ready is stopped too
        worker.wait_ready()
        return worker

    start.started = started
    yield start
    for worker in started:
        worker.stop()
