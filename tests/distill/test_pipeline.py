"""The whole chain on the demo with the offline models, through real worker processes."""

import time

import pytest

from annotate.models import Benchmark
from config.demo import BENCHMARK, demo_load
from distill.config import run_batch
from distill.models import Run
from distill.services.runs import run_launch
from labeling.models import Labeler, LabelingJob, ModelLabel, Pair
from tests.factories import JudgmentFactory, UserFactory

pytestmark = [pytest.mark.worker, pytest.mark.slow]

TINY = {
    "synthesize": {"seed_documents": 6, "queries_per_document": 1},
    "mine": {"bm25_negatives": 4, "random_negatives": 1},
    "teach": {"batch_size": 2},
    "train": {"epochs": 1, "batch_size": 8, "max_length": 64},
}


@pytest.fixture
def demo(transactional_db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    demo_load()
    benchmark = Benchmark.objects.get(name=BENCHMARK)
    # A small benchmark slice with people's grades, so evaluation has something to score.
    items = list(benchmark.items.select_related("pair")[:12])
    benchmark.items.exclude(id__in=[i.id for i in items]).delete()
    people = [UserFactory(username=f"grader{i}") for i in range(2)]
    for n, item in enumerate(items):
        for person in people:
            JudgmentFactory(pair=item.pair, annotator=person, grade=(n + people.index(person)) % 4)
    return benchmark


def _wait(run: Run, until, timeout: float = 480) -> Run:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if until(run) or run.status in (Run.Status.FAILED, Run.Status.CANCELLED):
            return run
        time.sleep(0.2)
    raise AssertionError(f"timed out; run at {run.stage} {run.status}: {run.progress}\n{run.log}")


def test_a_run_completes_every_stage_on_the_workers(demo, celery_worker_process):
    celery_worker_process(queues="default,gpu")
    run = run_launch(name="tiny", corpus=demo.items.first().pair.query.corpus, benchmark=demo, config=TINY)
    run = _wait(run, lambda r: r.status == Run.Status.SUCCEEDED)
    assert run.status == Run.Status.SUCCEEDED, f"{run.error}\n{run.log}"
    assert all("finished_at" in run.progress[stage] for stage in ("synthesize", "mine", "teach", "train", "evaluate"))
    queries = run.corpus.queries.filter(batch=run_batch(run))
    assert 0 < queries.count() <= 6 and all(q.seed_document_id and q.generator for q in queries)
    pairs = Pair.objects.filter(query__batch=run_batch(run))
    assert pairs.filter(origin=Pair.Origin.POSITIVE).count() == queries.count()
    teacher = Labeler.objects.get(name=run.config["teacher"])
    assert ModelLabel.objects.filter(labeler=teacher, pair__in=pairs).count() == pairs.count()
    student = Labeler.objects.get(name=f"student-run-{run.id}", role=Labeler.Role.STUDENT)
    assert ModelLabel.objects.filter(labeler=student, pair__benchmarks=demo).count() == demo.items.count()
    assert student.params["runtime"] == "auto"  # bf16 where the worker's CPU has it
    evaluation = run.metrics["evaluate"]
    assert evaluation["judged_pairs"] == demo.items.count()
    for name in ("teacher", "student"):
        assert set(evaluation[name]) >= {"accuracy", "quadratic_kappa", "alpha_ordinal", "ndcg@10", "confusion"}
        assert evaluation["throughput"][name]["pairs_per_s"] > 0


def test_a_worker_killed_while_teaching_is_resumed_without_duplicates(demo, celery_worker_process):
    celery_worker_process(queues="default")
    first_gpu = celery_worker_process(queues="gpu")
    config = {**TINY, "synthesize": {"seed_documents": 8, "queries_per_document": 1}}
    run = run_launch(name="killed", corpus=demo.items.first().pair.query.corpus, benchmark=demo, config=config)
    run = _wait(run, lambda r: r.stage == "teach" and r.progress.get("teach", {}).get("done", 0) >= 2)
    assert run.stage == "teach" and run.status == Run.Status.RUNNING, run.log
    first_gpu.kill()
    labeled_at_kill = ModelLabel.objects.filter(pair__query__batch=run_batch(run)).count()
    total = Pair.objects.filter(query__batch=run_batch(run)).count()
    assert 0 < labeled_at_kill < total, "the kill should land mid-teaching"

    celery_worker_process(queues="gpu")  # a new worker finds the orphaned run and resumes it
    run = _wait(run, lambda r: r.status == Run.Status.SUCCEEDED)
    assert run.status == Run.Status.SUCCEEDED, f"{run.error}\n{run.log}"
    assert "worker died; resuming" in run.log
    teacher = Labeler.objects.get(name=run.config["teacher"])
    labels = ModelLabel.objects.filter(labeler=teacher, pair__query__batch=run_batch(run))
    assert labels.count() == total  # exactly one label per pair: the unique constraint allows no more
    assert LabelingJob.objects.get(id=run.progress["teach"]["job"]).done == total
