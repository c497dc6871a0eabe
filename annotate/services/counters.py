"""Drift in every denormalised counter, found and (with `fix`) repaired: `manage.py counters_check`.

The counters the queue and the progress bars read instead of counting rows:
- a benchmark's item counts by kind (`regular_count`, `gold_count`, `calibration_count`);
- an item's `judgment_count`: the pair's judgments (through any benchmark sharing the pair);
- a membership's `judged_regular`, `judged_gold`, `judged_calibration`: the member's judgments
  of the benchmark's items of that kind;
- a labeling job's `done` (labeling.services.counters, which says what can be checked there).

Each is compared with what its rows give in one query per counter, so a check of a million
items is a few scans, and a repair writes the recount in one UPDATE per counter (computed by the
database at write time, not the value the check read), touching only the drifted rows.
"""

from collections.abc import Iterator
from dataclasses import dataclass

from django.db import models
from django.db.models import Count, F, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.expressions import Expression
from django.db.models.functions import Coalesce

from labeling.importers.batches import batched
from labeling.models import Judgment
from labeling.services.counters import Drift, labeling_job_counters_check

from ..models import Benchmark, BenchmarkItem, Membership

BATCH_SIZE = 5000

# What makes an item of each kind, as lookups relative to the item.
KIND_LOOKUPS = {
    "regular": {"is_calibration": False, "gold_grade__isnull": True},
    "gold": {"is_calibration": False, "gold_grade__isnull": False},
    "calibration": {"is_calibration": True},
}


def _count(rows: QuerySet, group: str) -> Expression:
    """The number of `rows` (filtered on OuterRef columns), 0 when there are none."""
    counted = rows.order_by().values(group).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


@dataclass(frozen=True)
class _Counter:
    model: type[models.Model]
    field: str
    actual: Expression
    row: tuple[str, ...]  # fields a person recognises the row by

    def drifted(self, benchmark: Benchmark | None) -> QuerySet:
        rows = self.model._default_manager.all()
        if benchmark is not None:
            rows = rows.filter(**({"pk": benchmark.pk} if self.model is Benchmark else {"benchmark": benchmark}))
        return rows.annotate(actual=self.actual).exclude(**{self.field: F("actual")})


def _counters() -> Iterator[_Counter]:
    for kind, lookups in KIND_LOOKUPS.items():
        items = BenchmarkItem.objects.filter(benchmark_id=OuterRef("pk"), **lookups)
        yield _Counter(Benchmark, f"{kind}_count", _count(items, "benchmark_id"), ("name",))
    judgments = Judgment.objects.filter(pair_id=OuterRef("pair_id"))
    yield _Counter(BenchmarkItem, "judgment_count", _count(judgments, "pair_id"), ("benchmark__name", "pair_id"))
    for kind, lookups in KIND_LOOKUPS.items():
        mine = Judgment.objects.filter(
            annotator_id=OuterRef("user_id"), pair__benchmark_items__benchmark_id=OuterRef("benchmark_id"),
            **{f"pair__benchmark_items__{key}": value for key, value in lookups.items()},
        )
        yield _Counter(Membership, f"judged_{kind}", _count(mine, "annotator_id"),
                       ("benchmark__name", "user__username"))


def counters_check(*, fix: bool = False, benchmark: Benchmark | None = None) -> list[Drift]:
    """Every counter whose stored value differs from its rows' (only `benchmark`'s, if given;
    labeling jobs are checked only when no benchmark is given). With `fix`, each drifted row
    gets its recount. Returns the drift found, as it was before any repair."""
    drift: list[Drift] = []
    for counter in _counters():
        rows = counter.drifted(benchmark)
        found = [
            Drift(model=counter.model._meta.label, pk=pk, field=counter.field, stored=stored, actual=actual,
                  row=" ".join(str(part) for part in named))
            for pk, stored, actual, *named in rows.values_list("pk", counter.field, "actual", *counter.row)
            .order_by("pk")
        ]
        if fix:
            for batch in batched([d.pk for d in found], BATCH_SIZE):
                counter.model._default_manager.filter(pk__in=batch).update(**{counter.field: counter.actual})
        drift += found
    if benchmark is None:
        drift += labeling_job_counters_check(fix=fix)
    return drift

