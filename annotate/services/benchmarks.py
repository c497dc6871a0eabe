"""Making benchmarks and deciding who grades them."""

import random
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from labeling.grades import GRADES
from labeling.importers import qrels_import
from labeling.importers.batches import batched, valid_slug
from labeling.models import Judgment, Labeler, ModelLabel, Pair
from labeling.selectors import pairs_in_scope

from ..models import AnnotatorPreference, Benchmark, BenchmarkItem, Membership
from ..roles import ANNOTATOR, user_role_set

BATCH_SIZE = 5000


def benchmark_create(*, name: str, title: str = "", guidelines: str = "", judgments_required: int = 3,
                     gold_rate: float = 0.1) -> Benchmark:
    """Create the benchmark, or update these settings of the one with this name."""
    valid_slug("benchmark", name)
    if judgments_required < 1:
        raise ValueError("judgments_required must be at least 1")
    if not 0.0 <= gold_rate <= 1.0:
        raise ValueError("gold_rate must be between 0 and 1")
    benchmark, _ = Benchmark.objects.update_or_create(
        name=name,
        defaults={"title": title, "guidelines": guidelines, "judgments_required": judgments_required,
                  "gold_rate": gold_rate},
    )
    return benchmark


def pairs_by_query(*, pair_ids: Iterable[int], seed: int = 0) -> list[int]:
    """Query by query (one context at a time grades faster), shuffled within a query so no
    source order (best first, by model grade) leaks into the grading order."""
    query_of: dict[int, int] = {}
    for batch in batched(pair_ids, BATCH_SIZE):
        query_of.update(Pair.objects.filter(id__in=batch).values_list("id", "query_id"))
    return sorted(query_of, key=lambda pid: (query_of[pid], random.Random(f"{seed}:{pid}").random()))


@transaction.atomic
def benchmark_items_add(*, benchmark: Benchmark, pair_ids: Sequence[int], gold: Mapping[int, int] | None = None,
                        calibration: Collection[int] = ()) -> int:
    """Add pairs in the given order after the benchmark's last position. Idempotent: a pair
    already in keeps its position, and its gold grade and calibration flag are set from the
    arguments. `gold` maps pair id to its known grade; `calibration` pairs (which may have a
    gold grade too) are graded by everyone first. Returns the number of items now added."""
    gold = dict(gold or {})
    calibration = set(calibration)
    if bad := {g for g in gold.values() if g not in GRADES}:
        raise ValueError(f"gold grades must be in {GRADES}: {sorted(bad)}")
    existing = set(benchmark.items.filter(pair_id__in=pair_ids).values_list("pair_id", flat=True))
    start = (benchmark.items.order_by("-position").values_list("position", flat=True).first() or 0) + 1
    before = benchmark.items.count()
    for batch in batched(enumerate(dict.fromkeys(pair_ids)), BATCH_SIZE):
        BenchmarkItem.objects.bulk_create(
            [BenchmarkItem(benchmark=benchmark, pair_id=pid, position=start + i, gold_grade=gold.get(pid),
                           is_calibration=pid in calibration) for i, pid in batch],
            update_conflicts=True, unique_fields=["benchmark", "pair"], update_fields=["gold_grade", "is_calibration"],
        )
    added = benchmark.items.count() - before
    new_ids = [pid for pid in pair_ids if pid not in existing]
    for ids in batched(new_ids, BATCH_SIZE):  # pairs may come with judgments already
        _judgment_counts_fill(benchmark.items.filter(pair_id__in=ids))
    benchmark_counts_refresh(benchmark=benchmark)
    return added


def _judgment_counts_fill(items) -> None:
    judged = (Judgment.objects.filter(pair_id=OuterRef("pair_id")).order_by()
              .values("pair_id").annotate(n=Count("id")).values("n"))
    items.update(judgment_count=Coalesce(Subquery(judged), 0))


def benchmark_counts_refresh(*, benchmark: Benchmark, judgment_counts: bool = False) -> Benchmark:
    """Recount the benchmark's items by kind (the progress bars read these), and with
    `judgment_counts` every item's judgments too (after judgments were imported from
    outside the grading page; the queue also corrects an item's count when it locks it)."""
    items = BenchmarkItem.objects.filter(benchmark=benchmark)
    if judgment_counts:
        _judgment_counts_fill(items)
    counts = {
        "regular_count": items.filter(is_calibration=False, gold_grade__isnull=True).count(),
        "gold_count": items.filter(is_calibration=False, gold_grade__isnull=False).count(),
        "calibration_count": items.filter(is_calibration=True).count(),
    }
    Benchmark.objects.filter(pk=benchmark.pk).update(**counts)
    for field, value in counts.items():
        setattr(benchmark, field, value)
    return benchmark


def grades_stratify(grades: Mapping[int, Sequence[int]], n: int, rng: random.Random, *,
                cover_all: bool = True) -> dict[int, list[int]]:
    """Up to n ids, as evenly spread over the grades as their sizes allow: a grade with fewer
    ids than its share gives all it has and the rest goes to the others. With fewer than one
    per grade, `cover_all` refuses; otherwise n grades are drawn."""
    present = {g: ids for g, ids in grades.items() if ids}
    if n < len(present):
        if cover_all:
            raise ValueError(f"n={n} is too small to cover the {len(present)} grades present")
        present = {g: present[g] for g in sorted(rng.sample(sorted(present), n))}
    quota = dict.fromkeys(present, 0)
    left = n
    while left and (open_ := [g for g in sorted(present) if quota[g] < len(present[g])]):
        share, extra = divmod(left, len(open_))
        for i, g in enumerate(open_):
            add = min(share + (i < extra), len(present[g]) - quota[g])
            quota[g] += add
            left -= add
    return {g: sorted(rng.sample(list(present[g]), quota[g])) for g in present}


def benchmark_sample_stratified(*, name: str, labeler: Labeler, scope: dict, n: int, judgments_required: int = 3,
                                title: str = "", guidelines: str = "", gold_rate: float = 0.0,
                                seed: int = 0) -> Benchmark:
    """A benchmark of n pairs from `scope` (Pair filter lookups, as labeling jobs take them),
    sampled by `labeler`'s grade so every grade it gave is covered, evenly where the grades
    allow. Deterministic for a seed; a benchmark of this name that already has items is
    returned unchanged (a task re-run does not mix in a second sample). The model's grades are
    not shown to annotators and do not order the items."""
    existing = Benchmark.objects.filter(name=name).first()
    if existing is not None and existing.items.exists():
        return existing
    labels = ModelLabel.objects.filter(labeler=labeler, pair__in=pairs_in_scope(scope=scope)).order_by("pair_id")
    by_grade = {g: list(labels.filter(grade=g).values_list("pair_id", flat=True).iterator(chunk_size=BATCH_SIZE))
                for g in GRADES}
    chosen = grades_stratify(by_grade, n, random.Random(seed))
    with transaction.atomic():
        benchmark = benchmark_create(name=name, title=title, guidelines=guidelines,
                                     judgments_required=judgments_required, gold_rate=gold_rate)
        pair_ids = [pid for ids in chosen.values() for pid in ids]
        benchmark_items_add(benchmark=benchmark, pair_ids=pairs_by_query(pair_ids=pair_ids, seed=seed))
    return benchmark


def benchmark_import(*, name: str, corpus_name: str, qrels_path: Path | str, title: str = "", guidelines: str = "",
                     judgments_required: int = 3, gold_rate: float = 0.1, gold: int = 0, calibration: int = 0,
                     seed: int = 0) -> Benchmark:
    """A benchmark of the pairs in a qrels file (queries and documents already imported into
    the corpus). The file's grades are not shown to anyone; optionally `gold` pairs and
    `calibration` pairs, picked across the file's grades, keep them as known grades."""
    with transaction.atomic():
        summary = qrels_import(path=qrels_path, corpus_name=corpus_name, return_grades=True)
        assert summary.grades is not None  # asked for with return_grades
        grade_of = dict(summary.grades)
        rng = random.Random(seed)
        by_grade = {g: sorted(p for p, gg in grade_of.items() if gg == g) for g in GRADES}
        special = grades_stratify(by_grade, gold + calibration, rng, cover_all=False) if gold + calibration else {}
        picked = sorted((pid for ids in special.values() for pid in ids),
                        key=lambda p: random.Random(f"{seed}:{p}").random())
        calibration_ids, gold_ids = set(picked[:calibration]), picked[calibration:]
        benchmark = benchmark_create(name=name, title=title, guidelines=guidelines,
                                     judgments_required=judgments_required, gold_rate=gold_rate)
        benchmark_items_add(
            benchmark=benchmark,
            pair_ids=pairs_by_query(pair_ids=grade_of, seed=seed),
            gold={pid: grade_of[pid] for pid in [*calibration_ids, *gold_ids]},
            calibration=calibration_ids,
        )
    return benchmark


def membership_add(*, benchmark: Benchmark, users: Iterable) -> int:
    """Let these people grade the benchmark (idempotent); returns how many were new."""
    users = list(users)
    existing = set(Membership.objects.filter(benchmark=benchmark, user__in=users).values_list("user_id", flat=True))
    Membership.objects.bulk_create(
        [Membership(benchmark=benchmark, user=u) for u in users if u.pk not in existing], ignore_conflicts=True
    )
    return len({u.pk for u in users} - existing)


@transaction.atomic
def annotator_create(*, username: str, password: str):
    """A new user with the annotator role (an admin adding someone to a benchmark)."""
    user = get_user_model().objects.create_user(username=username, password=password)
    user_role_set(user=user, role=ANNOTATOR)
    return user


def membership_remove(*, benchmark: Benchmark, users: Iterable) -> int:
    """Take people off a benchmark. Their judgments stay (and count); they lose access."""
    deleted, _ = Membership.objects.filter(benchmark=benchmark, user__in=list(users)).delete()
    return deleted


def guidelines_accept(*, benchmark: Benchmark, annotator) -> Membership:
    """The annotator read the guidelines: their first pair comes next."""
    membership, _ = Membership.objects.get_or_create(benchmark=benchmark, user=annotator)
    if membership.guidelines_seen_at is None:
        membership.guidelines_seen_at = timezone.now()
        membership.save(update_fields=["guidelines_seen_at"])
    return membership


def benchmark_exclude_gated_set(*, benchmark: Benchmark, exclude: bool) -> Benchmark:
    """The one switch: leave the gold gate's annotators out of consensus and agreement, or not."""
    Benchmark.objects.filter(pk=benchmark.pk).update(exclude_gated=exclude)
    benchmark.exclude_gated = exclude
    return benchmark


def highlight_preference_set(*, user, highlight: bool) -> None:
    """Keep whether `user` wants the query's terms marked in documents."""
    AnnotatorPreference.objects.update_or_create(user=user, defaults={"highlight_terms": highlight})
