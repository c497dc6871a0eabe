"""Fuzz every importer's reader for minutes: the suite's property (tests/labeling/fuzzing.py) with
fresh random seeds, in rounds, until the time is spent.

    .venv/bin/python benchmarks/fuzz_importers.py [--minutes 5] [--round 200] [--database-url URL]

By default the imports run on a fresh SQLite database in a temporary folder (migrated here);
with --database-url, on that database (migrated already), PostgreSQL included. Everything an
example writes is rolled back. Prints and writes benchmarks/results/fuzz_importers.md: per
reader, the examples run, how many imported and how many ended in a located error (and which
errors), the slowest example and the largest memory peak, and every failure found with its
shrunk input. Exits 1 if it found one.
"""

import argparse
import datetime as dt
import os
import platform
import random
import re
import shlex
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="total time, shared by the readers in rounds")
    parser.add_argument("--round", type=int, default=200, help="examples per reader per round (one seed each)")
    parser.add_argument("--database-url", help="a migrated database to run on (default: a fresh SQLite one)")
    return parser.parse_args()


ARGS = _arguments()
TMP = tempfile.TemporaryDirectory(prefix="fuzz-importers-")
os.environ["DATABASE_URL"] = ARGS.database_url or f"sqlite:///{TMP.name}/fuzz.sqlite3"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import hypothesis  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402

from tests.labeling.fuzzing import (  # noqa: E402
    HANG_SECONDS,
    MEMORY_LIMIT,
    TARGETS,
    Outcomes,
    check_import,
    qrels_corpus,
)

from report import NOTES, cpu_description, results_write  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "fuzz_importers.md"


def _round(target, examples: int, seed: int, outcomes: Outcomes) -> str | None:
    """One round of `examples` for one reader; the failure it found (shrunk), or None."""

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(content=target.inputs)
    @hypothesis.seed(seed)
    def examples_of(content: bytes) -> None:
        check_import(target, content, outcomes)

    try:
        examples_of()
    except Exception as exc:  # the property failed: keep what hypothesis says, shrunk input included
        notes = "\n".join(getattr(exc, "__notes__", []))
        return f"{type(exc).__name__}: {exc}\n{notes}".strip()
    return None


def main() -> None:
    if not ARGS.database_url:
        call_command("migrate", verbosity=0)
    budget = ARGS.minutes * 60
    outcomes, failures = Outcomes(), []
    rounds = 0
    started = time.perf_counter()
    with transaction.atomic():
        qrels_corpus()
        while time.perf_counter() - started < budget:
            rounds += 1
            for target in TARGETS:
                seed = random.randrange(2**32)
                if failure := _round(target, ARGS.round, seed, outcomes):
                    failures.append((target.name, seed, failure))
                    print(f"FOUND in {target.name} (seed {seed}):\n{failure}\n", flush=True)
            print(f"round {rounds}: {sum(outcomes.ran.values())} examples, {len(failures)} failures, "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
        transaction.set_rollback(True)
    elapsed = time.perf_counter() - started
    section = _section(outcomes, failures, rounds, elapsed)
    print(section)
    _write_section(connection.vendor, section)
    sys.exit(1 if failures else 0)


INTRO = (
    "# Importer fuzzing\n\n"
    "Written by `benchmarks/fuzz_importers.py`: the property of `tests/labeling/fuzzing.py` (a located error "
    "that wrote nothing, or an import every database stores that a re-import leaves as it is; never another "
    f"exception, a hang past {HANG_SECONDS} s or a memory peak past {MEMORY_LIMIT >> 20} MiB) over arbitrary "
    "bytes and nearly valid records, with fresh seeds each round. The suite runs the same property on a "
    "fixed budget (`tests/labeling/test_import_fuzz.py`). Each database's section is replaced when the script "
    "runs on it.\n"
)


def _write_section(vendor: str, section: str) -> None:
    """Replace this database's section and keep the others (and the hand-written notes)."""
    text = RESULTS.read_text().partition(NOTES)[0] if RESULTS.exists() else ""
    sections = {block.split()[1]: block.strip() for block in re.split(r"^(?=## )", text, flags=re.MULTILINE)
                if block.startswith("## ")}
    sections[vendor] = section.strip()
    results_write(RESULTS, "\n\n".join([INTRO.strip(), *(sections[k] for k in sorted(sections))]) + "\n")


def _database() -> str:
    if connection.vendor == "sqlite":
        return f"SQLite {sqlite3.sqlite_version}" + ("" if ARGS.database_url else " (a fresh file, migrated here)")
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    return f"PostgreSQL {version} (database {connection.settings_dict['NAME']})"


def _section(outcomes: Outcomes, failures: list[tuple[str, int, str]], rounds: int, elapsed: float) -> str:
    command = " ".join(shlex.quote(a) for a in [".venv/bin/python", "benchmarks/fuzz_importers.py", *sys.argv[1:]])
    lines = [
        f"## {connection.vendor}",
        "",
        f"- command: `{command}`",
        f"- database: {_database()}",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {cpu_description()}, Python {platform.python_version()}, hypothesis {hypothesis.__version__}",
        f"- ran: {sum(outcomes.ran.values()):,} examples in {rounds} rounds, {elapsed / 60:.1f} minutes",
        f"- found: {len(failures)} failure(s)" + ("" if failures else ": none"),
        "",
        "| reader | examples | imported | located errors | slowest (ms) | peak memory (MiB) | most frequent errors |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for target in TARGETS:
        name = target.name
        errors = outcomes.errors.get(name)
        common = "; ".join(f"{kind} ({n})" for kind, n in errors.most_common(4)) if errors else ""
        located = sum(errors.values()) if errors else 0
        lines.append(
            f"| {name} | {outcomes.ran[name]:,} | {outcomes.imported[name]:,} | {located:,}"
            f" | {outcomes.slowest.get(name, 0) * 1000:.0f} | {outcomes.peak.get(name, 0) / 2**20:.1f} | {common} |"
        )
    for name, seed, failure in failures:
        lines += ["", f"### Found: {name} (seed {seed})", "", "```", failure[:4000], "```"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
