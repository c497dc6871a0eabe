"""The annotators: a few lines of HTTP/1.1 on asyncio streams per annotator (Browser), the
two grading flows (page and htmx), and the dashboard as an admin sees it."""

import asyncio
import functools
import random
import re
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlencode

from annotate.models import Benchmark
from annotate.services.dashboard import benchmark_stats_refresh

from .loader import BENCHMARK, PASSWORD, database_checks, judgments_count
from .report import flow_lines
from .server import Server, busy_seconds

ITEM = re.compile(r'name="item" value="(\d+)"')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


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


def grade_form(page: str, rng: random.Random) -> dict | None:
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
        form = grade_form(page.text, rng) if page is not None and page.status_code == 200 else None
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
        form = grade_form(text, rng)
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
        cpu = (server.cpu_seconds(), time.process_time(), busy_seconds())

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
            "machine_cores": (busy_seconds() - cpu[2]) / elapsed,
            "checks": await asyncio.to_thread(database_checks, before, rec.submits_ok - rec.warnings),
        }
        print(flow_lines(flow, results[flow]), flush=True)
        if rec.failures:
            print(f"failures {dict(rec.failures)}; the server's log ends:\n{server.output()}", flush=True)
    return results


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
