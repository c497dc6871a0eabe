"""Run the web server with Celery workers beside it: the embedded default in one command.

serve supervises them. A process that exits is started again after a backoff (1 s, doubling to
a minute; back to 1 s once it has run a minute), with a line in the log, while the others keep
running: a dead worker costs its task a resume from its checkpoint (labeling.workers), never
the site. Only a web server that fails at its first start (a port in use, a bad setting) stops
serve, since nothing would answer. Each child runs in its own process group, so a dead
worker's leftover pool processes go with it, and gets SIGTERM if serve itself dies.
"""

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 60.0
STABLE_S = 60.0  # a process that ran this long starts again after BACKOFF_FIRST_S
FIRST_START_GRACE_S = 10.0  # a web server that exits sooner at its first start stops serve
STOP_TIMEOUT_S = 30.0
PR_SET_PDEATHSIG = 1


def worker_command(*, queues: str, concurrency: int, name: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queues,
            "-c", str(concurrency), "-n", f"{name}@%h", "-l", "info"]


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when serve dies, so a killed serve leaves no
    orphans serving on."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: orphans stay possible
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _exit_reason(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


@dataclass
class Child:
    """One supervised process: the web server or a worker."""

    name: str
    command: list[str]
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    starts: int = 0
    backoff_s: float = BACKOFF_FIRST_S
    start_at: float = 0.0  # when to start it (again)


class Command(BaseCommand):
    help = "Serve the site (gunicorn) with a default-queue and a gpu-queue worker beside it, restarting any that dies."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:8000")
        # Two gunicorn processes per core: with 50 annotators on 2 cores, 4 processes cut the p95
        # of the grading POST from 73 to 60 ms against 2 (benchmarks/results/annotate_load.md).
        parser.add_argument("--web-workers", type=int, default=2 * (os.cpu_count() or 1))
        parser.add_argument("--web-threads", type=int, default=4, help="Threads per gunicorn process.")
        parser.add_argument("--no-worker", action="store_true", help="Web server only (workers run elsewhere).")

    def log(self, message: str) -> None:
        self.stderr.write(f"{timezone.now():%Y-%m-%d %H:%M:%S} serve: {message}")
        self.stderr.flush()

    def handle(self, *, bind, web_workers, web_threads, no_worker, **options):
        children = [Child("web", [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", bind, "--workers",
                                  str(web_workers), "--threads", str(web_threads), "--access-logfile", "-"])]
        if not no_worker:
            children += [
                Child("worker default", worker_command(queues="default", concurrency=2, name="default")),
                # Model work: one task at a time, so one model is loaded per GPU (or CPU).
                Child("worker gpu", worker_command(queues="gpu", concurrency=1, name="gpu")),
            ]
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        failure = ""
        self.stdout.write(f"Assessor is at http://{bind}/  (Ctrl-C stops it and its workers)")
        try:
            while not stopping and not failure:
                for child in children:
                    failure = failure or self.supervise(child)
                time.sleep(0.2)
        finally:
            self.stop_all(children)
        if failure:
            sys.exit(failure)

    def supervise(self, child: Child) -> str:
        """Start the child when due; notice when it exits. A message when serve must stop."""
        now = time.monotonic()
        if child.proc is None:
            if now >= child.start_at:
                child.proc = subprocess.Popen(child.command, cwd=settings.BASE_DIR, start_new_session=True,
                                              preexec_fn=_die_with_parent)
                child.started_at, child.starts = now, child.starts + 1
                self.log(f"{child.name} started (pid {child.proc.pid})"
                         + (f", restart {child.starts - 1}" if child.starts > 1 else ""))
            return ""
        code = child.proc.poll()
        if code is None:
            return ""
        ran = now - child.started_at
        _kill_group(child.proc.pid, signal.SIGKILL)  # what it leaves behind (a pool process) goes too
        child.proc = None
        if child.name == "web" and child.starts == 1 and ran < FIRST_START_GRACE_S:
            return f"the web server exited at its start ({_exit_reason(code)}): {' '.join(child.command)}"
        if ran >= STABLE_S:
            child.backoff_s = BACKOFF_FIRST_S
        child.start_at = now + child.backoff_s
        self.log(f"{child.name} exited ({_exit_reason(code)}) after {ran:.0f} s; restarting in {child.backoff_s:g} s")
        child.backoff_s = min(child.backoff_s * 2, BACKOFF_MAX_S)
        return ""

    def stop_all(self, children: list[Child]) -> None:
        """SIGTERM to each main process (gunicorn and celery shut down warm), then SIGKILL to
        whatever of its group is left after STOP_TIMEOUT_S."""
        running = [child.proc for child in children if child.proc is not None]
        for proc in running:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            _kill_group(proc.pid, signal.SIGKILL)
            proc.wait()
