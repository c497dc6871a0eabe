"""Soak: annotators grading through `manage.py serve` on PostgreSQL while a worker and the web
server are each killed and restarted twice; then what was submitted, acknowledged, stored, lost
and duplicated, and the round trips.

    .venv/bin/python benchmarks/soak.py [--database-url URL] [--duration S] [--annotators N]
        [--pairs N] [--judgments N] [--think-ms MS] [--reload]

1. Data: benchmarks/annotate_load.py's loader (grading_load.loader: its synthetic benchmark, here
   at 50,000 pairs by default), reset to its loaded state before each run.
2. Serve: `manage.py serve` on a free loopback port: gunicorn and the two workers, its broker in
   a temporary folder (this script enqueues into it too), DEBUG off.
3. Grade: each annotator logs in through the form and grades with the keyboard UI's requests
   (grading_load.client): the grade's POST (HX-Request) answers the next pair. A grade
   whose POST fails (refused, reset, a 5xx) is sent again, as a person presses the key again,
   after 0.5, 1, 2 ... s; after 5 tries the page is loaded again (the held pair comes back).
   An admin opens the agreement page every 20 s (a refresh task for the default worker).
4. Faults, at 15 % and 55 % of the duration: a labeling job (a recorded run over 5,000 of the
   benchmark's pairs, batches of 16, queue default) is started, and once it is under way the
   default worker's process group is SIGKILLed (an OOM kill); serve starts it again and the
   job resumes once its lease expires. At 35 % and 75 %: gunicorn's process group is SIGKILLed;
   serve starts it again.
5. Count: submitted (distinct grades tried), acknowledged (answered 200 without a warning),
   stored (judgments in the database made during the run), lost (acknowledged, not stored),
   duplicated (stored twice), stored without an acknowledgement (its answer died with the web
   server), the wrong grade stored; the queue's counters against the judgments; each job's
   labels. Round trips of the requests that were answered, and the time from a grade's first
   POST to its acknowledgement (retries included); each also without the requests sent from a
   web server kill to 15 s after it answered again.

Prints the report and writes benchmarks/results/soak.md (keeping its "## Notes" section). On a
shared machine: `flock /tmp/assessor-cpu.lock .venv/bin/python benchmarks/soak.py`.
"""

import argparse
import asyncio
import datetime as dt
import functools
import os
import random
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.request import urlopen

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/assessor_soak"
# grading_load reads --database-url (its own default otherwise) and starts Django at import;
# this script's broker folder must be set before that too.
if not any(arg.startswith("--database-url") for arg in sys.argv[1:]):
    sys.argv[1:1] = ["--database-url", DEFAULT_URL]
BROKER = tempfile.TemporaryDirectory(prefix="soak-broker-")
os.environ["ASSESSOR_BROKER_DIR"] = BROKER.name

import grading_load  # noqa: E402  (first: it starts Django)

# isort: split
import numpy as np  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from annotate.models import BenchmarkItem  # noqa: E402
from config.celery import app  # noqa: E402
from labeling.models import Labeler, LabelingJob, ModelLabel, Pair  # noqa: E402
from labeling.services.labeling_jobs import labeling_job_create  # noqa: E402

from grading_load import loader  # noqa: E402
from grading_load.client import Answer, Browser, grade_form, login  # noqa: E402
from grading_load.server import free_port  # noqa: E402
from report import cpu_description, results_write  # noqa: E402

RESULTS = grading_load.REPO / "benchmarks" / "results" / "soak.md"
ATTEMPTS = 5
JOB_QUERIES = 50  # x 100 pairs a query: 5,000 pairs a job
STARTED = re.compile(r"serve: (web|worker default) started \(pid (\d+)\)")


# --- the server ----------------------------------------------------------------------------------

class Serve:
    """`manage.py serve` (web server and workers) for the length of a with block."""

    def __init__(self, url: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(BROKER.name) / "serve.log"
        env = {**os.environ, "DATABASE_URL": url, "DEBUG": "false", "LOG_LEVEL": "WARNING"}
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen([sys.executable, "manage.py", "serve", "--bind", f"127.0.0.1:{self.port}"],
                                     cwd=grading_load.REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def __enter__(self) -> "Serve":
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"serve exited:\n{self.tail()}")
            if self.up() and app.control.ping(destination=[f"default@{socket.gethostname()}"], timeout=1):
                return self
            time.sleep(0.5)
        sys.exit(f"serve did not come up in 120 s:\n{self.tail()}")

    def __exit__(self, *exc) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)
        self.log.close()

    def text(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def tail(self) -> str:
        return self.text()[-4000:]

    def up(self) -> bool:
        try:
            return urlopen(f"{self.base}/login/", timeout=5).status == 200
        except OSError:
            return False

    def starts(self, name: str) -> list[int]:
        return [int(pid) for what, pid in STARTED.findall(self.text()) if what == name]

    def pid(self, name: str) -> int | None:
        found = self.starts(name)
        return found[-1] if found else None

    def serve_lines(self) -> list[str]:
        return [line for line in self.text().splitlines() if " serve: " in line]


# --- the annotators ------------------------------------------------------------------------------

@dataclass
class Tally:
    submitted: dict = field(default_factory=dict)  # (username, item id) -> grade
    acknowledged: dict = field(default_factory=dict)
    refused: dict = field(default_factory=dict)  # answered with a warning: no judgment made
    attempts: int = 0
    ms: dict = field(default_factory=lambda: defaultdict(list))  # request kind -> (sent at, ms) of answers
    errors: dict = field(default_factory=lambda: defaultdict(int))  # "kind: what" -> count
    until_ack_ms: list = field(default_factory=list)  # (first POST at, ms)
    started: float = 0.0
    dashboard: dict = field(default_factory=lambda: defaultdict(int))


async def _request(tally: Tally, kind: str, send) -> Answer | None:
    started = time.perf_counter()
    try:
        answer = await send()
    except (TimeoutError, OSError, ValueError, IndexError) as exc:
        tally.errors[f"{kind}: {type(exc).__name__}"] += 1
        return None
    if answer.status_code >= 400:
        tally.errors[f"{kind}: {answer.status_code}"] += 1
        return None
    tally.ms[kind].append((started, 1000 * (time.perf_counter() - started)))
    return answer


def _grade_of(username: str, item: int) -> int:
    """The grade this annotator gives this item, whatever the try: so a stored grade can be checked."""
    return zlib.crc32(f"{username}:{item}".encode()) % 4


async def annotator(client: Browser, username: str, tally: Tally, rng: random.Random, think_s: float,
                    deadline: float) -> None:
    url = f"/benchmarks/{loader.BENCHMARK}/grade/"
    headers = {"HX-Request": "true", "HX-Target": "pair", "HX-Current-URL": f"http://{client.host}:{client.port}{url}"}
    text = None
    await asyncio.sleep(rng.uniform(0, think_s))
    while time.perf_counter() < deadline:
        if text is None:
            page = await _request(tally, "page", lambda: client.get(url))
            if page is None or page.status_code != 200:
                await asyncio.sleep(0.5)
                continue
            text = page.text
        form = grade_form(text, rng)
        if form is None:
            return  # nothing left for this annotator
        key = (username, int(form["item"]))
        form["grade"] = str(_grade_of(*key))
        await asyncio.sleep(think_s * rng.uniform(0.5, 1.5))
        tally.submitted.setdefault(key, int(form["grade"]))
        first = time.perf_counter()
        text = None
        for attempt in range(ATTEMPTS):
            tally.attempts += 1
            send = functools.partial(client.post, url, data=form,
                                     headers={**headers, "X-CSRFToken": form["csrfmiddlewaretoken"]})
            answer = await _request(tally, "submit", send)
            if answer is not None and answer.status_code == 200:
                if "notice-warning" in answer.text:
                    tally.refused[key] = int(form["grade"])
                else:
                    tally.acknowledged[key] = int(form["grade"])
                    tally.until_ack_ms.append((first, 1000 * (time.perf_counter() - first)))
                text = answer.text
                break
            await asyncio.sleep(0.5 * 2**attempt)


async def admin_polls(server: Serve, tally: Tally, deadline: float) -> None:
    client = Browser("127.0.0.1", server.port, timeout=60)
    await login(client, "load-admin")
    while time.perf_counter() < deadline:
        answer = await _request(tally, "dashboard", lambda: client.get(f"/benchmarks/{loader.BENCHMARK}/agreement/"))
        tally.dashboard["ok" if answer is not None else "failed"] += 1
        await asyncio.sleep(20)


# --- the faults ----------------------------------------------------------------------------------

@dataclass
class Fault:
    what: str
    at_s: float  # into the run
    pid: int = 0
    back_s: float | None = None  # until serve had it running again (web: answering)
    job: int | None = None
    done_at_kill: int = 0
    resumed_s: float | None = None  # job: until its count moved again


def _job_start(labeler: Labeler, queries: list[str]) -> LabelingJob:
    return labeling_job_create(labeler=labeler, batch_size=16, description="soak",
                               scope={"benchmarks__name": loader.BENCHMARK, "query__external_id__in": queries})


def _done(job_id: int) -> int:
    return LabelingJob.objects.values_list("done", flat=True).get(id=job_id)


async def _until(check, timeout: float, poll: float = 0.2) -> float | None:
    """Seconds until check() held (None: not within timeout)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if await asyncio.to_thread(check):
            return time.perf_counter() - started
        await asyncio.sleep(poll)
    return None


async def kill_worker(server: Serve, fault: Fault, labeler: Labeler, queries: list[str]) -> asyncio.Task:
    """Kill the default worker while it labels; a task that notes when the job moves again."""
    job = await asyncio.to_thread(_job_start, labeler, queries)
    fault.job = job.id
    if await _until(lambda: _done(job.id) >= 160, 60) is None:  # ten batches: under way
        print(f"        job {job.id} not under way after 60 s: the worker is killed anyway", flush=True)
    restarts = len(server.starts("worker default"))
    fault.pid = server.pid("worker default") or 0
    _killpg(fault.pid)
    started = time.perf_counter()
    await asyncio.sleep(1)
    fault.done_at_kill = await asyncio.to_thread(_done, job.id)  # after the kill: what it had committed
    fault.back_s = await _until(lambda: len(server.starts("worker default")) > restarts, 120)
    if fault.back_s is not None:
        fault.back_s += 1

    async def resumed() -> None:
        moved = await _until(lambda: _done(job.id) > fault.done_at_kill, 900, poll=1.0)
        fault.resumed_s = None if moved is None else time.perf_counter() - started

    return asyncio.create_task(resumed())


async def kill_web(server: Serve, fault: Fault) -> None:
    fault.pid = server.pid("web") or 0
    _killpg(fault.pid)
    await asyncio.sleep(0.5)
    fault.back_s = await _until(server.up, 180, poll=0.1)
    fault.back_s = None if fault.back_s is None else fault.back_s + 0.5


def _killpg(pid: int) -> None:
    """SIGKILL the process and its group (serve starts each child in its own)."""
    os.killpg(pid, signal.SIGKILL)


async def soak(server: Serve, usernames: list[str], args, labelers: list[Labeler], job_queries: list[list[str]]):
    tally = Tally()
    clients = [Browser("127.0.0.1", server.port) for _ in usernames]
    gate = asyncio.Semaphore(4)  # password hashing is the slowest thing the server does

    async def signed_in(client, username):
        async with gate:
            await login(client, username)

    await asyncio.gather(*(signed_in(c, u) for c, u in zip(clients, usernames, strict=True)))
    started = tally.started = time.perf_counter()
    deadline = started + args.duration
    faults = [Fault("worker", 0.15 * args.duration), Fault("web", 0.35 * args.duration),
              Fault("worker", 0.55 * args.duration), Fault("web", 0.75 * args.duration)]

    trackers: list[asyncio.Task] = []

    async def inject() -> None:
        workers = iter(zip(labelers, job_queries, strict=True))
        for fault in faults:
            await asyncio.sleep(max(0.0, started + fault.at_s - time.perf_counter()))
            fault.at_s = time.perf_counter() - started
            print(f"{fault.at_s:6.0f} s: killing the {fault.what}", flush=True)
            if fault.what == "worker":
                trackers.append(await kill_worker(server, fault, *next(workers)))
            else:
                await kill_web(server, fault)
            print(f"        {fault}", flush=True)

    rngs = [random.Random(f"{args.seed}:{i}") for i in range(len(clients))]
    think = args.think_ms / 1000
    await asyncio.gather(inject(), admin_polls(server, tally, deadline),
                         *(annotator(c, u, tally, r, think, deadline) for c, u, r in zip(clients, usernames, rngs,
                                                                                        strict=True)))
    wall = time.perf_counter() - started
    await asyncio.gather(*trackers)  # a killed job resumes once its dead worker's lease expires
    return tally, faults, wall


# --- the checks and the report -------------------------------------------------------------------

def checks(tally: Tally, judgment_max_id: int) -> dict:
    items = dict(BenchmarkItem.objects.filter(benchmark__name=loader.BENCHMARK).values_list("id", "pair_id"))
    with connection.cursor() as cur:
        cur.execute("SELECT u.username, j.pair_id, j.grade FROM labeling_judgment j JOIN auth_user u"
                    " ON u.id = j.annotator_id WHERE j.id > %s", [judgment_max_id])
        rows = cur.fetchall()
        cur.execute("SELECT count(*) FROM (SELECT 1 FROM labeling_judgment WHERE id > %s"
                    " GROUP BY annotator_id, pair_id HAVING count(*) > 1) d", [judgment_max_id])
        duplicated = cur.fetchone()[0]
    stored = {(user, pair): grade for user, pair, grade in rows}
    acked = {(user, items[item]): grade for (user, item), grade in tally.acknowledged.items()}
    counted = loader.database_checks(0, 0)
    return {
        "submitted": len(tally.submitted), "attempts": tally.attempts, "acknowledged": len(acked),
        "refused": len(tally.refused), "stored": len(rows),
        "lost": sum(key not in stored for key in acked), "duplicated": duplicated,
        "stored_unacknowledged": sum(key not in acked for key in stored),
        "wrong_grade": sum(stored[key] != grade for key, grade in acked.items() if key in stored),
        "over_cap": counted["over_cap"], "item_counts_off": counted["item_counts_off"],
        "member_counts_off": counted["member_counts_off"],
    }


def jobs_check(faults: list[Fault]) -> list[dict]:
    rows = []
    for fault in faults:
        if fault.job is None:
            continue
        job = LabelingJob.objects.get(id=fault.job)
        pairs = Pair.objects.filter(**job.scope).distinct().count()
        labels = ModelLabel.objects.filter(labeler=job.labeler).count()
        rows.append({"job": job.id, "status": job.status, "done": job.done, "total": job.total, "pairs": pairs,
                     "labels": labels})
    return rows


def _ms(values) -> str:
    if not values:
        return "— | — | — | —"
    a = np.array(values)
    return " | ".join(f"{np.percentile(a, p):.0f}" for p in (50, 95, 99)) + f" | {a.max():.0f}"


RESTART_WINDOW_S = 15  # after the web server answers again: its processes still warming up


def _rows(name: str, timed: list, tally: Tally, faults: list[Fault]) -> list[str]:
    """All the answered requests, then those sent away from a web server restart (from its kill
    to RESTART_WINDOW_S after it answered again)."""
    windows = [(tally.started + f.at_s, tally.started + f.at_s + (f.back_s or 0) + RESTART_WINDOW_S)
               for f in faults if f.what == "web"]
    steady = [ms for at, ms in timed if not any(a <= at <= b for a, b in windows)]
    return [f"| {name} | {len(timed):,} | {_ms([ms for _, ms in timed])} |",
            f"| {name}, away from web restarts | {len(steady):,} | {_ms(steady)} |"]


def report(args, scale, tally: Tally, faults: list[Fault], wall: float, counts: dict, jobs: list[dict],
           serve_lines: list[str], load_before, load_after) -> str:
    command = shlex.join([".venv/bin/python", "benchmarks/soak.py", *sys.argv[1:]])
    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        pg = cur.fetchone()[0]
    errors = ", ".join(f"{what} {n}" for what, n in sorted(tally.errors.items())) or "none"
    fault_rows = []
    for fault in faults:
        back = "never" if fault.back_s is None else f"{fault.back_s:.1f} s"
        if fault.what == "worker":
            resumed = "not within 600 s" if fault.resumed_s is None else f"{fault.resumed_s:.0f} s"
            fault_rows.append(f"| {fault.at_s:.0f} s | default worker (pid {fault.pid}), job {fault.job} at"
                              f" {fault.done_at_kill} labeled | running again after {back}; job resumed after"
                              f" {resumed} |")
        else:
            fault_rows.append(f"| {fault.at_s:.0f} s | web server, gunicorn (pid {fault.pid}) | answering again"
                              f" after {back} |")
    c = counts
    lines = [
        "# Soak: grading while a worker and the web server are killed",
        "",
        f"- command: `{command}`",
        f"- date: {dt.datetime.now().isoformat(timespec='seconds')}",
        f"- machine: {cpu_description()}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after;"
        f" PostgreSQL {pg} on the same machine, the clients too",
        f"- data: annotate_load's synthetic benchmark, {scale.pairs:,} pairs ({scale.gold:,} gold), "
        f"{scale.judgments:,} judgments loaded, {scale.required} required per pair",
        f"- server: `manage.py serve` (gunicorn {2 * (os.cpu_count() or 1)} processes x 4 threads, a default"
        " worker (concurrency 2), a gpu worker), DEBUG off, filesystem broker, job lease"
        f" {os.environ.get('ASSESSOR_JOB_LEASE_SECONDS', '60')} s",
        f"- load: {args.annotators} annotators grading with the keyboard"
        f" UI's requests, {args.think_ms / 1000:.1f} s ± 50 % a pair, for {args.duration:.0f} s"
        f" ({wall:.0f} s wall); an admin opening the agreement page every 20 s; two labeling jobs",
        "",
        "## Faults",
        "",
        "| at | killed (SIGKILL, the process group) | recovery |",
        "|---|---|---|",
        *fault_rows,
        "",
        "serve's log of it:",
        "",
        "```",
        *serve_lines,
        "```",
        "",
        "## Grades",
        "",
        "| submitted | acknowledged | stored | lost | duplicated | stored, answer lost | wrong grade stored"
        " | refused (warning) |",
        "|---|---|---|---|---|---|---|---|",
        f"| {c['submitted']:,} | {c['acknowledged']:,} | {c['stored']:,} | **{c['lost']}** | **{c['duplicated']}**"
        f" | {c['stored_unacknowledged']} | {c['wrong_grade']} | {c['refused']} |",
        "",
        f"POSTs sent: {c['attempts']:,} (retries included). Failed requests: {errors}. The queue's counters"
        f" against the judgments: {c['item_counts_off']} items and {c['member_counts_off']} memberships off,"
        f" {c['over_cap']} pairs over their required judgments. Dashboard polls: {dict(tally.dashboard)}.",
        "",
        "## Round trips (ms, requests that were answered)",
        "",
        "| request | n | p50 | p95 | p99 | max |",
        "|---|---|---|---|---|---|",
        *_rows("grade POST (answers the next pair)", tally.ms["submit"], tally, faults),
        *_rows("grading page GET", tally.ms["page"], tally, faults),
        *_rows("a grade, first POST to acknowledgement (retries included)", tally.until_ack_ms, tally, faults),
        "",
        "## Labeling jobs (killed with their worker)",
        "",
        "| job | status | done | total | pairs in scope | labels |",
        "|---|---|---|---|---|---|",
        *(f"| {j['job']} | {j['status']} | {j['done']:,} | {j['total']:,} | {j['pairs']:,} | {j['labels']:,} |"
          for j in jobs),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--duration", type=float, default=600)
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--pairs", type=int, default=50_000)
    parser.add_argument("--judgments", type=int, default=5_000)
    parser.add_argument("--gold", type=int, default=500)
    parser.add_argument("--think-ms", type=float, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reload", action="store_true")
    args = parser.parse_args()
    scale = loader.Scale(pairs=args.pairs, judgments=args.judgments, annotators=args.annotators, gold=args.gold)
    loader.database_create(args.database_url)
    call_command("migrate", verbosity=0)
    if args.reload or not loader.dataset_ready(args.database_url, scale):
        print(f"loading {scale.pairs:,} pairs and {scale.judgments:,} judgments", flush=True)
        loader.dataset_load(args.database_url, scale)
    state = loader.load_state()
    assert state is not None
    judgment_max_id = state["judgment_max_id"]

    # Two recorded judges, one per worker kill, each over 5,000 pairs of its own queries.
    Labeler.objects.filter(name__startswith="soak-judge").delete()
    run = Path(BROKER.name) / "run.txt"
    pairs = Pair.objects.filter(benchmarks__name=loader.BENCHMARK).values_list("query__external_id",
                                                                             "document__external_id")
    run.write_text("".join(f"{q} 0 {d} {zlib.crc32(f'{q} {d}'.encode()) % 4}\n"
                           for q, d in pairs.iterator(chunk_size=10_000)))
    labelers = [Labeler.objects.create(name=f"soak-judge-{n}", role=Labeler.Role.RECORDED,
                                       backend=Labeler.Backend.RECORDED, params={"run_file": str(run)})
                for n in (1, 2)]
    queries = sorted(set(pairs.values_list("query__external_id", flat=True)))
    job_queries = [queries[:JOB_QUERIES], queries[JOB_QUERIES : 2 * JOB_QUERIES]]

    usernames = [f"load-ann{i:03d}" for i in range(scale.annotators)]
    load_before = os.getloadavg()
    with Serve(args.database_url) as server:
        tally, faults, wall = asyncio.run(soak(server, usernames, args, labelers, job_queries))
        # The jobs finish (a resumed one waits out its dead worker's lease first).
        for fault in faults:
            if fault.job is not None:
                deadline = time.monotonic() + 600
                while LabelingJob.objects.get(id=fault.job).status in ("queued", "running") \
                        and time.monotonic() < deadline:
                    time.sleep(1)
        serve_lines = server.serve_lines()
    text = report(args, scale, tally, faults, wall, checks(tally, judgment_max_id), jobs_check(faults), serve_lines,
                  load_before, os.getloadavg())
    print(text)
    results_write(RESULTS, text)
    BROKER.cleanup()


if __name__ == "__main__":
    main()
