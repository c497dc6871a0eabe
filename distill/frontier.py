"""The frontier: how a student agrees with the people as it spends more teacher calls, and the
promotion gate that decides whether it may label at scale.

For each budget (0: the student alone; k anchors per query, or a share of each query's pairs),
an anchored labeler of the student and the teacher (labeling.services.anchored) labels the evaluated
pairs through a labeling job, like any labeler; the actual teacher share is the pairs that
carry a teacher's grade over all pairs. Its agreement with the people is scored beside the
teacher's on exactly the same pairs, with 95% intervals from a bootstrap over queries, and its
effective throughput and cost count the teacher's calls.

The gate is non-inferiority on that bootstrap: a budget passes when the lower end of the 95%
interval of (its figure - the teacher's) is above -margin, for alpha and quadratic kappa both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from django.db import transaction

from labeling.metrics import agreement_bootstrap, agreement_report
from labeling.models import AnchorSet, Labeler, LabelingJob, ModelLabel
from labeling.services.anchored import anchored_labeler_create
from labeling.services.labeling_jobs import labeling_job_create, labeling_job_run
from labeling.services.promotion import promotion_record

FIGURES = ("alpha_ordinal", "quadratic_kappa", "ndcg@10", "pairwise_accuracy")
GATED = ("alpha_ordinal", "quadratic_kappa")


@dataclass(frozen=True)
class FrontierConfig:
    """Budgets as anchors per query (0: the student alone) or as shares of each query's pairs, each
    with every share of deferred pairs in `defer_shares`."""

    anchors_per_query: Sequence[int] = (0, 5, 10)
    anchor_shares: Sequence[float] = ()
    defer_shares: Sequence[float] = (0.0,)
    margin: float = 0.05  # the gate: not worse than the teacher by more than this
    resamples: int = 1000
    seed: int = 13

    @classmethod
    def from_dict(cls, values: Mapping) -> FrontierConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown frontier settings: {', '.join(sorted(unknown))}")
        config = cls(**values)
        if any(not isinstance(k, int) or k < 0 for k in config.anchors_per_query):
            raise ValueError(f"anchors_per_query are whole numbers >= 0, not {list(config.anchors_per_query)}")
        if any(not isinstance(s, int | float) or not 0 <= s <= 1 for s in config.anchor_shares):
            raise ValueError(f"anchor_shares are shares in [0, 1], not {list(config.anchor_shares)}")
        if not config.defer_shares or any(not isinstance(s, int | float) or not 0 <= s < 1
                                          for s in config.defer_shares):
            raise ValueError(f"defer_shares are shares in [0, 1), not {list(config.defer_shares)}")
        if not isinstance(config.margin, int | float) or not 0 <= config.margin <= 1:
            raise ValueError(f"the gate's margin is in [0, 1], not {config.margin!r}")
        if not isinstance(config.resamples, int) or not 100 <= config.resamples <= 100_000:
            raise ValueError(f"resamples is a whole number from 100 to 100000, not {config.resamples!r}")
        return config

    def budgets(self) -> list[dict]:
        """Each budget as anchored_labeler_create's keywords ({} for the student alone)."""
        anchors: list[dict] = [{"anchors_per_query": k} for k in self.anchors_per_query if k]
        anchors += [{"anchor_share": s} for s in self.anchor_shares if s]
        out: list[dict] = [{}]  # the pure student is always on the frontier
        out += [{**budget, "defer_share": d} for budget in anchors for d in self.defer_shares]
        unique: list[dict] = []
        for budget in out:
            if budget not in unique:
                unique.append(budget)
        return unique


@dataclass
class Evaluated:
    """The pairs a frontier is measured on: the people's grade of each and its query."""

    reference: dict[int, int]  # pair id -> the people's grade
    query_of: dict[int, str]  # pair id -> query id
    pair_ids: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.pair_ids = sorted(self.reference)


def frontier_measure(*, student: Labeler, teacher: Labeler, evaluated: Evaluated, config: FrontierConfig,
                     student_rate: float | None = None, teacher_rate: float | None = None,
                     teacher_cost_per_pair: float = 0.0, student_cost_per_pair: float = 0.0) -> list[dict]:
    """One entry per budget (see the module's docstring). The student and the teacher have
    labeled the evaluated pairs already; each anchored labeler labels them here."""
    scope = {"id__in": evaluated.pair_ids}
    graders: dict[str, Labeler] = {"teacher": teacher}
    shares: dict[str, float] = {}
    for budget in config.budgets():
        if not budget:
            graders["student"], shares["student"] = student, 0.0
            continue
        name = _anchored_name(student, budget)
        anchored = anchored_labeler_create(name=name, student=student, teacher=teacher, **budget)
        _evaluation_reset(anchored, evaluated)
        job = labeling_job_create(labeler=anchored, scope=scope, description=f"{name}: frontier", enqueue=False,
                                  gated=False)  # the evaluation that decides its gate
        job = labeling_job_run(job_id=job.id)
        if job.status != LabelingJob.Status.SUCCEEDED:
            raise RuntimeError(f"{name}: labeling job {job.id} ended {job.status}: {job.error}")
        graders[name] = anchored
        teacher_graded = ModelLabel.objects.filter(labeler=anchored, pair_id__in=evaluated.pair_ids).exclude(
            source=ModelLabel.Source.MODEL).count()
        shares[name] = teacher_graded / len(evaluated.pair_ids)

    labels = {name: _labels(labeler, evaluated) for name, labeler in graders.items()}
    query_ids = [evaluated.query_of[p] for p in evaluated.pair_ids]
    reference = [evaluated.reference[p] for p in evaluated.pair_ids]
    reports = {name: agreement_report(query_ids=query_ids, reference=reference, predicted=[g for g, _ in rows],
                                      expected=[e for _, e in rows]) for name, rows in labels.items()}
    intervals = agreement_bootstrap(query_ids=query_ids, reference=reference, base="teacher",
                                    predicted={name: [g for g, _ in rows] for name, rows in labels.items()},
                                    resamples=config.resamples, seed=config.seed)
    teacher_entry = {**{f: reports["teacher"][f] for f in FIGURES}, **_cis(intervals["teacher"])}
    entries = []
    for name, share in shares.items():
        labeler = graders[name]
        entry = {
            "labeler": labeler.name,
            "anchors_per_query": labeler.params.get("anchors_per_query", 0 if name == "student" else None),
            "anchor_share": labeler.params.get("anchor_share"),
            "defer_share": labeler.params.get("defer_share", 0.0),
            "teacher_share": share,
            "pairs": len(evaluated.pair_ids),
            **{f: reports[name][f] for f in FIGURES},
            **_cis(intervals[name]),
            "alpha_diff_ci": intervals[name]["alpha_ordinal_diff_ci"],
            "quadratic_kappa_diff_ci": intervals[name]["quadratic_kappa_diff_ci"],
            "teacher": teacher_entry,
            "throughput": _throughput(share, student_rate, teacher_rate, student_cost_per_pair, teacher_cost_per_pair),
        }
        entry["gate"] = gate_verdict(entry, margin=config.margin)
        entries.append(entry)
    return entries


def gate_verdict(entry: dict, *, margin: float) -> dict:
    """Non-inferiority: both figures' paired differences from the teacher above -margin at the
    lower end of their 95% interval."""
    failing = []
    for figure, short in (("alpha", "α"), ("quadratic_kappa", "quadratic κ")):
        low = entry[f"{figure}_diff_ci"][0]
        if not math.isfinite(low) or low < -margin:
            teacher = _value(entry["teacher"], figure)
            failing.append(f"{short} {_value(entry, figure):.3f} vs the teacher's {teacher:.3f} "
                           f"(difference at worst {low:+.3f}, beyond -{margin:g})")
    if failing:
        return {"passed": False, "margin": margin, "reason": "; ".join(failing)}
    return {"passed": True, "margin": margin,
            "reason": f"α and quadratic κ within {margin:g} of the teacher's at the 95% level "
                      f"(α {_value(entry, 'alpha'):.3f} vs {_value(entry['teacher'], 'alpha'):.3f}, "
                      f"{entry['teacher_share']:.1%} teacher calls)"}


def frontier_promote(entries: Sequence[dict], *, by: str) -> None:
    """Record each budget's gate verdict on its labeler."""
    for entry in entries:
        labeler = Labeler.objects.get(name=entry["labeler"])
        evidence = {key: entry[key] for key in ("teacher_share", "alpha_ordinal", "quadratic_kappa", "alpha_diff_ci",
                                                "quadratic_kappa_diff_ci", "pairs")}
        promotion_record(labeler=labeler, passed=entry["gate"]["passed"], reason=entry["gate"]["reason"], by=by,
                         evidence=evidence)


def frontier_recommended(entries: Sequence[dict]) -> dict | None:
    """The passing budget with the fewest teacher calls, if any passes."""
    passing = [entry for entry in entries if entry["gate"]["passed"]]
    return min(passing, key=lambda entry: entry["teacher_share"]) if passing else None


def frontier_mean(folds: Sequence[Sequence[dict]]) -> list[dict]:
    """Entries averaged over folds, budget by budget (figures, shares and interval ends alike)."""
    out = []
    for entries in zip(*folds, strict=True):
        first = entries[0]
        mean = _average([{k: v for k, v in entry.items() if k != "pairs"} for entry in entries])
        mean |= {key: first[key] for key in ("anchors_per_query", "anchor_share", "defer_share")}  # the budget
        mean["labelers"] = [entry["labeler"] for entry in entries]
        mean["pairs"] = sum(entry["pairs"] for entry in entries)
        mean["gate"] = {"passed": all(entry["gate"]["passed"] for entry in entries), "per_fold": [
            entry["gate"] for entry in entries]}
        out.append(mean)
    return out


# --- helpers ----------------------------------------------------------------------------------


def _anchored_name(student: Labeler, budget: dict) -> str:
    size = f"k{budget['anchors_per_query']}" if "anchors_per_query" in budget else f"s{budget['anchor_share']:g}"
    deferring = f"-d{budget['defer_share']:g}" if budget.get("defer_share") else ""
    return f"{student.name}-anchored-{size}{deferring}"[:100]


def _evaluation_reset(anchored: Labeler, evaluated: Evaluated) -> None:
    """Earlier labels of this anchored labeler on these pairs were calibrated on what the student
    was then (a retrained student keeps its name): measure it afresh."""
    with transaction.atomic():
        ModelLabel.objects.filter(labeler=anchored, pair_id__in=evaluated.pair_ids).delete()
        AnchorSet.objects.filter(labeler=anchored, query__pairs__id__in=evaluated.pair_ids).delete()


def _labels(labeler: Labeler, evaluated: Evaluated) -> list[tuple[int, float]]:
    rows = {p: (g, e) for p, g, e in ModelLabel.objects.filter(
        labeler=labeler, pair_id__in=evaluated.pair_ids).values_list("pair_id", "grade", "expected_grade")}
    missing = len(evaluated.pair_ids) - len(rows)
    if missing:
        raise RuntimeError(f"{labeler.name} has no label for {missing} of the evaluated pairs")
    return [rows[p] for p in evaluated.pair_ids]


def _cis(intervals: dict) -> dict:
    return {"alpha_ci": intervals["alpha_ordinal_ci"], "quadratic_kappa_ci": intervals["quadratic_kappa_ci"]}


def _value(entry: dict, figure: str) -> float:
    return entry["alpha_ordinal" if figure == "alpha" else figure]


def _throughput(share: float, student_rate: float | None, teacher_rate: float | None, student_cost: float,
                teacher_cost: float) -> dict:
    """Pairs/s and cost per 1,000 pairs of labeling with this budget: every pair by the student,
    `share` of them by the teacher as well."""
    effective = None
    if student_rate and not share:
        effective = student_rate
    elif student_rate and teacher_rate:
        effective = 1 / (1 / student_rate + share / teacher_rate)
    return {"pairs_per_s": effective, "student_pairs_per_s": student_rate, "teacher_pairs_per_s": teacher_rate,
            "speedup_over_teacher": effective / teacher_rate if effective and teacher_rate else None,
            "cost_per_1000_pairs": 1000 * (student_cost + share * teacher_cost)}


def _average(entries: Sequence[dict]):
    first = entries[0]
    out: dict = {}
    for key, value in first.items():
        values = [entry[key] for entry in entries]
        if isinstance(value, dict) and key not in ("gate",):
            out[key] = _average(values)
        elif isinstance(value, list) and value and all(isinstance(x, int | float) for x in value):
            out[key] = [sum(v[i] for v in values) / len(values) for i in range(len(value))]
        elif isinstance(value, int | float) and not isinstance(value, bool) and all(
                isinstance(v, int | float) for v in values):
            out[key] = sum(values) / len(values)
    return out
