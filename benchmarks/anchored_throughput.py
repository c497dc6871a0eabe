"""The anchored student's effective throughput against its teacher, as labeling jobs, side by side
in one run on the same DL19 pairs.

    .venv/bin/python benchmarks/anchored_throughput.py [--queries N] [--pairs-per-query N]
        [--anchors-per-query K ...] [--teacher-dtype auto|bfloat16] [--data PATH]

Three kinds of job over the same pairs, through labeling.services.labeling_jobs as the app runs them
(database reads and writes included): the teacher alone (SmolLM2-135M, the local LM backend),
the student alone (MiniLM-L6 with a head fitted on other queries' recorded grades, runtime auto),
and the anchored student at each budget (the student grades every pair, the teacher the anchors).
Each anchored job has a teacher labeler of its own, so no job finds another's teacher grades.
The database is the app's (DATABASE_URL, else var/assessor.sqlite3; run `manage.py migrate`
first); the rows are made under a throwaway corpus and deleted at the end. The table is printed
and written to benchmarks/results/anchored_throughput.md, keeping its "## Notes".
"""

import argparse
import datetime as dt
import os
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may download at run time
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import django  # noqa: E402

django.setup()

import torch  # noqa: E402
import transformers  # noqa: E402
from django.conf import settings  # noqa: E402

from labeling.labelers.base import PairInput  # noqa: E402
from labeling.model_registry import model_path  # noqa: E402
from labeling.models import Corpus, Document, Labeler, LabelingJob, ModelLabel, Pair, Query  # noqa: E402
from labeling.services.anchored import anchored_labeler_create  # noqa: E402
from labeling.services.labeling_jobs import labeling_job_create, labeling_job_run  # noqa: E402

from dl19_pairs import FIT_PAIRS, STUDENT_RECIPE, dl19_load, pairs_split, student_fit  # noqa: E402
from report import cpu_description, results_write  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "anchored_throughput.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "dl19")
    parser.add_argument("--queries", type=int, default=6)
    parser.add_argument("--pairs-per-query", type=int, default=150)
    parser.add_argument("--anchors-per-query", type=int, nargs="+", default=[5, 10])
    parser.add_argument("--teacher-dtype", default="auto", help="the teacher's torch dtype: auto (fp32) or bfloat16")
    args = parser.parse_args()
    if not (args.data / "passages.jsonl").is_file():
        sys.exit(f"no DL19 data at {args.data} (give --data)")
    transformers.logging.set_verbosity_error()
    queries, passages, recorded = dl19_load(args.data)
    bench_keys, fit_keys = pairs_split(recorded)

    def pair_input(qid: str, docid: str) -> PairInput:
        return PairInput(query=queries[qid], text=passages[docid], query_id=qid, document_id=docid)

    student_dir = student_fit(Path(settings.MODEL_DIR) / "bench-students" / STUDENT_RECIPE, model_path("minilm-l6"),
                              [pair_input(*k) for k in fit_keys[:FIT_PAIRS]],
                              [recorded[k] for k in fit_keys[:FIT_PAIRS]])
    stamp = dt.datetime.now().strftime("%Y%m%d%H%M%S")
    corpus = Corpus.objects.create(name=f"bench-anchored-{stamp}")
    try:
        scope = _pairs_make(corpus, bench_keys, queries, passages, args.queries, args.pairs_per_query)
        rows = _measure(stamp, scope, student_dir, args)
    finally:
        Labeler.objects.filter(name__startswith=f"bench-{stamp}").delete()
        corpus.delete()
    report = _report(rows, args)
    print(report)
    results_write(RESULTS, report)


def _pairs_make(corpus, keys, queries, passages, n_queries: int, per_query: int) -> dict:
    chosen: dict[str, list[str]] = {}
    for qid, docid in keys:  # hash order: spread over the benchmark half's queries
        if qid in chosen or len(chosen) < n_queries:
            docs = chosen.setdefault(qid, [])
            if len(docs) < per_query:
                docs.append(docid)
    documents = {docid: Document(corpus=corpus, external_id=docid, text=passages[docid])
                 for docids in chosen.values() for docid in docids}
    Document.objects.bulk_create(documents.values())
    query_rows = {qid: Query(corpus=corpus, external_id=qid, text=queries[qid]) for qid in chosen}
    Query.objects.bulk_create(query_rows.values())
    Pair.objects.bulk_create([Pair(query=query_rows[qid], document=documents[docid])
                              for qid, docids in chosen.items() for docid in docids])
    return {"query__corpus": corpus.id}


def _job(labeler: Labeler, scope: dict) -> LabelingJob:
    job = labeling_job_create(labeler=labeler, scope=scope, description="benchmark", enqueue=False, gated=False)
    job = labeling_job_run(job_id=job.id)
    if job.status != LabelingJob.Status.SUCCEEDED:
        sys.exit(f"{labeler.name}: {job.status} {job.error}")
    return job


def _measure(stamp: str, scope: dict, student_dir: Path, args) -> list[dict]:
    def teacher_labeler(name: str) -> Labeler:
        return Labeler.objects.create(
            name=f"bench-{stamp}-{name}", role=Labeler.Role.TEACHER, backend=Labeler.Backend.LOCAL_LM,
            model_ref="smollm2-135m-instruct",
            params={"batch_size": 8, "max_doc_tokens": 192, "device": "cpu", "dtype": args.teacher_dtype})

    student = Labeler.objects.create(name=f"bench-{stamp}-student", role=Labeler.Role.STUDENT,
                                     backend=Labeler.Backend.CROSS_ENCODER, model_ref=str(student_dir),
                                     params={"runtime": "auto", "max_length": 192})
    # Warm-up: a model's first batches in a process pay one-time costs (kernels, allocator) that
    # a long-lived worker pays once; a few pairs through each model first, untimed.
    warm = {"id__in": list(Pair.objects.filter(**scope).order_by("id").values_list("id", flat=True)[:8])}
    for labeler in (teacher_labeler("warm-up"), student):
        _job(labeler, warm)
    ModelLabel.objects.filter(labeler=student).delete()
    rows = []
    teacher_job = _job(teacher_labeler("teacher"), scope)
    rows.append(_row("teacher alone", teacher_job, teacher_job))
    student_job = _job(student, scope)
    rows.append(_row("student alone", student_job, teacher_job))
    ModelLabel.objects.filter(labeler=student).delete()  # each anchored job grades with the student afresh
    for k in args.anchors_per_query:
        anchored = anchored_labeler_create(name=f"bench-{stamp}-anchored-k{k}", student=student,
                                           teacher=teacher_labeler(f"teacher-k{k}"), anchors_per_query=k)
        job = _job(anchored, scope)
        rows.append(_row(f"anchored, {k} anchors per query", job, teacher_job))
        ModelLabel.objects.filter(labeler=student).delete()
    return rows


def _row(name: str, job: LabelingJob, teacher: LabelingJob) -> dict:
    parts = job.parts or {}
    teacher_pairs = parts.get("teacher", {}).get("pairs", job.done if name == "teacher alone" else 0)
    return {"labeler": name, "pairs": job.done, "teacher_pairs": teacher_pairs, "seconds": job.seconds,
            "pairs_per_s": job.pairs_per_second or 0.0,
            "speedup": (job.pairs_per_second or 0.0) / (teacher.pairs_per_second or float("nan")),
            "student_s": parts.get("student", {}).get("seconds"), "teacher_s": parts.get("teacher", {}).get("seconds")}


def _report(rows: list[dict], args) -> str:
    command = shlex.join([".venv/bin/python", "benchmarks/anchored_throughput.py", *sys.argv[1:]])

    def seconds(value) -> str:
        return "" if value is None else f"{value:.1f}"

    lines = [
        "# The anchored student's effective throughput against its teacher",
        "",
        f"- command: `{command}`",
        f"- date: {dt.datetime.now().isoformat(timespec='seconds')}",
        f"- CPU: {cpu_description()}; load average {os.getloadavg()[0]:.2f} at the end",
        f"- torch {torch.__version__} ({torch.get_num_threads()} threads), transformers {transformers.__version__},"
        f" database {django.db.connection.vendor}",
        f"- {args.queries} DL19 queries, up to {args.pairs_per_query} pairs each; every row is a labeling job over the"
        f" same pairs (reads, model calls and writes); teacher SmolLM2-135M (local LM, dtype {args.teacher_dtype},"
        " batch 8), student MiniLM-L6 (runtime auto)",
        "",
        "| labeler | pairs | teacher-graded pairs | teacher share | seconds | student s | teacher s | pairs/s"
        " | x teacher |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['labeler']} | {r['pairs']} | {r['teacher_pairs']} | {r['teacher_pairs'] / r['pairs']:.3f}"
                     f" | {r['seconds']:.1f} | {seconds(r['student_s'])} | {seconds(r['teacher_s'])}"
                     f" | {r['pairs_per_s']:.1f} | {r['speedup']:.1f} |")
    return "\n".join([*lines, ""])


if __name__ == "__main__":
    main()
