"""The server under measurement: `manage.py serve --no-worker` (gunicorn) on a free loopback
port, DEBUG off, its broker in a temporary folder; its CPU time and its access log's timings."""

import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

from . import REPO
from .loader import BENCHMARK

ACCESS_FORMAT = "%(m)s %(U)s %(s)s %(D)s"  # gunicorn's access log: method, path, status, microseconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    children = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children[int(fields[1])].append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children[todo.pop()]
        found += kids
        todo += kids
    return found


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes (the server's): how much of the 2 cores it used."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (every process, PostgreSQL and other
    people's work included): with the server's and this script's, what the others took."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class Server:
    """`manage.py serve --no-worker` on a free loopback port, for the length of a with block."""

    def __init__(self, url: str, web_workers: int, web_threads: int):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.folder = tempfile.TemporaryDirectory(prefix="annotate-load-")
        env = {**os.environ, "DATABASE_URL": url, "DEBUG": "false", "ASSESSOR_BROKER_DIR": self.folder.name,
               "LOG_LEVEL": "WARNING", "GUNICORN_CMD_ARGS": f"--access-logformat '{ACCESS_FORMAT}'"}
        self.log = open(Path(self.folder.name) / "server.log", "w")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--no-worker", "--bind", f"127.0.0.1:{self.port}",
             "--web-workers", str(web_workers), "--web-threads", str(web_threads)],
            cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def __enter__(self) -> "Server":
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"the server exited:\n{self.output()}")
            try:
                if urlopen(f"{self.base}/login/", timeout=2).status == 200:
                    return self
            except (URLError, OSError):
                pass
            time.sleep(0.3)
        sys.exit(f"the server did not answer in 60 s:\n{self.output()}")

    def __exit__(self, *exc) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.log.close()
        self.folder.cleanup()

    def output(self) -> str:
        self.log.flush()
        return (Path(self.folder.name) / "server.log").read_text(errors="replace")[-4000:]

    def log_offset(self) -> int:
        return (Path(self.folder.name) / "server.log").stat().st_size

    def grading_ms(self, flow: str, start: int, end: int) -> dict[tuple[str, str], list[float]]:
        """The server's own time for the grading requests it logged between two offsets
        (gunicorn's %(D)s: from reading the request to the response written), by request kind."""
        with open(Path(self.folder.name) / "server.log", "rb") as log:
            log.seek(start)
            lines = log.read(end - start).decode(errors="replace").splitlines()
        ms = defaultdict(list)
        for line in lines:
            parts = line.split()
            if len(parts) == 4 and parts[1] == f"/benchmarks/{BENCHMARK}/grade/" and int(parts[2]) < 400:
                kind = "next" if parts[0] == "GET" else "submit"
                ms[flow, kind].append(int(parts[3]) / 1000)
        return ms

    def gunicorn(self) -> str:
        """The gunicorn command serve started (workers and threads as they ran)."""
        for pid in _descendants(self.proc.pid):
            args = [a for a in Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0") if a]
            if "gunicorn" in args:
                return shlex.join(args[args.index("gunicorn"):])
        return "?"

    def cpu_seconds(self) -> float:
        return _cpu_seconds(_descendants(self.proc.pid))
