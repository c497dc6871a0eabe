"""Reads of distillation runs: the run pages' rows, and a next round's training targets and
before/after report (distill.services.next_round says what a next round is)."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count
from django.utils import timezone

from annotate.models import Benchmark
from labeling.job_estimate import labeler_projection
from labeling.metrics import agreement_report
from labeling.models import Labeler, LabelingJob, ModelLabel, Pair, SetAsidePair
from labeling.selectors import Throughput, jobs_throughput, set_aside_rows

from .config import STAGES, student_name
from .models import Run

ACTIVE = (Run.Status.QUEUED, Run.Status.RUNNING)
Target = Sequence[float] | int  # a distribution over the grades, or one grade (one-hot)


@dataclass
class StageRow:
    name: str
    label: str
    state: str  # pending | running | done | failed | cancelled
    done: int
    total: int
    percent: int
    eta_seconds: float | None
    extra: dict
    # The pairs its labeling jobs set aside: how many by reason, and the first of them.
    set_aside: dict[str, int] = field(default_factory=dict)
    set_aside_rows: list[SetAsidePair] = field(default_factory=list)

    @property
    def set_aside_total(self) -> int:
        return sum(self.set_aside.values())


def run_stage_rows(run: Run) -> list[StageRow]:
    current = STAGES.index(run.stage) if run.stage in STAGES else 0
    rows = []
    for index, stage in enumerate(STAGES):
        entry = run.progress.get(stage, {})
        done, total = entry.get("done", 0), entry.get("total", 0)
        if "finished_at" in entry:
            state = "done"
        elif index == current:
            waiting = "running" if run.status == Run.Status.RUNNING else "pending"
            state = {"failed": "failed", "cancelled": "cancelled"}.get(run.status, waiting)
        else:
            state = "pending"
        percent = 100 if state == "done" else int(100 * done / total) if total else 0
        rows.append(StageRow(
            name=stage, label=Run.Stage(stage).label, state=state, done=done, total=total, percent=percent,
            eta_seconds=_eta(entry, done, total) if state == "running" else None,
            extra={k: v for k, v in entry.items() if k not in {"done", "total", "started_at", "finished_at"}},
        ))
        job_ids = [v for k, v in entry.items() if (k == "job" or k.endswith("_job")) and isinstance(v, int)]
        _set_aside_add(rows[-1], job_ids)
    return rows


def _set_aside_add(row: StageRow, job_ids: list[int]) -> None:
    """A labeling stage's set-aside pairs (teach and evaluate keep their jobs' ids)."""
    if not job_ids:
        return
    counts = (SetAsidePair.objects.filter(job_id__in=job_ids).values_list("reason").annotate(n=Count("id"))
              .order_by("-n", "reason"))
    row.set_aside = dict(counts)
    if row.set_aside:
        row.set_aside_rows = set_aside_rows(job_ids=job_ids, limit=20)


def _eta(entry: dict, done: int, total: int) -> float | None:
    """Seconds left at the stage's average rate so far."""
    if not entry.get("started_at") or not done or done >= total:
        return None
    elapsed = (timezone.now() - datetime.fromisoformat(entry["started_at"])).total_seconds()
    return elapsed / done * (total - done)


@dataclass(frozen=True)
class RunCost:
    """The run's teacher and student side by side, from its own labeling jobs (the teacher's in
    teach and evaluate, the student's in evaluate): same run, same workers."""

    teacher: Throughput
    student: Throughput

    @property
    def rows(self) -> list[tuple[str, Throughput]]:
        return [("teacher", self.teacher), ("student", self.student)]

    @property
    def speedup(self) -> float | None:
        """How many times faster the student labels than the teacher."""
        t, s = self.teacher.pairs_per_second, self.student.pairs_per_second
        return s / t if t and s else None

    @property
    def cost_ratio(self) -> float | None:
        """How many times cheaper a student's pair is than a teacher's."""
        t, s = self.teacher.cost_per_1000, self.student.cost_per_1000
        return t / s if t and s else None


def run_cost(run: Run) -> RunCost | None:
    """None before any of its labeling jobs exists."""
    teach, evaluate = run.progress.get(Run.Stage.TEACH, {}), run.progress.get(Run.Stage.EVALUATE, {})
    ids = {"teacher": [teach.get("job"), evaluate.get("teacher_job")], "student": [evaluate.get("student_job")]}
    jobs = LabelingJob.objects.select_related("labeler").in_bulk([i for v in ids.values() for i in v if i])
    if not jobs:
        return None
    return RunCost(**{role: jobs_throughput(jobs=[jobs[i] for i in job_ids if i in jobs])
                      for role, job_ids in ids.items()})


@dataclass(frozen=True)
class RunEstimate:
    """What a run will grade with its teacher (every mined pair, then the benchmark's pairs),
    and how long and what that costs at the teacher's measured rate (None: never measured)."""

    queries: int
    teach_pairs: int
    benchmark_pairs: int
    teacher_rate: float | None
    teacher_seconds: float | None
    teacher_cost: float | None

    @property
    def teacher_pairs(self) -> int:
        return self.teach_pairs + self.benchmark_pairs


def run_estimate(*, teacher: Labeler, benchmark: Benchmark | None, seed_documents: int, queries_per_document: int,
                 bm25_negatives: int, random_negatives: int) -> RunEstimate:
    queries = seed_documents * queries_per_document
    teach_pairs = queries * (1 + bm25_negatives + random_negatives)  # the seed document and its negatives
    benchmark_pairs = benchmark.items.count() if benchmark else 0
    projection = labeler_projection(labeler=teacher, pairs=teach_pairs + benchmark_pairs)
    if projection is None:
        return RunEstimate(queries, teach_pairs, benchmark_pairs, None, None, None)
    return RunEstimate(queries, teach_pairs, benchmark_pairs, projection.pairs_per_second, projection.seconds,
                       projection.cost)


def run_is_active(run: Run) -> bool:
    return run.status in ACTIVE


def run_rounds_rows(run: Run) -> list[dict]:
    """A next round's report, before and after review, as table rows (evaluate's "rounds")."""
    rounds = run.metrics.get("evaluate", {}).get("rounds") or {}
    return [
        {"pairs": label, "side": side, "report": rounds[scope][side]}
        for scope, label in (("all", "all judged"), ("undecided", "not decided by reviewers"))
        if rounds.get(scope)
        for side in ("before", "after")
    ]


@dataclass(frozen=True)
class Targets:
    run_pairs: list[tuple[int, int, Target]]  # (pair, query, target): split into training and validation by query
    reviewed: list[tuple[int, int, int]]  # decided pairs from outside the run: always trained on
    from_reviewers: int  # targets that are a reviewer's grade
    ambiguous_dropped: int


def _decided_at_launch(run: Run) -> tuple[dict[int, int], set[int]]:
    """The decisions a next round copied at launch: pair -> reviewed grade, and the ambiguous pairs."""
    decided = run.config.get("adjudicated") or {}
    return dict(decided.get("grades", [])), set(decided.get("ambiguous", []))


def training_targets(*, run: Run, teacher_labels: Sequence[tuple[int, int, Target]]) -> Targets:
    """The student's targets from the teacher's (pair, query, distribution) labels, with the
    reviewers' decisions of a next round in place (see the module's docstring)."""
    grades, ambiguous = _decided_at_launch(run)
    labeled = {pair_id for pair_id, _, _ in teacher_labels}
    outside = Pair.objects.filter(id__in=sorted(grades.keys() - labeled)).order_by("id").values_list("id", "query_id")
    reviewed = [(p, q, grades[p]) for p, q in outside]
    return Targets(
        run_pairs=[(p, q, grades.get(p, target)) for p, q, target in teacher_labels if p not in ambiguous],
        reviewed=reviewed,
        from_reviewers=len(reviewed) + len(grades.keys() & labeled),
        ambiguous_dropped=len(ambiguous & labeled),
    )


def agreement_before_after(*, run: Run, consensus: dict[int, int], after: dict[int, tuple[int, float]],
                           query_of: dict[int, str]) -> dict | None:
    """For a next round: the previous round's student and this one against the benchmark's
    consensus (today's, decisions included), on the pairs both graded; and again on the pairs
    no reviewer had decided at launch, which the new student did not train on. None otherwise."""
    previous = run.config.get("next_round", {}).get("previous_run")
    if previous is None:
        return None
    before = {p: (g, e) for p, g, e in ModelLabel.objects.filter(labeler__name=student_name(previous),
                                                                 pair__benchmarks=run.benchmark)
              .values_list("pair_id", "grade", "expected_grade")}
    grades, ambiguous = _decided_at_launch(run)
    seen_by_reviewers = grades.keys() | ambiguous
    common = sorted(consensus.keys() & before.keys() & after.keys())

    def compare(pairs: list[int]) -> dict | None:
        if not pairs:
            return None
        return {"pairs": len(pairs)} | {
            name: agreement_report(query_ids=[query_of[p] for p in pairs], reference=[consensus[p] for p in pairs],
                                   predicted=[labels[p][0] for p in pairs], expected=[labels[p][1] for p in pairs])
            for name, labels in (("before", before), ("after", after))
        }

    return {"previous_run": previous, "all": compare(common),
            "undecided": compare([p for p in common if p not in seen_by_reviewers])}
