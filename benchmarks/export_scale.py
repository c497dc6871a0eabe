"""Export a million labels as TREC qrels, streamed, on the configured database.

    DATABASE_URL=... .venv/bin/python benchmarks/export_scale.py [--labels 1000000] [--repeats 3] [--drop]

The database is the app's (DATABASE_URL, else var/assessor.sqlite3); migrations are applied
first. A labeler "bench-export-<N>" with N labels is loaded once through the models' tables
(100 pairs per query, over 100,000 documents; pairs by COPY on PostgreSQL, executemany on
SQLite; labels by INSERT ... SELECT) and kept for the next run unless --drop. Only the export
is timed: labeling.services.exports' labeler rows to a file, best of --repeats, with the process's
resident memory sampled every 20 ms while it runs (flat when streamed). Prints the table and
writes benchmarks/results/export_scale.md, replacing only this database vendor's section.
"""

import argparse
import datetime as dt
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from bulk_load import table_load  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from labeling.models import Corpus, Document, Labeler, ModelLabel, Pair, Query  # noqa: E402
from labeling.services import exports  # noqa: E402

from report import RssPeak, cpu_description, results_section_write  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "export_scale.md"
TITLE = "# Export at scale: a million labels as TREC qrels"
DOCS, PER_QUERY = 100_000, 100


def labels_load(name: str, n: int) -> Labeler:
    started = time.perf_counter()
    now = timezone.now()
    queries = n // PER_QUERY
    with transaction.atomic():
        corpus = Corpus.objects.create(name=name)
        Document.objects.bulk_create(
            (Document(corpus=corpus, external_id=f"doc{d:07d}", text="x") for d in range(DOCS)), batch_size=5000)
        Query.objects.bulk_create((Query(corpus=corpus, external_id=f"q{q:06d}", text="x") for q in range(queries)),
                                  batch_size=5000)
        doc_ids = list(Document.objects.filter(corpus=corpus).order_by("external_id").values_list("id", flat=True))
        query_ids = list(Query.objects.filter(corpus=corpus).order_by("external_id").values_list("id", flat=True))
        table_load(Pair, ["query", "document", "origin", "created_at"],
                   ((qid, doc_ids[(q * 37 + j) % DOCS], "imported", now)
                    for q, qid in enumerate(query_ids) for j in range(PER_QUERY)))
        labeler = Labeler.objects.create(name=name, role=Labeler.Role.STUDENT, backend=Labeler.Backend.CROSS_ENCODER)
        json_cast = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {ModelLabel._meta.db_table} (pair_id, labeler_id, grade, distribution, expected_grade,"
                " prompt_version, tokens_in, tokens_out, source, created_at)"
                f" SELECT p.id, %s, MOD(p.id, 4), {json_cast}, 1.5, '', 0, 0, 'model', %s"
                f" FROM {Pair._meta.db_table} p JOIN {Query._meta.db_table} q ON q.id = p.query_id"
                " WHERE q.corpus_id = %s",
                [labeler.id, "[0.1, 0.2, 0.3, 0.4]", now, corpus.id])
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(f"loaded {n:,} labels in {time.perf_counter() - started:.0f} s", flush=True)
    return labeler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--drop", action="store_true", help="delete the benchmark's corpus and labeler at the end")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    name = f"bench-export-{args.labels}"
    labeler = Labeler.objects.filter(name=name).first()
    if labeler is None or ModelLabel.objects.filter(labeler=labeler).count() != args.labels:
        Labeler.objects.filter(name=name).delete()
        Corpus.objects.filter(name=name).delete()
        labeler = labels_load(name, args.labels)
    load_before = os.getloadavg()
    best, best_cpu, memory = float("inf"), 0.0, None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "labels.qrels"
        for _ in range(args.repeats):
            with RssPeak() as rss:
                started, cpu = time.perf_counter(), time.process_time()
                rows = exports.labeler_qrel_rows(labeler=labeler, extra=False)  # as a TREC export asks
                count = exports.qrels_export(rows=rows, out=out, fmt="trec")
                seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            assert count == args.labels, count
            print(f"exported {count:,} in {seconds:.2f} s ({cpu:.2f} s of CPU); resident {rss.before:.0f}"
                  f" -> peak {rss.peak:.0f} MiB", flush=True)
            if seconds < best:
                best, best_cpu, memory = seconds, cpu, rss
        first = out.read_text().split("\n", 1)[0]
    assert memory is not None
    vendor = connection.vendor
    section = "\n".join([
        f"## {vendor}",
        "",
        f"- command: `{'DATABASE_URL=... ' if vendor != 'sqlite' else ''}.venv/bin/python benchmarks/export_scale.py"
        f" {shlex.join(sys.argv[1:])}`".replace(" `", " `").rstrip(),
        f"- date: {dt.datetime.now().isoformat(timespec='seconds')}; {cpu_description()}; load average before"
        f" {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} (shared machine)",
        f"- {args.labels:,} labels of one labeler ({args.labels // PER_QUERY:,} queries x {PER_QUERY} documents);"
        f" first line `{first}`",
        "",
        f"| labels | export s (best of {args.repeats}) | this process's CPU s | labels/s | resident before, MiB"
        " | peak while exporting, MiB |",
        "|---|---|---|---|---|---|",
        f"| {args.labels:,} | {best:.2f} | {best_cpu:.2f} | {args.labels / best:,.0f} | {memory.before:.0f}"
        f" | {memory.peak:.0f} |",
        "",
    ])
    print(section)
    results_section_write(RESULTS, title=TITLE, heading=vendor, section=section)
    if args.drop:
        ModelLabel.objects.filter(labeler=labeler).delete()
        Pair.objects.filter(query__corpus__name=name).delete()
        Corpus.objects.filter(name=name).delete()
        labeler.delete()


if __name__ == "__main__":
    main()
