"""What a labeling job's next-batch query costs once a million of its pairs are labeled: the
anti-join it used (every pair of the scope without this labeler's label, first 512 by id)
against what it does now: the scope's ids read once per job (labeling.selectors.pair_ids_in_scope),
then per batch a look-up of 512 of them among the labels (pair_ids_unlabeled).

    DATABASE_URL=... .venv/bin/python benchmarks/job_batch_query.py [--labels 1000000] [--repeats 5]

Runs on benchmarks/export_scale.py's data (load it first with the same --labels): a labeler
with a label on every pair of its corpus, as a job is near its end, when each batch's query
must pass over the labeled pairs. Appends this vendor's line to
benchmarks/results/job_batch_query.md (replacing its previous one).
"""

import argparse
import datetime as dt
import os
import shlex
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from labeling.models import Labeler, LabelingJob, SetAsidePair  # noqa: E402
from labeling.selectors import pair_ids_in_scope, pair_ids_unlabeled, pairs_unlabeled  # noqa: E402

from report import cpu_description  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "job_batch_query.md"
BATCH = 512


def timed(fn):
    started = time.perf_counter()
    return fn(), time.perf_counter() - started


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    name = f"bench-export-{args.labels}"
    labeler = Labeler.objects.get(name=name)
    scope = {"query__corpus__name": name}
    job = LabelingJob.objects.create(labeler=labeler, scope=scope, total=args.labels)
    try:
        ids, read_s = timed(lambda: pair_ids_in_scope(scope=scope))
        middle = ids[args.labels // 2 : args.labels // 2 + BATCH]

        def before() -> list[int]:
            todo = (pairs_unlabeled(scope=scope, labeler=labeler)
                    .exclude(id__in=SetAsidePair.objects.filter(job=job).values("pair_id"))
                    .order_by("id").values_list("id", flat=True))
            return list(todo[:BATCH])

        assert before() == [] and pair_ids_unlabeled(job=job, pair_ids=middle) == []
        old_s = best(before, args.repeats)
        new_s = best(lambda: pair_ids_unlabeled(job=job, pair_ids=middle), args.repeats)
    finally:
        job.delete()
    line = (f"| {connection.vendor} | {args.labels:,} | {old_s * 1000:.0f} | {new_s * 1000:.1f} | {old_s / new_s:.0f}x"
            f" | {args.labels / BATCH * old_s / 60:.0f} | {read_s:.1f}"
            f" | {dt.datetime.now().isoformat(timespec='seconds')}, load {os.getloadavg()[0]:.1f} |")
    print(line)
    header = [
        "# A labeling job's next-batch query at a million labeled pairs",
        "",
        f"- command: `DATABASE_URL=... .venv/bin/python benchmarks/job_batch_query.py {shlex.join(sys.argv[1:])}`"
        " (after benchmarks/export_scale.py loaded the labels)",
        f"- {cpu_description()}; best of {args.repeats}; a batch is {BATCH} pairs; every pair of the scope labeled",
        "",
        "| database | labeled pairs | anti-join (before), ms | look-up of 512 ids (now), ms | ratio"
        " | anti-join over a 1M job's batches, min | the scope's ids read once (now), s | when |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = [r for r in (RESULTS.read_text().splitlines() if RESULTS.exists() else [])
            if r.startswith("| ") and not r.startswith(("| database", f"| {connection.vendor} |"))]
    RESULTS.write_text("\n".join(header + rows + [line]) + "\n")


if __name__ == "__main__":
    main()
