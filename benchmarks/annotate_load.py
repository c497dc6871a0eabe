"""Fifty annotators grading a million-pair benchmark through the real server, on PostgreSQL:
round-trip times of the grading requests, and the agreement dashboard's compute and render times.

    .venv/bin/python benchmarks/annotate_load.py [--database-url URL] [--pairs N] [--judgments N]
        [--annotators N] [--duration S] [--think-ms MS] [--flows page htmx] [--load-only | --skip-load] [--reload]

1. Load (skipped when the database already holds this benchmark, at these counts; --reload
   forces it): synthetic documents and queries by COPY, pairs, benchmark items and judgments by
   INSERT ... SELECT over generate_series, into the app's own tables, with every denormalised
   counter the queue and the progress bars read (items' judgment_count, members' judged_*,
   the benchmark's counts) set from the judgments. Then ANALYZE. Before each measurement the
   rows a previous measurement added (judgments, leases, skips, sessions) are removed again, so
   every run starts from the same state.
2. Serve: `manage.py serve --no-worker` (gunicorn) on a free loopback port, DEBUG off, its
   broker in a temporary folder (the dashboard's refresh requests go nowhere).
3. Grade: each annotator logs in through the login form, then loops as a browser does.
   Flow `page` (no JavaScript): GET the grading page (the next pair), read the pair for the think
   time, POST the grade (302 back to the page). Flow `htmx` (the keyboard UI): the POST carries
   HX-Request and answers the next pair's fragment, so one request is submit and next pair.
   Every request's round trip is recorded; requests started in the first --warmup seconds are not counted,
   nor those started after --duration more (a grade being read then is still submitted). Beside
   it, the server's own time per request, from gunicorn's access log. The clients are a few lines
   of HTTP on asyncio streams (Browser), light enough to share the 2 cores with the server.
   Afterwards the database is checked: judgments added = successful submits, no pair over its
   required judgments, counters equal to the judgments.
4. Dashboard: the refresh service (what the background task runs) timed in this process, then
   the agreement page as an admin, first request after the refresh (cold) and repeated (warm).

The table is printed and written to benchmarks/results/annotate_load.md, keeping the file's
hand-written "## Notes" section. On a shared machine, load once (niced) with --load-only, then
measure under the lock: `flock /tmp/assessor-cpu.lock .venv/bin/python benchmarks/annotate_load.py --skip-load`.
"""

import argparse
import asyncio
import datetime as dt
import functools
import json
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
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.error import URLError
from urllib.parse import urlencode
from urllib.request import urlopen

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/assessor_load"


def _database_url() -> str:
    # The settings read DATABASE_URL at import: set it before Django starts.
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    return parser.parse_known_args()[0].database_url


os.environ["DATABASE_URL"] = _database_url()
os.environ["DEBUG"] = "false"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import psycopg  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from psycopg.types.numeric import Int8  # noqa: E402

from annotate.dashboard import benchmark_stats_refresh  # noqa: E402
from annotate.models import Benchmark  # noqa: E402
from annotate.roles import ADMIN, ANNOTATOR, roles_ensure  # noqa: E402
from annotate.services import benchmark_counts_refresh  # noqa: E402

from report import cpu_description, results_write  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "annotate_load.md"
CORPUS, BENCHMARK = "load-corpus", "load"
PASSWORD = "load-benchmark"
TARGET_P95_MS, TARGET_DASHBOARD_S = 50.0, 1.0
ACCESS_FORMAT = "%(m)s %(U)s %(s)s %(D)s"  # gunicorn's access log: method, path, status, microseconds
LOAD_VERSION = 2  # bump when the generated data changes: a database loaded earlier is reloaded
GUIDELINES = """Grade how well the document answers the query.

- **3** the document is about the query and holds the answer.
- **2** it answers the query, partly or among other text.
- **1** on the query's topic, without answering it.
- **0** nothing to do with the query.

Judge the text shown, not the title alone; skip a pair you cannot judge."""

ITEM = re.compile(r'name="item" value="(\d+)"')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


# --- the data ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scale:
    pairs: int
    judgments: int
    annotators: int
    gold: int
    required: int = 3
    per_query: int = 100
    seed: int = 0
    version: int = LOAD_VERSION

    @property
    def queries(self) -> int:
        return -(-self.pairs // self.per_query)

    @property
    def documents(self) -> int:
        # A pair's documents are spread with stride 101 (pairs_load): distinct within a query
        # as long as the count is no multiple of 101.
        n = max(self.pairs // 20, 2 * self.per_query)
        return n + 1 if n % 101 == 0 else n

    @property
    def bands(self) -> tuple[int, int, int]:
        """Regular items, in queue order, with `required` judgments, with required - 1 (pairs in
        progress: a tenth of the judgments), and with one (what is left)."""
        r = self.required
        partial = self.judgments // 10 // (r - 1) if r > 1 else 0
        full = (self.judgments - partial * (r - 1)) // r
        return full, partial, self.judgments - full * r - partial * (r - 1)


def _vocabulary(rng: random.Random, n: int = 6000) -> list[str]:
    """Pronounceable made-up words, plus enterprise words that queries and titles share."""
    onsets = ["b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
              "br", "tr", "st", "pl", "gr", "ch", "sh"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ea", "ou"]
    codas = ["n", "r", "s", "t", "l", "m", "nd", "st", "rk"]
    words = {"".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(rng.randint(1, 3))) + rng.choice(codas)
             for _ in range(n)}
    common = ["budget", "policy", "report", "quarterly", "travel", "expense", "review", "onboarding", "security",
              "release", "plan", "roadmap", "contract", "invoice", "vendor", "hiring", "benefits", "payroll", "audit",
              "compliance", "incident", "backup", "migration", "customer", "launch", "pricing", "forecast",
              "meeting", "notes", "summary", "draft", "template", "guide", "process"]
    return sorted(words) + common * 20


def _text(rng: random.Random, vocab: list[str], words: int) -> str:
    """Sentences of 6-20 words in paragraphs of 3-6 sentences."""
    paragraphs, sentence, sentences = [], [], []
    for word in rng.choices(vocab, k=words):
        sentence.append(word)
        if len(sentence) >= rng.randint(6, 20):
            sentences.append(" ".join(sentence).capitalize() + ".")
            sentence = []
            if len(sentences) >= rng.randint(3, 6):
                paragraphs.append(" ".join(sentences))
                sentences = []
    if sentence:
        sentences.append(" ".join(sentence).capitalize() + ".")
    return "\n\n".join([*paragraphs, " ".join(sentences)]).strip()


def documents_copy(cur, scale: Scale, corpus_id: int) -> None:
    """A few hundred words each (150-600), with the enterprise metadata the page shows."""
    rng = random.Random(scale.seed)
    vocab = _vocabulary(rng)
    authors = [f"{rng.choice(vocab).title()} {rng.choice(vocab).title()}" for _ in range(200)]
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    columns = "external_id, title, text, path, author, modified_at, url, source, extra, corpus_id"
    with cur.copy(f"COPY labeling_document ({columns}) FROM STDIN") as copy:
        for i in range(scale.documents):
            title = " ".join(rng.choices(vocab, k=rng.randint(3, 8))).title()
            copy.write_row((
                f"d{i}", title, _text(rng, vocab, rng.randint(150, 600)), f"/shared/{rng.choice(vocab)}/{i}.docx",
                rng.choice(authors), base + dt.timedelta(minutes=rng.randrange(1_000_000)),
                f"https://intranet.example/docs/{i}", "sharepoint", "{}", corpus_id,
            ))
    columns = "external_id, text, kind, origin, created_at, corpus_id, batch"
    with cur.copy(f"COPY labeling_query ({columns}) FROM STDIN") as copy:
        for i in range(scale.queries):
            copy.write_row((f"q{i}", " ".join(rng.choices(vocab, k=rng.randint(2, 6))), "informational",
                            "synthetic", base, corpus_id, ""))


def pairs_load(cur, scale: Scale, corpus_id: int, benchmark_id: int) -> None:
    """per_query pairs a query; items in query order, shuffled within a query (as
    pairs_by_query), one in every pairs/gold a gold item."""
    cur.execute(
        """
        INSERT INTO labeling_pair (origin, bm25_rank, bm25_score, created_at, document_id, query_id)
        SELECT 'bm25_negative', k + 1, 30.0 - k * 0.2, now(), d.id, q.id
        FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM labeling_query WHERE corpus_id = %(c)s) q
        CROSS JOIN generate_series(0, %(per_query)s - 1) k
        JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM labeling_document WHERE corpus_id = %(c)s) d
          ON d.n = (q.n * 7919 + k * 101) %% %(docs)s
        WHERE q.n * %(per_query)s + k < %(pairs)s
        """,
        {"c": corpus_id, "per_query": scale.per_query, "docs": scale.documents, "pairs": scale.pairs},
    )
    step = scale.pairs // scale.gold if scale.gold else 0
    cur.execute(
        """
        INSERT INTO annotate_benchmarkitem (gold_grade, position, benchmark_id, pair_id, is_calibration, judgment_count)
        SELECT CASE WHEN %(step)s > 0 AND n %% %(step)s = 0 THEN n / %(step)s %% 4 END, n, %(b)s, id, false, 0
        FROM (SELECT p.id, row_number() OVER (ORDER BY p.query_id, md5(p.id::text)) AS n
              FROM labeling_pair p JOIN labeling_query q ON q.id = p.query_id WHERE q.corpus_id = %(c)s) s
        """,
        {"step": step, "b": benchmark_id, "c": corpus_id},
    )


def judgments_load(cur, scale: Scale, benchmark_id: int, annotator_ids: list[int]) -> None:
    """The judgments of the regular items in queue order (the queue finishes pairs in progress
    first, so that is how a benchmark fills up): `bands` decides how many each item has.
    Annotators take turns (distinct on every pair); grades mostly agree on a pair's base grade."""
    full, partial, single = scale.bands
    r = scale.required
    cur.execute(
        """
        INSERT INTO labeling_judgment
          (grade, seconds, input_method, comment, created_at, updated_at, annotator_id, pair_id)
        SELECT CASE WHEN (n * 7 + k * 3) %% 10 < 7 THEN n %% 4 ELSE (n + 1 + k) %% 4 END,
               5 + (n * 13 + k) %% 40, 'key', '', at, at, (%(ids)s::int[])[1 + (n * %(r)s + k) %% %(a)s], pair_id
        FROM (SELECT pair_id, row_number() OVER (ORDER BY position, id) AS n FROM annotate_benchmarkitem
              WHERE benchmark_id = %(b)s AND gold_grade IS NULL AND NOT is_calibration) i
        CROSS JOIN generate_series(0, %(r)s - 1) k
        CROSS JOIN LATERAL (SELECT now() - (%(total)s - n * %(r)s - k) * interval '10 seconds' AS at) t
        WHERE k < CASE WHEN n <= %(full)s THEN %(r)s WHEN n <= %(full)s + %(partial)s THEN %(r)s - 1
                       WHEN n <= %(full)s + %(partial)s + %(single)s THEN 1 ELSE 0 END
        """,
        # Int8: psycopg sends a small Python int as smallint, and sums of those overflow.
        {"ids": annotator_ids, "r": Int8(r), "a": len(annotator_ids), "b": benchmark_id, "full": Int8(full),
         "partial": Int8(partial), "single": Int8(single), "total": Int8((full + partial + single) * r)},
    )
    counters_fill(cur, benchmark_id, pair_ids=None)


def counters_fill(cur, benchmark_id: int, pair_ids: list[int] | None) -> None:
    """Items' judgment_count (all, or those of `pair_ids`) and members' judged_*, from the rows:
    what the services keep in each judgment's transaction. (The benchmark's item counts change
    only with the load: benchmark_counts_refresh sets them there.)"""
    only = "" if pair_ids is None else "AND i.pair_id = ANY(%(pairs)s)"
    cur.execute(
        f"""
        UPDATE annotate_benchmarkitem i SET judgment_count = coalesce(j.n, 0)
        FROM annotate_benchmarkitem i2
          LEFT JOIN (SELECT pair_id, count(*) AS n FROM labeling_judgment GROUP BY pair_id) j
          ON j.pair_id = i2.pair_id
        WHERE i.id = i2.id AND i.benchmark_id = %(b)s AND i.judgment_count <> coalesce(j.n, 0) {only}
        """,
        {"b": benchmark_id, "pairs": pair_ids},
    )
    cur.execute(
        """
        UPDATE annotate_membership m SET
          judged_regular = coalesce(c.regular, 0), judged_gold = coalesce(c.gold, 0),
          judged_calibration = coalesce(c.calibration, 0)
        FROM annotate_membership m2 LEFT JOIN (
          SELECT j.annotator_id,
                 count(*) FILTER (WHERE NOT i.is_calibration AND i.gold_grade IS NULL) AS regular,
                 count(*) FILTER (WHERE NOT i.is_calibration AND i.gold_grade IS NOT NULL) AS gold,
                 count(*) FILTER (WHERE i.is_calibration) AS calibration
          FROM labeling_judgment j JOIN annotate_benchmarkitem i ON i.pair_id = j.pair_id AND i.benchmark_id = %(b)s
          GROUP BY j.annotator_id) c ON c.annotator_id = m2.user_id
        WHERE m.id = m2.id AND m.benchmark_id = %(b)s
        """,
        {"b": benchmark_id},
    )


def users_create(scale: Scale) -> tuple[list[int], int]:
    """The annotators (members of the benchmark, guidelines read) and an admin; one password
    hash for all, hashed once."""
    groups = roles_ensure()
    User = get_user_model()
    password = make_password(PASSWORD)
    annotators = User.objects.bulk_create(
        [User(username=f"load-ann{i:03d}", password=password) for i in range(scale.annotators)])
    admin = User.objects.create(username="load-admin", password=password, is_staff=True)
    Through = User.groups.through
    Through.objects.bulk_create([Through(user_id=u.pk, group_id=groups[ANNOTATOR].pk) for u in annotators]
                                + [Through(user_id=admin.pk, group_id=groups[ADMIN].pk)])
    return [u.pk for u in annotators], admin.pk


def database_create(url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(url, dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def load_state(cur) -> dict | None:
    cur.execute("SELECT description FROM labeling_corpus WHERE name = %s", [CORPUS])
    row = cur.fetchone()
    return json.loads(row[0]) if row and row[0] else None


def _first_column(cur):
    """The first column of the one row the last statement returned."""
    row = cur.fetchone()
    assert row is not None
    return row[0]


def dataset_clear(cur) -> None:
    """Empty the benchmark's tables; only in a database that holds nothing but this benchmark."""
    cur.execute("SELECT count(*) FROM labeling_corpus WHERE name <> %s", [CORPUS])
    if cur.fetchone()[0]:
        sys.exit("this database holds other corpora: give --database-url a database of its own")
    cur.execute(
        "TRUNCATE labeling_corpus, labeling_document, labeling_query, labeling_pair, labeling_judgment,"
        " annotate_benchmark, annotate_benchmarkitem, annotate_membership, annotate_lease, annotate_skip,"
        " annotate_benchmarkstats, django_session RESTART IDENTITY CASCADE"
    )
    cur.execute("DELETE FROM auth_user_groups"
                " WHERE user_id IN (SELECT id FROM auth_user WHERE username LIKE 'load-%%')")
    cur.execute("DELETE FROM auth_user WHERE username LIKE 'load-%%'")


def dataset_load(url: str, scale: Scale) -> None:
    steps = []

    def step(name: str, started: float) -> None:
        steps.append(f"{name} {time.perf_counter() - started:.1f}s")
        print(f"  {steps[-1]}", flush=True)

    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
        t = time.perf_counter()
        dataset_clear(cur)
        conn.commit()
        annotator_ids, _ = users_create(scale)  # Django's connection: committed on its own
        cur.execute("INSERT INTO labeling_corpus (name, description, created_at) VALUES (%s, '', now()) RETURNING id",
                    [CORPUS])
        corpus_id = _first_column(cur)
        cur.execute(
            "INSERT INTO annotate_benchmark (name, title, guidelines, judgments_required, gold_rate, created_at,"
            " regular_count, gold_count, calibration_count) VALUES (%s, %s, %s, %s, %s, now(), 0, 0, 0) RETURNING id",
            [BENCHMARK, "Load benchmark", GUIDELINES, scale.required, 0.1 if scale.gold else 0.0],
        )
        benchmark_id = _first_column(cur)
        cur.execute(
            "INSERT INTO annotate_membership (benchmark_id, user_id, guidelines_seen_at, judged_regular, judged_gold,"
            " judged_calibration, created_at) SELECT %s, id, now(), 0, 0, 0, now() FROM unnest(%s::int[]) id",
            [benchmark_id, annotator_ids],
        )
        step("users", t)
        t = time.perf_counter()
        documents_copy(cur, scale, corpus_id)
        step(f"{scale.documents} documents, {scale.queries} queries (COPY)", t)
        t = time.perf_counter()
        pairs_load(cur, scale, corpus_id, benchmark_id)
        step(f"{scale.pairs} pairs and items", t)
        t = time.perf_counter()
        judgments_load(cur, scale, benchmark_id, annotator_ids)
        cur.execute("SELECT coalesce(max(id), 0) FROM labeling_judgment")
        state = {"scale": asdict(scale), "judgment_max_id": _first_column(cur)}
        cur.execute("UPDATE labeling_corpus SET description = %s WHERE id = %s", [json.dumps(state), corpus_id])
        step(f"{scale.judgments} judgments and counters", t)
        conn.commit()
    benchmark_counts_refresh(benchmark=Benchmark.objects.get(name=BENCHMARK))  # the app's own recount
    t = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    step("ANALYZE", t)


def dataset_reset(url: str, state: dict) -> None:
    """Back to the loaded state: what earlier measurements added goes, counters follow."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM annotate_benchmark WHERE name = %s", [BENCHMARK])
        benchmark_id = _first_column(cur)
        cur.execute("DELETE FROM labeling_judgment WHERE id > %s RETURNING pair_id", [state["judgment_max_id"]])
        touched = [pair_id for (pair_id,) in cur.fetchall()]
        cur.execute("TRUNCATE annotate_lease, annotate_skip, annotate_benchmarkstats, django_session")
        counters_fill(cur, benchmark_id, pair_ids=touched)
        conn.commit()
    if touched:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE labeling_judgment, annotate_benchmarkitem, annotate_membership")


def dataset_ready(url: str, scale: Scale) -> bool:
    """Loaded with this scale (after a reset to the loaded state)?"""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        state = load_state(cur)
    if not state or state["scale"] != asdict(scale):
        return False
    dataset_reset(url, state)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT (SELECT count(*) FROM annotate_benchmarkitem i JOIN annotate_benchmark b ON b.id = i.benchmark_id"
            " WHERE b.name = %s), (SELECT count(*) FROM labeling_judgment)", [BENCHMARK])
        return cur.fetchone() == (scale.pairs, scale.judgments)


# --- the server ----------------------------------------------------------------------------------

def _free_port() -> int:
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


def _busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (every process, PostgreSQL and other
    people's work included): with the server's and this script's, what the others took."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class Server:
    """`manage.py serve --no-worker` on a free loopback port, for the length of a with block."""

    def __init__(self, url: str, web_workers: int, web_threads: int):
        self.port = _free_port()
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


# --- the annotators ------------------------------------------------------------------------------

@dataclass
class Answer:
    status_code: int
    text: str


class Browser:
    """One annotator's HTTP/1.1 client on asyncio streams, keeping the session's cookies.

    A connection per request (Connection: close): gunicorn closes kept-alive connections after
    2 s idle, less than the think time, so a browser opens one for nearly every grade as well.
    Not httpx: on these 2 cores, shared with the server, httpx spent about 3.6 ms of CPU per
    request, a load on the measurement that this client does not add."""

    def __init__(self, host: str, port: int, timeout: float = 30):
        self.host, self.port, self.timeout = host, port, timeout
        self.cookies: dict[str, str] = {}

    async def get(self, path: str) -> Answer:
        return await self.request("GET", path)

    async def post(self, path: str, data: dict, headers: dict | None = None) -> Answer:
        return await self.request("POST", path, urlencode(data).encode(), headers)

    async def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> Answer:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Connection: close"]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if body is not None:
            lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.timeout)
        try:
            writer.write("\r\n".join(lines).encode() + b"\r\n\r\n" + (body or b""))
            raw = await asyncio.wait_for(reader.read(), self.timeout)  # the server closes when done
        finally:
            writer.close()
        head, _, payload = raw.partition(b"\r\n\r\n")
        status, *fields = head.decode("latin-1").split("\r\n")
        for line in fields:
            name, _, value = line.partition(":")
            if name.lower() == "set-cookie":
                cookie, _, _ = value.strip().partition(";")
                key, _, val = cookie.partition("=")
                self.cookies[key] = val
            elif name.lower() == "transfer-encoding":
                raise ValueError(f"{method} {path}: a chunked answer (Django sets Content-Length)")
        return Answer(int(status.split()[1]), payload.decode())


@dataclass
class Recorder:
    """Round trips in ms by (flow, request kind), counted from `since`; errors; submits the
    server accepted (all of them, warm-up included: the database check counts those)."""

    since: float = 0.0
    until: float = 0.0
    ms: dict = field(default_factory=lambda: defaultdict(list))
    errors: dict = field(default_factory=lambda: defaultdict(int))
    failures: dict = field(default_factory=lambda: defaultdict(int))  # what failed, warm-up included
    submits_ok: int = 0
    warnings: int = 0  # a queue message shown (a pair taken by someone else): no judgment made
    requests: int = 0

    def add(self, flow: str, kind: str, started: float, response: Answer | Exception) -> float:
        ended = time.perf_counter()
        ok = isinstance(response, Answer) and response.status_code < 400
        if not ok:
            what = response.status_code if isinstance(response, Answer) else type(response).__name__
            self.failures[f"{flow} {kind}: {what}"] += 1
        if self.counts(started):
            self.requests += 1
            if ok:
                self.ms[flow, kind].append(1000 * (ended - started))
            else:
                self.errors[flow, kind] += 1
        if ok and kind != "next":
            self.submits_ok += 1
        if ok and isinstance(response, Answer):
            self.warnings += response.text.count("notice-warning")
        return 1000 * (ended - started) if ok else -1.0

    def counts(self, started: float) -> bool:
        return self.since <= started <= self.until


async def _timed(rec: Recorder, flow: str, kind: str, send) -> tuple[Answer | None, float]:
    """`send()` timed; a failure is recorded as an error."""
    started = time.perf_counter()
    try:
        response = await send()
    except (TimeoutError, OSError, ValueError, IndexError) as exc:
        response = exc
    ms = rec.add(flow, kind, started, response)
    return (response if isinstance(response, Answer) else None), ms


def _csrf(page: str) -> str:
    match = CSRF.search(page)
    if match is None:
        raise ValueError("no CSRF token in the page")
    return match.group(1)


async def login(client: Browser, username: str) -> None:
    """Through the login form, as a person does."""
    page = await client.get("/login/")
    token = _csrf(page.text)
    answer = await client.post("/login/", data={"username": username, "password": PASSWORD,
                                                "csrfmiddlewaretoken": token, "next": "/"})
    if answer.status_code != 302:
        sys.exit(f"login of {username} failed: {answer.status_code}")


def _grade_form(page: str, rng: random.Random) -> dict | None:
    item = ITEM.search(page)
    if item is None:  # nothing left for this annotator
        return None
    return {"csrfmiddlewaretoken": _csrf(page), "item": item.group(1),
            "grade": str(rng.randrange(4)), "input_method": "key", "comment": ""}


async def page_flow(client, rec: Recorder, rng: random.Random, think, deadline: float) -> None:
    """Without JavaScript: GET the page (the next pair), read, POST the grade (302 back)."""
    url = f"/benchmarks/{BENCHMARK}/grade/"
    while time.perf_counter() < deadline:
        page, next_ms = await _timed(rec, "page", "next", lambda: client.get(url))
        form = _grade_form(page.text, rng) if page is not None and page.status_code == 200 else None
        if form is None:
            if page is not None and page.status_code == 200:
                return
            await asyncio.sleep(0.5)  # an error: do not hammer
            continue
        await asyncio.sleep(think(rng))
        started = time.perf_counter()
        _, submit_ms = await _timed(rec, "page", "submit", functools.partial(client.post, url, data=form))
        if next_ms >= 0 and submit_ms >= 0 and rec.counts(started):
            rec.ms["page", "cycle"].append(next_ms + submit_ms)


async def htmx_flow(client, rec: Recorder, rng: random.Random, think, deadline: float) -> None:
    """The keyboard UI: the page once, then each grade's POST answers the next pair's fragment."""
    url = f"/benchmarks/{BENCHMARK}/grade/"
    headers = {"HX-Request": "true", "HX-Target": "pair", "HX-Current-URL": f"http://{client.host}:{client.port}{url}"}
    text = None
    while time.perf_counter() < deadline:
        if text is None:  # the page: at the start, and a reload after an error
            page, _ = await _timed(rec, "htmx", "next", lambda: client.get(url))
            if page is None or page.status_code != 200:
                await asyncio.sleep(0.5)
                continue
            text = page.text
        form = _grade_form(text, rng)
        if form is None:
            return
        await asyncio.sleep(think(rng))
        submit = functools.partial(client.post, url, data=form,
                                   headers={**headers, "X-CSRFToken": form["csrfmiddlewaretoken"]})
        answer, _ = await _timed(rec, "htmx", "submit", submit)
        text = answer.text if answer is not None and answer.status_code == 200 else None


async def annotators_run(server: Server, usernames: list[str], args) -> dict:
    """Every annotator logs in, then each flow in turn: warm-up, then --duration seconds."""
    def think(rng: random.Random) -> float:
        return args.think_ms / 1000 * rng.uniform(0.5, 1.5)

    clients = [Browser("127.0.0.1", server.port) for _ in usernames]
    gate = asyncio.Semaphore(4)  # password hashing is the server's slowest work: a few at a time

    async def signed_in(client, username):
        async with gate:
            await login(client, username)

    await asyncio.gather(*(signed_in(c, u) for c, u in zip(clients, usernames, strict=True)))
    results = {}
    for flow in args.flows:
        loop = page_flow if flow == "page" else htmx_flow
        before = await asyncio.to_thread(judgments_count)
        started = time.perf_counter()
        rec = Recorder(since=started + args.warmup, until=started + args.warmup + args.duration)
        deadline = rec.until
        cpu = (server.cpu_seconds(), time.process_time(), _busy_seconds())

        async def staggered(client, rng, loop=loop, rec=rec, deadline=deadline):
            await asyncio.sleep(rng.uniform(0, args.think_ms / 1000))  # arrivals spread, not in lockstep
            await loop(client, rec, rng, think, deadline)

        async def log_window() -> tuple[int, int]:  # the server log's lines of the measured window
            await asyncio.sleep(args.warmup)
            start = server.log_offset()
            await asyncio.sleep(args.duration)
            return start, server.log_offset()

        rngs = [random.Random(f"{args.seed}:{flow}:{i}") for i in range(len(clients))]
        window, *_ = await asyncio.gather(log_window(), *(staggered(c, r) for c, r in zip(clients, rngs, strict=True)))
        elapsed = time.perf_counter() - started
        results[flow] = {
            "rec": rec, "wall": args.duration, "server_ms": server.grading_ms(flow, *window),
            # Cores used over the whole flow (warm-up included): the shared machine's share.
            "server_cores": (server.cpu_seconds() - cpu[0]) / elapsed,
            "client_cores": (time.process_time() - cpu[1]) / elapsed,
            "machine_cores": (_busy_seconds() - cpu[2]) / elapsed,
            "checks": await asyncio.to_thread(database_checks, before, rec),
        }
        print(_flow_lines(flow, results[flow]), flush=True)
        if rec.failures:
            print(f"failures {dict(rec.failures)}; the server's log ends:\n{server.output()}", flush=True)
    return results


# --- checks and the dashboard --------------------------------------------------------------------

def _scalar(sql: str, params=()) -> int:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def judgments_count() -> int:
    return _scalar("SELECT count(*) FROM labeling_judgment")


def database_checks(before: int, rec: Recorder) -> dict:
    """What the flow did to the database, against what the server answered."""
    benchmark = Benchmark.objects.get(name=BENCHMARK)
    per_pair = "(SELECT pair_id, count(*) AS n FROM labeling_judgment GROUP BY pair_id)"
    return {
        "added": judgments_count() - before,
        "expected": rec.submits_ok - rec.warnings,
        "over_cap": _scalar(
            f"SELECT count(*) FROM annotate_benchmarkitem i JOIN {per_pair} j ON j.pair_id = i.pair_id"
            " WHERE i.benchmark_id = %s AND NOT i.is_calibration AND i.gold_grade IS NULL AND j.n > %s",
            [benchmark.pk, benchmark.judgments_required]),
        "item_counts_off": _scalar(
            f"SELECT count(*) FROM annotate_benchmarkitem i LEFT JOIN {per_pair} j ON j.pair_id = i.pair_id"
            " WHERE i.benchmark_id = %s AND i.judgment_count <> coalesce(j.n, 0)", [benchmark.pk]),
        "member_counts_off": _scalar(
            "SELECT count(*) FROM annotate_membership m WHERE m.benchmark_id = %s"
            " AND m.judged_regular + m.judged_gold + m.judged_calibration <> (SELECT count(*) FROM labeling_judgment j"
            " JOIN annotate_benchmarkitem i ON i.pair_id = j.pair_id AND i.benchmark_id = m.benchmark_id"
            " WHERE j.annotator_id = m.user_id)", [benchmark.pk]),
    }


def _refresh() -> tuple[float, dict]:
    benchmark = Benchmark.objects.get(name=BENCHMARK)
    started = time.perf_counter()
    stats = benchmark_stats_refresh(benchmark_id=benchmark.pk)
    assert stats is not None  # the benchmark exists
    return time.perf_counter() - started, stats.payload


async def dashboard_measure(server: Server, repeats: int) -> dict:
    """The refresh service timed here (the background task's work), then the page as an admin:
    the first request after the refresh (cold), then `repeats` more (warm)."""
    compute, payload = await asyncio.to_thread(_refresh)
    url = f"/benchmarks/{BENCHMARK}/agreement/"
    client = Browser("127.0.0.1", server.port, timeout=60)
    await login(client, "load-admin")
    times = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        page = await client.get(url)
        times.append(time.perf_counter() - started)
        if page.status_code != 200 or "Krippendorff" not in page.text:
            sys.exit(f"the dashboard answered {page.status_code}")
    return {"compute": compute, "cold": times[0], "warm": times[1:], "judgments": payload["judgments"],
            "annotators": len(payload["annotators"]), "kb": len(page.text.encode()) / 1024}


async def measure(server: Server, usernames: list[str], args) -> tuple[dict, dict]:
    flows = await annotators_run(server, usernames, args)
    return flows, await dashboard_measure(server, args.dashboard_repeats)


# --- the report ----------------------------------------------------------------------------------

KINDS = {
    ("page", "next"): "next pair: GET the grading page",
    ("page", "submit"): "submit: POST the grade (302)",
    ("page", "cycle"): "next + submit (think time excluded)",
    ("htmx", "next"): "first pair: GET the grading page",
    ("htmx", "submit"): "submit + next pair: htmx POST (fragment)",
}
COLUMNS = ("flow", "request", "n", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors", "p95 ≤ 50 ms",
           "server p50 / p95 / p99 ms")


def _rows(flow: str, result: dict) -> list[list[str]]:
    rec = result["rec"]
    rows = []
    for (f, kind), label in KINDS.items():
        ms = rec.ms.get((f, kind), [])
        if f != flow or not (ms or rec.errors.get((f, kind))):
            continue
        p50, p95, p99 = np.percentile(ms, [50, 95, 99]) if ms else (float("nan"),) * 3
        served = result["server_ms"].get((f, kind))
        rows.append([flow, label, str(len(ms)), f"{p50:.1f}", f"{p95:.1f}", f"{p99:.1f}",
                     f"{max(ms, default=float('nan')):.1f}", str(rec.errors.get((f, kind), 0)),
                     "— (two requests)" if kind == "cycle" else "yes" if p95 <= TARGET_P95_MS else "**no**",
                     " / ".join(f"{v:.1f}" for v in np.percentile(served, [50, 95, 99])) if served else "—"])
    return rows


def _table(columns, rows) -> list[str]:
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(r) + " |" for r in rows)]


def _throughput(flow: str, result: dict) -> str:
    rec, wall, checks = result["rec"], result["wall"], result["checks"]
    cycles = len(rec.ms.get((flow, "cycle" if flow == "page" else "submit"), []))
    verdict = "ok" if checks["added"] == checks["expected"] and not (
        checks["over_cap"] or checks["item_counts_off"] or checks["member_counts_off"]) else "**FAILED**"
    return (f"- {flow}: {rec.requests / wall:.1f} requests/s, {cycles / wall:.1f} grades/s over {wall:.0f} s;"
            f" {sum(rec.errors.values())} errors{_failures(rec)};"
            f" the machine was busy {result['machine_cores']:.2f} of {os.cpu_count()} cores:"
            f" server {result['server_cores']:.2f} cores, load generator"
            f" {result['client_cores']:.2f}, the rest PostgreSQL and other processes."
            f" Database check {verdict}: {checks['added']} judgments added for"
            f" {rec.submits_ok} accepted submits ({rec.warnings} answered with a queue notice), {checks['over_cap']}"
            f" pairs over the required judgments, {checks['item_counts_off']} items' and"
            f" {checks['member_counts_off']} members' counters off")


def _failures(rec: Recorder) -> str:
    if not rec.failures:
        return ""
    return f" ({', '.join(f'{n} x {what}' for what, n in rec.failures.items())}, warm-up included)"


def _flow_lines(flow: str, result: dict) -> str:
    return "\n".join([*_table(COLUMNS, _rows(flow, result)), _throughput(flow, result)])


def report(args, scale: Scale, server_command: str, flows: dict, dash: dict, load_before, load_after) -> str:
    command = shlex.join([".venv/bin/python", "benchmarks/annotate_load.py", *sys.argv[1:]])
    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        pg = cur.fetchone()[0]
        cur.execute("SELECT avg(length(text)), avg(array_length(regexp_split_to_array(text, '\\s+'), 1)) FROM"
                    " (SELECT text FROM labeling_document LIMIT 2000) d")
        chars, words = cur.fetchone()
    full, partial, single = scale.bands
    warm = np.array(dash["warm"]) * 1000
    dash_rows = [
        ["compute: benchmark_stats_refresh (the task's work, in the script's process)",
         f"{dash['compute'] * 1000:.0f}", "—"],
        ["page, cold: the first request after the refresh", f"{dash['cold'] * 1000:.1f}",
         "yes" if dash["cold"] <= TARGET_DASHBOARD_S else "**no**"],
        [f"page, warm: p50 / max of {len(warm)}", f"{np.percentile(warm, 50):.1f} / {warm.max():.1f}",
         "yes" if warm.max() / 1000 <= TARGET_DASHBOARD_S else "**no**"],
    ]
    lines = [
        "# Annotation under load: 50 annotators, a million-pair benchmark",
        "",
        f"- command: `{command}`",
        f"- date: {dt.datetime.now().isoformat(timespec='seconds')}",
        f"- machine: {cpu_description()}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after;"
        f" PostgreSQL {pg} on the same machine",
        f"- data: {scale.pairs:,} benchmark pairs ({scale.pairs - scale.gold:,} regular, {scale.gold:,} gold; gold rate"
        f" 0.1) of {scale.queries:,} queries x {scale.per_query}, {scale.documents:,} synthetic documents of"
        f" {words:.0f} words ({chars:.0f} characters) on average; {scale.judgments:,} judgments by the"
        f" {scale.annotators} annotators, {scale.required} required per pair ({full:,} pairs complete,"
        f" {partial:,} with {scale.required - 1}, {single:,} with 1)",
        f"- server: `{server_command}` (from `manage.py serve --no-worker --web-workers {args.web_workers}"
        f" --web-threads {args.web_threads}`),"
        f" DEBUG off, CONN_MAX_AGE 60, statements prepared after"
        f" {os.environ.get('DATABASE_PREPARE_THRESHOLD', '5')} uses,"
        f" access log format `{ACCESS_FORMAT}` (GUNICORN_CMD_ARGS)",
        f"- load: {scale.annotators} annotators (one client and session each, logged in through the form), each"
        f" reading a pair for {args.think_ms / 1000:.1f} s ± 50 % (uniform) before grading it,"
        f" for {args.duration:.0f} s"
        f" per flow after a {args.warmup:.0f} s warm-up; the load generator runs on the same machine",
        "- flows: `page` is the browser without JavaScript (GET the grading page, POST the grade, 302"
        " back); `htmx` is the keyboard UI (the grade's POST answers the next pair's fragment)",
        f"- targets: p95 ≤ {TARGET_P95_MS:.0f} ms per request, dashboard page ≤ {TARGET_DASHBOARD_S:.0f} s",
        "",
        "## Grading",
        "",
        *_table(COLUMNS, [row for flow in flows for row in _rows(flow, flows[flow])]),
        "",
        *(_throughput(flow, flows[flow]) for flow in flows),
        "",
        "## Agreement dashboard",
        "",
        f"After the grading: {dash['judgments']:,} judgments by {dash['annotators']} annotators; the page is"
        f" {dash['kb']:.0f} KiB.",
        "",
        *_table(("what", "ms", f"≤ {TARGET_DASHBOARD_S:.0f} s"), dash_rows),
        "",
    ]
    return "\n".join(lines)


# --- main ----------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--judgments", type=int, default=100_000)
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--gold", type=int, default=1000, help="of the pairs, gold ones (served at the gold rate)")
    parser.add_argument("--duration", type=float, default=60, help="seconds measured per flow")
    parser.add_argument("--warmup", type=float, default=10, help="seconds per flow before measuring")
    parser.add_argument("--think-ms", type=float, default=3000, help="mean time an annotator reads a pair")
    parser.add_argument("--flows", nargs="+", choices=("page", "htmx"), default=["page", "htmx"])
    parser.add_argument("--web-workers", type=int, default=2 * (os.cpu_count() or 1),
                        help="serve's --web-workers (gunicorn processes; serve's default)")
    parser.add_argument("--web-threads", type=int, default=4, help="serve's --web-threads (per process)")
    parser.add_argument("--dashboard-repeats", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reload", action="store_true", help="load even when the data is there")
    stage = parser.add_mutually_exclusive_group()
    stage.add_argument("--load-only", action="store_true", help="load (if needed) and stop")
    stage.add_argument("--skip-load", action="store_true", help="measure; fail if the data is not loaded")
    args = parser.parse_args()
    scale = Scale(pairs=args.pairs, judgments=args.judgments, annotators=args.annotators, gold=args.gold)
    if args.annotators < scale.required:
        sys.exit(f"--annotators must be at least the {scale.required} judgments a pair needs")

    if not args.skip_load:
        database_create(args.database_url)
        call_command("migrate", verbosity=0)
    if args.reload or not dataset_ready(args.database_url, scale):
        if args.skip_load:
            sys.exit("the database does not hold this benchmark at this scale: run without --skip-load first")
        print(f"loading {scale.pairs:,} pairs and {scale.judgments:,} judgments", flush=True)
        dataset_load(args.database_url, scale)
    else:
        print("the benchmark is loaded: reset to its loaded state", flush=True)
    if args.load_only:
        return

    usernames = [f"load-ann{i:03d}" for i in range(scale.annotators)]
    load_before = os.getloadavg()
    with Server(args.database_url, args.web_workers, args.web_threads) as server:
        flows, dash = asyncio.run(measure(server, usernames, args))
        server_command = server.gunicorn()
    text = report(args, scale, server_command, flows, dash, load_before, os.getloadavg())
    print(text)
    results_write(RESULTS, text)


if __name__ == "__main__":
    main()
