"""Run the web server with Celery workers beside it: the embedded default in one command."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


def worker_command(*, queues: str, concurrency: int, name: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queues,
            "-c", str(concurrency), "-n", f"{name}@%h", "-l", "info"]


class Command(BaseCommand):
    help = "Serve the site (gunicorn) with a default-queue and a gpu-queue worker beside it."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:8000")
        # Two gunicorn processes per core: with 50 annotators on 2 cores, 4 processes cut the p95
        # of the grading POST from 73 to 60 ms against 2 (benchmarks/results/annotate_load.md).
        parser.add_argument("--web-workers", type=int, default=2 * (os.cpu_count() or 1))
        parser.add_argument("--web-threads", type=int, default=4, help="Threads per gunicorn process.")
        parser.add_argument("--no-worker", action="store_true", help="Web server only (workers run elsewhere).")

    def handle(self, *, bind, web_workers, web_threads, no_worker, **options):
        commands = [
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", bind, "--workers", str(web_workers),
             "--threads", str(web_threads), "--access-logfile", "-"],
        ]
        if not no_worker:
            commands += [
                worker_command(queues="default", concurrency=2, name="default"),
                # Model work: one task at a time, so one model is loaded per GPU (or CPU).
                worker_command(queues="gpu", concurrency=1, name="gpu"),
            ]
        procs = [subprocess.Popen(cmd, cwd=settings.BASE_DIR) for cmd in commands]
        self.stdout.write(f"Assessor is at http://{bind}/  (Ctrl-C stops it and its workers)")

        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            # If any part dies, stop the rest: a site without its worker would queue jobs forever.
            while not stopping and all(p.poll() is None for p in procs):
                time.sleep(0.5)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        failed = [p.args[2] for p in procs if p.returncode not in (0, -signal.SIGTERM, None)]
        if failed and not stopping:
            sys.exit(f"stopped because a process exited: {failed}")
