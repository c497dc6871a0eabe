"""The next round: a run like a previous one whose training data include the reviewers'
decisions on its benchmark (annotate's review queue), and whose report compares its student
with the previous round's.

At launch the benchmark's adjudications are copied into the run's config
(config["adjudicated"]), so the run trains on the decisions as they stood when it started
and a resumed stage reads the same ones. In training (`training_targets`) a decided pair's
target is the reviewer's grade, one-hot, instead of the teacher's distribution; a pair
flagged ambiguous is left out; decided benchmark pairs the teacher never labeled join the
training side (validation stays the teacher's, on the run's own queries).
"""

from collections.abc import Sequence
from copy import deepcopy
from dataclasses import dataclass

from annotate.selectors import benchmark_adjudications
from labeling.metrics import agreement_report
from labeling.models import ModelLabel, Pair

from .config import student_name
from .models import Run
from .runs import run_launch

Target = Sequence[float] | int  # a distribution over the grades, or one grade (one-hot)


def run_next_round(*, previous: Run, user=None, enqueue: bool = True) -> Run:
    """Launch the round after `previous` (a run that succeeded, with a benchmark): its config,
    plus the benchmark's adjudicated grades and ambiguous pairs."""
    if previous.benchmark is None:
        raise ValueError("That run has no benchmark, so no reviewed pairs to learn from.")
    if previous.status != Run.Status.SUCCEEDED:
        raise ValueError("Only a run that succeeded has a student to improve on.")
    decided = benchmark_adjudications(benchmark=previous.benchmark)
    earlier = previous.config.get("next_round", {})
    number, base = earlier.get("round", 1) + 1, earlier.get("base_name", previous.name)
    config = {key: value for key, value in deepcopy(previous.config).items()
              if key not in ("next_round", "adjudicated")}
    config["next_round"] = {"previous_run": previous.id, "round": number, "base_name": base}
    config["adjudicated"] = {
        "benchmark": previous.benchmark.name,
        "grades": sorted([pair_id, grade] for pair_id, grade in decided.items() if grade is not None),
        "ambiguous": sorted(pair_id for pair_id, grade in decided.items() if grade is None),
    }
    return run_launch(name=f"{base[:180]} · round {number}", corpus=previous.corpus, benchmark=previous.benchmark,
                      config=config, user=user, enqueue=enqueue)


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
