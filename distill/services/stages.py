"""Stages 3-5 (teach, train, evaluate) and the map from stage to service.

Every stage is a service `<what it makes or judges>_<the stage's verb>` taking the run:
queries_synthesize, pairs_mine, pairs_teach, student_train, student_evaluate.

Teaching and evaluation are labeling jobs (labeling.services.labeling_jobs): they skip what is labeled,
so a resumed stage only labels the rest.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from annotate.selectors import benchmark_consensus_grades
from labeling.metrics import agreement_report, json_finite
from labeling.models import Labeler, LabelingJob, ModelLabel
from labeling.selectors import pair_inputs
from labeling.services.labeling_jobs import labeling_job_create, labeling_job_run

from ..config import DEFAULTS, run_batch, student_name
from ..frontier import Evaluated, FrontierConfig, frontier_measure, frontier_promote, frontier_recommended
from ..models import Run
from ..selectors import agreement_before_after, training_targets
from ..training import TrainExample, examples_split, student_model_train  # torch and transformers load lazily inside
from .mining import pairs_mine
from .runs import run_cancelled_check, stage_progress
from .synthesis import queries_synthesize


def _labeling_stage(run: Run, stage: str, labeler: Labeler, scope: dict, key: str,
                    batch_size: int | None = None) -> LabelingJob:
    """Run (or resume) the labeling job this stage keeps under progress[stage][key]."""
    entry = Run.objects.get(id=run.id).progress.get(stage, {})
    job = LabelingJob.objects.filter(id=entry.get(key)).first()
    if job is None:
        job = labeling_job_create(labeler=labeler, scope=scope, description=f"{run.name}: {stage}",
                                  batch_size=batch_size, enqueue=False, gated=False)  # a run's own stages
        run_cancelled_check(run_id=run.id)
        stage_progress(run_id=run.id, stage=stage, done=entry.get("done", 0), total=entry.get("total", job.total),
                       extra={key: job.id})

    def relay(job: LabelingJob) -> None:
        run_cancelled_check(run_id=run.id)
        stage_progress(run_id=run.id, stage=stage, done=job.done, total=job.total)

    return labeling_job_run(job_id=job.id, on_batch=relay)


def pairs_teach(run: Run) -> None:
    teacher = Labeler.objects.get(name=run.config["teacher"])
    _labeling_stage(run, Run.Stage.TEACH, teacher, {"query__batch": run_batch(run)}, "job",
                    batch_size=run.config["teach"]["batch_size"])


def student_register(*, name: str, model_dir: Path, params: dict) -> Labeler:
    """The student Labeler serving a trained folder (cross-encoder backend, `params` its options,
    on the fastest runtime that keeps fp32's grades unless they say otherwise); a retrained
    student keeps its name and points at the new folder."""
    student, _ = Labeler.objects.update_or_create(
        name=name,
        defaults={"role": Labeler.Role.STUDENT, "backend": Labeler.Backend.CROSS_ENCODER, "model_ref": str(model_dir),
                  "params": {"runtime": "auto", **params}},
    )
    return student


def student_train(run: Run) -> None:
    cfg = run.config["train"]
    teacher = Labeler.objects.get(name=run.config["teacher"])
    labels = list(ModelLabel.objects.filter(labeler=teacher, pair__query__batch=run_batch(run))
                  .values_list("pair_id", "pair__query_id", "distribution").order_by("pair_id"))
    if not labels:
        raise ValueError("the teacher labeled no pair of this run")
    targets = training_targets(run=run, teacher_labels=labels)  # a next round's reviewed grades in place
    inputs = {p.pair_id: p for p in pair_inputs(pair_ids=[p for p, _, _ in targets.run_pairs + targets.reviewed])}
    run_examples = [TrainExample(pair=inputs[p], target=t) for p, _, t in targets.run_pairs]
    examples, validation = examples_split(run_examples, fraction=cfg["validation_fraction"], seed=run.config["seed"])
    examples += [TrainExample(pair=inputs[p], target=grade) for p, _, grade in targets.reviewed]  # always trained on
    out_dir = Path(settings.MODEL_DIR) / "students" / f"run-{run.id}"

    def relay(done: int, total: int) -> None:
        run_cancelled_check(run_id=run.id)
        stage_progress(run_id=run.id, stage=Run.Stage.TRAIN, done=done, total=total)

    result = student_model_train(examples=examples, validation=validation, base_model=run.config["student_base"],
                         out_dir=out_dir, params=cfg, on_progress=relay)
    student = student_register(name=student_name(run.id), model_dir=out_dir, params={"max_length": cfg["max_length"]})
    Run.objects.filter(id=run.id).update(
        metrics={**Run.objects.get(id=run.id).metrics, "train": {**result.metrics, "seconds": result.seconds,
                                                                  "student": student.name, "examples": len(examples),
                                                                  "validation": len(validation),
                                                                  "from_reviewers": targets.from_reviewers,
                                                                  "ambiguous_dropped": targets.ambiguous_dropped}}
    )


def student_evaluate(run: Run) -> None:
    if run.benchmark is None:
        run_cancelled_check(run_id=run.id)
        stage_progress(run_id=run.id, stage=Run.Stage.EVALUATE, done=0, total=0, extra={"note": "no benchmark chosen"})
        return
    scope = {"benchmarks": run.benchmark.id}
    teacher = Labeler.objects.get(name=run.config["teacher"])
    student = Labeler.objects.get(name=student_name(run.id))
    jobs = {name: _labeling_stage(run, Run.Stage.EVALUATE, labeler, scope, f"{name}_job")
            for name, labeler in (("teacher", teacher), ("student", student))}
    consensus = benchmark_consensus_grades(benchmark=run.benchmark)
    labels = {
        name: {p: (g, e) for p, g, e in ModelLabel.objects.filter(labeler=labeler, pair__benchmarks=run.benchmark)
               .values_list("pair_id", "grade", "expected_grade")}
        for name, labeler in (("teacher", teacher), ("student", student))
    }
    query_of = dict(run.benchmark.pairs.values_list("id", "query__external_id"))
    judged = sorted(consensus.keys() & labels["teacher"].keys() & labels["student"].keys())
    metrics: dict[str, Any] = {"benchmark_pairs": len(query_of), "judged_pairs": len(judged)}
    if judged:
        for name in ("teacher", "student"):
            metrics[name] = agreement_report(
                query_ids=[query_of[p] for p in judged], reference=[consensus[p] for p in judged],
                predicted=[labels[name][p][0] for p in judged], expected=[labels[name][p][1] for p in judged],
            )
    rounds = agreement_before_after(run=run, consensus=consensus, after=labels["student"], query_of=query_of)
    if rounds is not None:
        metrics["rounds"] = rounds
    metrics["throughput"] = {
        name: {"pairs_per_s": job.pairs_per_second, "seconds": job.seconds, "tokens_in": job.tokens_in,
               "cost": job.cost}
        for name, job in jobs.items()
    }
    if judged:
        metrics |= _frontier(run, student=student, teacher=teacher, jobs=jobs,
                             evaluated=Evaluated(reference={p: consensus[p] for p in judged},
                                                 query_of={p: query_of[p] for p in judged}))
    Run.objects.filter(id=run.id).update(
        metrics=json_finite({**Run.objects.get(id=run.id).metrics, "evaluate": metrics}))


def _frontier(run: Run, *, student: Labeler, teacher: Labeler, jobs: dict[str, LabelingJob],
              evaluated: Evaluated) -> dict:
    """The student against the people as it spends more teacher calls, and the gate's verdicts
    (recorded on the student and on each anchored labeler)."""
    def per_pair(job: LabelingJob) -> float:
        return job.cost / job.done if job.done else 0.0

    config = FrontierConfig.from_dict(run.config.get("evaluate", DEFAULTS["evaluate"]))  # runs launched before it
    frontier = frontier_measure(
        student=student, teacher=teacher, evaluated=evaluated, config=config,
        student_rate=jobs["student"].pairs_per_second, teacher_rate=jobs["teacher"].pairs_per_second,
        student_cost_per_pair=per_pair(jobs["student"]), teacher_cost_per_pair=per_pair(jobs["teacher"]))
    frontier_promote(frontier, by=f"run {run.id} on {run.benchmark} ({len(evaluated.pair_ids)} judged pairs)")
    recommended = frontier_recommended(frontier)
    return {"frontier": frontier, "gate": {"margin": config.margin,
                                           "promoted": recommended["labeler"] if recommended else None}}


SERVICES: dict[str, Callable[[Run], None]] = {
    Run.Stage.SYNTHESIZE: queries_synthesize,
    Run.Stage.MINE: pairs_mine,
    Run.Stage.TEACH: pairs_teach,
    Run.Stage.TRAIN: student_train,
    Run.Stage.EVALUATE: student_evaluate,
}
