"""The results: the grading table per flow and request kind (the client's round trips beside
the server's own times), throughput and the database check, the dashboard's times, and the
whole report written to benchmarks/results/annotate_load.md."""

import datetime as dt
import os
import shlex
import sys
from typing import TYPE_CHECKING

import numpy as np
from django.db import connection

from labeling.models import Document

from .loader import CORPUS, Scale
from .server import ACCESS_FORMAT
from report import cpu_description  # benchmarks/report.py: what every benchmark's results share

if TYPE_CHECKING:
    from .client import Recorder

TARGET_P95_MS, TARGET_DASHBOARD_S = 50.0, 1.0


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


def _failures(rec: "Recorder") -> str:
    if not rec.failures:
        return ""
    return f" ({', '.join(f'{n} x {what}' for what, n in rec.failures.items())}, warm-up included)"


def flow_lines(flow: str, result: dict) -> str:
    return "\n".join([*_table(COLUMNS, _rows(flow, result)), _throughput(flow, result)])


def report(args, scale: Scale, server_command: str, flows: dict, dash: dict, load_before, load_after) -> str:
    command = shlex.join([".venv/bin/python", "benchmarks/annotate_load.py", *sys.argv[1:]])
    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        pg = cur.fetchone()[0]
    texts = list(Document.objects.filter(corpus__name=CORPUS).order_by("id").values_list("text", flat=True)[:2000])
    chars, words = np.mean([len(t) for t in texts]), np.mean([len(t.split()) for t in texts])
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
