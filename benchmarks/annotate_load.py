"""Fifty annotators grading a million-pair benchmark through the real server, on PostgreSQL:
round-trip times of the grading requests, and the agreement dashboard's compute and render times.

    .venv/bin/python benchmarks/annotate_load.py [--database-url URL] [--pairs N] [--judgments N]
        [--annotators N] [--duration S] [--think-ms MS] [--flows page htmx] [--load-only | --skip-load] [--reload]

1. Load (grading_load.loader; skipped when the database already holds this benchmark, at these
   counts; --reload forces it): synthetic documents and queries by COPY, pairs, benchmark items
   and judgments by INSERT ... SELECT over generate_series, into the app's own tables with the
   names and columns taken from the models (a schema change stops the load, naming the field);
   the corpus, benchmark and people through the models and services; every denormalised
   counter the queue and the progress bars read set by the app's repair (counters_check --fix).
   Then ANALYZE. Before each measurement the
   rows a previous measurement added (judgments, leases, skips, sessions) are removed again, so
   every run starts from the same state.
2. Serve (grading_load.server): `manage.py serve --no-worker` (gunicorn) on a free loopback port, DEBUG off, its
   broker in a temporary folder (the dashboard's refresh requests go nowhere).
3. Grade (grading_load.client): each annotator logs in through the login form, then loops as a browser does.
   Flow `page` (no JavaScript): GET the grading page (the next pair), read the pair for the think
   time, POST the grade (302 back to the page). Flow `htmx` (the keyboard UI): the POST carries
   HX-Request and answers the next pair's fragment, so one request is submit and next pair.
   Every request's round trip is recorded; requests started in the first --warmup seconds are not counted,
   nor those started after --duration more (a grade being read then is still submitted). Beside
   it, the server's own time per request, from gunicorn's access log. The clients are a few lines
   of HTTP on asyncio streams (Browser), light enough to share the 2 cores with the server.
   Afterwards the database is checked: judgments added = successful submits, no pair over its
   required judgments, no counter drifted (counters_check).
4. Dashboard: the refresh service (what the background task runs) timed in this process, then
   the agreement page as an admin, first request after the refresh (cold) and repeated (warm).

The table (grading_load.report) is printed and written to benchmarks/results/annotate_load.md, keeping the file's
hand-written "## Notes" section. On a shared machine, load once (niced) with --load-only, then
measure under the lock: `flock /tmp/assessor-cpu.lock .venv/bin/python benchmarks/annotate_load.py --skip-load`.
"""

import argparse
import asyncio
import os
import sys

import grading_load  # noqa: F401  (first: it starts Django on --database-url)

# isort: split
from django.core.management import call_command

from grading_load import DEFAULT_URL, REPO
from grading_load.client import measure
from grading_load.loader import Scale, database_create, dataset_load, dataset_ready
from grading_load.report import report
from grading_load.server import Server
from report import results_write

RESULTS = REPO / "benchmarks" / "results" / "annotate_load.md"


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
