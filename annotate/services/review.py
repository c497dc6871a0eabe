"""Reviewers' decisions on disagreements: each writes one audit log entry (ReviewDecision,
append-only) and sets the pair's Adjudication, the grade that becomes its consensus.

A decision and its undo lock the pair's benchmark item, so two reviewers deciding the same
pair at once are serialised and each log entry's "before" is what the other left.
"""

import random
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from labeling.grades import GRADES
from labeling.models import Labeler, ModelLabel

from ..models import Adjudication, Benchmark, BenchmarkItem, ReviewDecision, SpotCheck
from ..selectors import pair_human_grade
from ..selectors.review import agreed_pairs

Action = ReviewDecision.Action
DECISIONS = (Action.KEEP_HUMAN, Action.TAKE_MODEL, Action.SET_GRADE, Action.AMBIGUOUS)


class ReviewError(Exception):
    """A decision that cannot be made; the message is for the reviewer."""


def _lock(benchmark: Benchmark, pair_id: int) -> None:
    if not BenchmarkItem.objects.select_for_update(of=("self",)).filter(benchmark=benchmark, pair_id=pair_id).exists():
        raise ReviewError("That pair is not in this benchmark.")


def _state(decision: ReviewDecision | None, human_grade: int | None) -> tuple[int | None, bool]:
    """(grade, ambiguous) a decision left, or the people's median where none stands."""
    if decision is None:
        return human_grade, False
    return decision.after_grade, decision.after_ambiguous


def _adjudication_set(benchmark: Benchmark, pair_id: int, decision: ReviewDecision | None) -> None:
    """Make `decision` the pair's standing one; None: no decision stands (the median again)."""
    if decision is None:
        Adjudication.objects.filter(benchmark=benchmark, pair_id=pair_id).delete()
        return
    Adjudication.objects.update_or_create(
        benchmark=benchmark, pair_id=pair_id,
        defaults={"grade": decision.after_grade, "ambiguous": decision.after_ambiguous, "decision": decision,
                  "decided_by_id": decision.decided_by_id, "decided_at": decision.decided_at,
                  "comment": decision.comment},
    )


def adjudication_decide(*, benchmark: Benchmark, pair_id: int, reviewer, action: str, labeler: Labeler | None = None,
                        grade: int | None = None, comment: str = "", now: datetime | None = None) -> ReviewDecision:
    """Decide a pair: keep the people's median grade, take `labeler`'s grade, set `grade`, or
    flag it ambiguous (it then leaves scoring and training). Logged, then it stands as the
    pair's consensus in this benchmark. A pair already decided may be decided again."""
    if action not in DECISIONS:
        raise ValueError(f"action is one of {[str(a) for a in DECISIONS]}, not {action!r}")
    if action == Action.SET_GRADE and grade not in GRADES:
        raise ReviewError("Pick a grade (0-3).")
    with transaction.atomic():
        _lock(benchmark, pair_id)
        human = pair_human_grade(pair_id=pair_id)
        if human is None and action in (Action.KEEP_HUMAN, Action.TAKE_MODEL):
            # A pair nobody could judge may still get a reviewer's grade, or be flagged.
            raise ReviewError("Nobody graded that pair yet: set a grade or flag it ambiguous.")
        label = ModelLabel.objects.filter(labeler=labeler, pair_id=pair_id).first() if labeler else None
        if action == Action.TAKE_MODEL and label is None:
            raise ReviewError("The model has no grade for that pair.")
        outcomes: dict[str, int | None] = {Action.KEEP_HUMAN: human, Action.TAKE_MODEL: label.grade if label else None,
                                           Action.SET_GRADE: grade, Action.AMBIGUOUS: None}
        after = outcomes[action]
        standing = Adjudication.objects.filter(benchmark=benchmark, pair_id=pair_id).select_related("decision").first()
        replaces = standing.decision if standing else None
        before_grade, before_ambiguous = _state(replaces, human)
        decision = ReviewDecision.objects.create(
            benchmark=benchmark, pair_id=pair_id, labeler=labeler, action=action, human_grade=human,
            model_grade=label.grade if label else None,
            before_grade=before_grade, before_ambiguous=before_ambiguous, before_adjudicated=replaces is not None,
            after_grade=after, after_ambiguous=action == Action.AMBIGUOUS, replaces=replaces,
            comment=comment.strip(), decided_by=reviewer, decided_at=now or timezone.now(),
        )
        _adjudication_set(benchmark, pair_id, decision)
        # A spot-check's verdict: did the agreed grade stand?
        for check in SpotCheck.objects.filter(benchmark=benchmark, pair_id=pair_id, decision__isnull=True):
            SpotCheck.objects.filter(pk=check.pk).update(
                decision=decision, wrong=decision.after_ambiguous or decision.after_grade != check.agreed_grade)
    return decision


def adjudication_undo(*, benchmark: Benchmark, reviewer, now: datetime | None = None) -> ReviewDecision | None:
    """Take back the reviewer's latest decision here that still stands: the one it replaced
    stands again (or the people's median). Logged as an "undo" entry; the undone entry stays.
    None when there is nothing to undo; ReviewError when another reviewer decided the pair since."""
    with transaction.atomic():
        latest = (ReviewDecision.objects.filter(benchmark=benchmark, decided_by=reviewer, undone_by__isnull=True)
                  .exclude(action=Action.UNDO).select_related("replaces").order_by("-decided_at", "-id").first())
        if latest is None:
            return None
        _lock(benchmark, latest.pair_id)
        if not Adjudication.objects.filter(benchmark=benchmark, pair_id=latest.pair_id, decision=latest).exists():
            raise ReviewError("Another reviewer decided that pair after you: nothing was undone.")
        human = pair_human_grade(pair_id=latest.pair_id)
        restored = latest.replaces
        after_grade, after_ambiguous = _state(restored, human)
        entry = ReviewDecision.objects.create(
            benchmark=benchmark, pair_id=latest.pair_id, labeler=latest.labeler, action=Action.UNDO,
            human_grade=human, model_grade=latest.model_grade,
            before_grade=latest.after_grade, before_ambiguous=latest.after_ambiguous, before_adjudicated=True,
            after_grade=after_grade, after_ambiguous=after_ambiguous, replaces=latest, undoes=latest,
            decided_by=reviewer, decided_at=now or timezone.now(),
        )
        _adjudication_set(benchmark, latest.pair_id, restored)
        SpotCheck.objects.filter(decision=latest).update(decision=None, wrong=None)  # to be checked again
    return entry


def spot_checks_draw(*, benchmark: Benchmark, labeler: Labeler | None, share: float | None = None, drawn_by=None,
                     exclude: frozenset[int] = frozenset(), rng: random.Random | None = None,
                     now: datetime | None = None) -> list[SpotCheck]:
    """Draw spot-checks among the agreed pairs (annotate.selectors.review.agreed_pairs) of `labeler` (None:
    the people's), `share` of them (the benchmark's spot_check_share by default) from each grade
    stratum, at least one from each non-empty one; pairs drawn before are not drawn again."""
    share = benchmark.spot_check_share if share is None else share
    if not 0.0 <= share <= 1.0:
        raise ReviewError("The share of pairs to check is between 0 and 1.")
    rng = rng or random.Random()
    drawn_already = set(SpotCheck.objects.filter(benchmark=benchmark).values_list("pair_id", flat=True))
    strata: dict[int, list[int]] = {}
    for pair_id, grade in agreed_pairs(benchmark=benchmark, labeler=labeler, exclude=exclude).items():
        strata.setdefault(grade, []).append(pair_id)
    when = now or timezone.now()
    new = []
    for grade, pair_ids in sorted(strata.items()):
        pool = sorted(p for p in pair_ids if p not in drawn_already)
        wanted = max(1, round(share * len(pair_ids))) if share > 0 else 0
        already = len(pair_ids) - len(pool)
        for pair_id in rng.sample(pool, max(0, min(len(pool), wanted - already))):
            new.append(SpotCheck(benchmark=benchmark, pair_id=pair_id, labeler=labeler, agreed_grade=grade,
                                 stratum_size=len(pair_ids), drawn_at=when, drawn_by=drawn_by))
    SpotCheck.objects.bulk_create(new, ignore_conflicts=True)
    return new
