"""Time the four DL19 imports, their re-import and the NIST export on the configured database.

    .venv/bin/python benchmarks/import_dl19.py [--data PATH] [--keep]

The database is the app's (DATABASE_URL, else var/assessor.sqlite3; run `manage.py migrate`
first). Everything goes into a throwaway corpus, annotator and labeler named with a time
stamp, deleted at the end unless --keep. The table is printed and written to
benchmarks/results/import_dl19.md, replacing only this database vendor's section.
"""

import argparse
import datetime as dt
import os
import platform
import re
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.migrations.executor import MigrationExecutor  # noqa: E402

from labeling.importers import documents_import, qrels_import, queries_import  # noqa: E402
from labeling.models import Corpus, Labeler  # noqa: E402
from labeling.services.exports import annotator_qrel_rows, qrels_export  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "import_dl19.md"
TITLE = "# DL19 import benchmark"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "dl19")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark corpus, annotator and labeler")
    args = parser.parse_args()
    if not (args.data / "passages.jsonl").is_file():
        sys.exit(f"no DL19 data at {args.data} (give --data)")
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        sys.exit("the database has unapplied migrations: run `python manage.py migrate` first")

    stamp = dt.datetime.now().strftime("%Y%m%d%H%M%S")
    corpus, annotator, labeler = f"bench-dl19-{stamp}", f"bench-nist-{stamp}", f"bench-llama3-{stamp}"
    steps = [
        ("documents (passages.jsonl)", lambda: documents_import(path=args.data / "passages.jsonl", corpus_name=corpus)),
        ("queries (queries.tsv)", lambda: queries_import(path=args.data / "queries.tsv", corpus_name=corpus)),
        ("judgments (qrels-nist.txt)",
         lambda: qrels_import(path=args.data / "qrels-nist.txt", corpus_name=corpus, annotator=annotator)),
        ("labels (run-llama3-70b-4prompts.txt)",
         lambda: qrels_import(path=args.data / "run-llama3-70b-4prompts.txt", corpus_name=corpus, labeler=labeler)),
    ]
    rows: list[tuple[str, str, str, float]] = []
    try:
        for phase in ("import", "re-import"):
            phase_start = time.perf_counter()
            for name, run in steps:
                start = time.perf_counter()
                summary = run()
                rows.append((f"{phase}: {name}", str(summary.read), str(summary.new), time.perf_counter() - start))
            rows.append((f"**{phase}: all four**", "", "", time.perf_counter() - phase_start))
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            user = get_user_model().objects.get(username=annotator)
            count = qrels_export(rows=annotator_qrel_rows(annotator=user), out=Path(tmp) / "nist.txt", fmt="trec")
            rows.append(("export: judgments, trec", str(count), "", time.perf_counter() - start))
    finally:
        if not args.keep:
            Corpus.objects.filter(name=corpus).delete()
            get_user_model().objects.filter(username=annotator).delete()
            Labeler.objects.filter(name=labeler).delete()

    section = _section(rows)
    print(section)
    _write_section(connection.vendor, section)
    print(f"written to {RESULTS.relative_to(REPO)}")


def _section(rows: list[tuple[str, str, str, float]]) -> str:
    table = ["| step | rows read | new | seconds |", "|---|---:|---:|---:|"]
    table += [f"| {name} | {read} | {new} | {seconds:.2f} |" for name, read, new, seconds in rows]
    return "\n".join(
        [
            f"## {connection.vendor}",
            "",
            f"- command: `{_command_line()}`",
            f"- database: {_database()}",
            f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
            f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"Django {django.get_version()}",
            "",
            *table,
        ]
    )


def _command_line() -> str:
    words = [os.path.relpath(sys.executable, Path.cwd()), *sys.argv]
    if url := os.environ.get("DATABASE_URL"):
        words.insert(0, "DATABASE_URL=" + re.sub(r"://([^:@/]+):[^@/]*@", r"://\1:***@", url))
    return shlex.join(words)


def _database() -> str:
    if connection.vendor == "sqlite":
        import sqlite3

        name = Path(connection.settings_dict["NAME"])
        return f"SQLite {sqlite3.sqlite_version} ({name.relative_to(REPO) if name.is_relative_to(REPO) else name})"
    connection.ensure_connection()
    major, minor = 0, 0
    if connection.vendor == "postgresql":
        from django.db.backends.postgresql.base import DatabaseWrapper

        major, minor = divmod(cast(DatabaseWrapper, connection).pg_version, 10000)
    return f"{connection.vendor} {major}.{minor} (database {connection.settings_dict['NAME']})"


def _write_section(vendor: str, section: str) -> None:
    """Replace this vendor's section, keep the others (one file compares the databases)."""
    sections: dict[str, str] = {}
    if RESULTS.exists():
        for block in re.split(r"^(?=## )", RESULTS.read_text(), flags=re.MULTILINE):
            if block.startswith("## "):
                sections[block.split()[1]] = block.strip()
    sections[vendor] = section
    intro = (
        f"{TITLE}\n\nWritten by `benchmarks/import_dl19.py`: the four DL19 imports into a fresh corpus, the same "
        "four again (idempotent re-import: nothing new), then the NIST judgments exported as TREC qrels. "
        "Each database's section is replaced when the script runs on it."
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n\n".join([intro, *(sections[k] for k in sorted(sections))]) + "\n")


if __name__ == "__main__":
    main()
