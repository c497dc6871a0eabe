"""The grading queue: lease the next pair, grade it, skip it, undo and re-grade.

The order in which pairs are served (pair_next_for_annotator; the first that gives a pair wins):

1. the pair the annotator already holds: their newest live lease (a reload, or the pair an
   undo brought back), renewed;
2. calibration pairs they have not graded, by position (everyone grades all of them, first;
   a skipped one comes back after the others), asked only while their membership's counter
   says some are left;
3. with probability gold_rate, a gold pair they have neither graded nor skipped, by position
   (again only while their counter says some are left);
4. a regular pair from the queue (annotate.selectors.queue_candidates_sql): not graded or
   skipped by them and short of judgments_required once live leases are counted; the most
   judged first (pairs in progress finish before new ones start), then by position (query by
   query, shuffled within a query: pairs_by_query at benchmark_items_add);
5. only when no such pair is left, a regular pair they skipped, in the same order;
6. else None: nothing is left for them. Nothing is served before they accept the benchmark's
   guidelines (GuidelinesRequired).

The invariant, for every regular item: judgments + leases that have not lapsed <= the
benchmark's judgments_required. Everything that adds to either side (a lease taken, renewed
or revived; a judgment) first takes the item's row lock and then counts again, with a clock
read after the lock, in a fresh statement:

- PostgreSQL: the queue scans candidates with SELECT ... FOR UPDATE SKIP LOCKED, so
  annotators racing for pairs never wait on each other; under READ COMMITTED the re-count
  after the lock sees every change committed before it.
- SQLite: select_for_update is a no-op, but every transaction here begins IMMEDIATE
  (settings), so writers are serialised and the same re-count is exact.

A double submit finds the first judgment and changes nothing (the unique (pair, annotator)
constraint backs this up), so it is harmless.
"""

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from labeling.grades import GRADES
from labeling.models import Judgment

from ..models import Benchmark, BenchmarkItem, Lease, Membership, Skip
from ..selectors import RECENT_EDITABLE, annotator_gate, judgments_recent, queue_candidates, special_candidates

DEFAULT_LEASE_SECONDS = 300
TAKE_ATTEMPTS = 20  # candidates re-checked after locking before the queue gives up this time
LOCKED_RETRY_SECONDS = 0.005  # backoff step while the only candidates are being leased by others
COUNTER = {
    BenchmarkItem.Kind.REGULAR: "judged_regular",
    BenchmarkItem.Kind.GOLD: "judged_gold",
    BenchmarkItem.Kind.CALIBRATION: "judged_calibration",
}


class QueueError(Exception):
    """A grading action that cannot be done; the message is for the annotator."""


class PairFull(QueueError):
    pass


class NotEditable(QueueError):
    pass


class NotLeased(QueueError):
    """A grade or skip for a pair the annotator holds no lease on."""


NOT_LEASED = "That pair was not handed to you (or you have moved on from it); here is your next one."


class GuidelinesRequired(QueueError):
    """A pair asked for before the annotator accepted the benchmark's guidelines."""


def lease_duration() -> timedelta:
    """How long a pair stays held without activity (setting ANNOTATE_LEASE_SECONDS)."""
    return timedelta(seconds=int(getattr(settings, "ANNOTATE_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)))


def _clock(now: datetime | None) -> datetime:
    # Callers pass `now` only in tests; otherwise the clock is read after the lock is held.
    return now if now is not None else timezone.now()


def _lock(item_id: int, benchmark: Benchmark) -> BenchmarkItem:
    return BenchmarkItem.objects.select_for_update(of=("self",)).get(pk=item_id, benchmark=benchmark)


def _room(item: BenchmarkItem, annotator, now: datetime, required: int) -> bool:
    """With the item locked: may `annotator` hold a slot on it? Counts the real judgments and the
    other annotators' live leases, and corrects the item's stored count if it drifted (a
    judgment imported, or made through another benchmark sharing the pair)."""
    judged = list(Judgment.objects.filter(pair_id=item.pair_id).values_list("annotator_id", flat=True))
    if len(judged) != item.judgment_count:
        BenchmarkItem.objects.filter(pk=item.pk).update(judgment_count=len(judged))
        item.judgment_count = len(judged)
    if annotator.pk in judged:
        return False
    if item.kind != BenchmarkItem.Kind.REGULAR:
        return True
    others = Lease.objects.filter(item=item, expires_at__gt=now).exclude(annotator=annotator).count()
    return len(judged) + others < required


def _lease_new(item: BenchmarkItem, annotator, now: datetime) -> Lease:
    """A fresh lease (the annotator holds none on this item: _resume cleared theirs)."""
    return Lease.objects.create(item=item, annotator=annotator, created_at=now, expires_at=now + lease_duration())


def _lease_extend(lease: Lease, item: BenchmarkItem, now: datetime) -> Lease:
    """The same lease, held longer; its created_at (when the pair was first shown) stays."""
    lease.expires_at = now + lease_duration()
    Lease.objects.filter(pk=lease.pk).update(expires_at=lease.expires_at)
    lease.item = item
    return lease


@contextmanager
def _lease_transaction() -> Iterator[None]:
    """A transaction that writes leases (and at most a membership row), nothing a person made.
    On PostgreSQL it commits without waiting for the WAL flush (a disk sync, 2-10 ms here): a
    lease lost in a crash only means its pair is offered again, and the cap holds with fewer
    leases. Nested in a caller's transaction it changes nothing there."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


def membership_for(*, benchmark: Benchmark, annotator) -> Membership:
    """The annotator's membership row; admins and reviewers grading a benchmark they were not
    added to get one on their first pair (access is checked by the caller)."""
    membership, _ = Membership.objects.get_or_create(benchmark=benchmark, user=annotator)
    return membership


def _membership_count(benchmark: Benchmark, annotator, field: str, step: int) -> None:
    value = F(field) + 1 if step > 0 else Greatest(F(field) - 1, Value(0))
    rows = Membership.objects.filter(benchmark=benchmark, user=annotator)
    if not rows.update(**{field: value}) and step > 0:
        _, created = Membership.objects.get_or_create(benchmark=benchmark, user=annotator, defaults={field: 1})
        if not created:  # made by a concurrent request of the same person
            rows.update(**{field: value})


def _resume(benchmark: Benchmark, annotator, now: datetime | None) -> Lease | None:
    """The newest live lease the annotator holds here (a reload, or the pair an undo brought
    back), renewed. Lapsed ones are dropped."""
    mine = list(Lease.objects.filter(annotator=annotator, item__benchmark=benchmark).order_by("-created_at", "-id"))
    if not mine:
        return None
    # One statement, in id order: two transactions locking overlapping items never deadlock.
    items = {
        item.pk: item
        for item in BenchmarkItem.objects.select_for_update(of=("self",))
        .filter(pk__in=[lease.item_id for lease in mine]).order_by("pk")
    }
    current = _clock(now)  # after the locks
    live = {lease.pk for lease in Lease.objects.filter(pk__in=[lease.pk for lease in mine], expires_at__gt=current)}
    judged = set(
        Judgment.objects.filter(annotator=annotator, pair_id__in=[i.pair_id for i in items.values()])
        .values_list("pair_id", flat=True)
    )
    for lease in mine:
        item = items[lease.item_id]
        if lease.pk in live and item.pair_id not in judged:
            stale = [m.pk for m in mine if m.pk not in live or items[m.item_id].pair_id in judged]
            Lease.objects.filter(pk__in=stale).delete()
            return _lease_extend(lease, item, current)
    Lease.objects.filter(pk__in=[lease.pk for lease in mine]).delete()  # lapsed, or graded already
    return None


def _take_special(benchmark: Benchmark, annotator, kind: str, now: datetime | None) -> Lease | None:
    item = special_candidates(benchmark=benchmark, annotator=annotator, kind=kind).first()
    return _lease_new(item, annotator, _clock(now)) if item is not None else None


def _take_regular(benchmark: Benchmark, annotator, now: datetime | None, *, skipped: bool) -> Lease | None:
    required = benchmark.judgments_required
    passed: list[int] = []
    for attempt in range(TAKE_ATTEMPTS):
        scan = {"benchmark": benchmark, "annotator": annotator, "skipped": skipped, "exclude": passed}
        found = queue_candidates(**scan, now=_clock(now), lock=True)
        if not found:
            # SKIP LOCKED also passes over rows other annotators are leasing this very moment;
            # if such a row exists it may still have room once they commit: look again shortly
            # rather than report an empty queue (never block on the lock: no deadlock to fear).
            if connection.features.has_select_for_update_skip_locked and queue_candidates(**scan, now=_clock(now)):
                time.sleep(LOCKED_RETRY_SECONDS * (attempt + 1))
                continue
            return None
        item = found[0]
        current = _clock(now)  # after the lock
        if _room(item, annotator, current, required):
            return _lease_new(item, annotator, current)
        passed.append(item.pk)  # filled up between the scan and the lock
    return None


def pair_next_for_annotator(*, benchmark: Benchmark, annotator, now: datetime | None = None,
                            rng: random.Random | None = None) -> Lease | None:
    """Lease the pair `annotator` grades next in `benchmark`, or None when nothing is left for
    them. In order: the live lease they already hold; the calibration pairs (every annotator
    grades all, first); then a gold pair with probability gold_rate (while they have gold pairs
    left); else a regular pair from the queue (pairs in progress first), and only when none is
    left, a regular pair they skipped earlier.

    Takes a lease, so it is a service, though it reads like a selector; the lease lapses after
    ANNOTATE_LEASE_SECONDS without activity. None is leased before the annotator accepted the
    benchmark's guidelines (GuidelinesRequired), so nothing can be graded before either.
    """
    draw = rng.random if rng is not None else random.random
    with _lease_transaction():
        membership = membership_for(benchmark=benchmark, annotator=annotator)
        if benchmark.guidelines.strip() and membership.guidelines_seen_at is None:
            raise GuidelinesRequired("Read the benchmark's guidelines and accept them first.")
        lease = _resume(benchmark, annotator, now)
        # The counters say whether calibration or gold pairs may be left for this annotator
        # (skipped ones aside); only then is the index asked which.
        if lease is None and membership.judged_calibration < benchmark.calibration_count:
            lease = _take_special(benchmark, annotator, BenchmarkItem.Kind.CALIBRATION, now)
        if (lease is None and membership.judged_gold < benchmark.gold_count and benchmark.gold_rate > 0
                and draw() < benchmark.gold_rate):
            lease = _take_special(benchmark, annotator, BenchmarkItem.Kind.GOLD, now)
        if lease is None and _gated(benchmark, membership, annotator):
            # Below the gold gate: no regular pairs; their gold pairs left, which may lift them.
            return _take_special(benchmark, annotator, BenchmarkItem.Kind.GOLD, now)
        if lease is None:
            lease = _take_regular(benchmark, annotator, now, skipped=False)
        if lease is None:
            lease = _take_regular(benchmark, annotator, now, skipped=True)
    return lease


def _gated(benchmark: Benchmark, membership: Membership, annotator) -> bool:
    """Whether the gold gate stops this member; the counter says first whether it can apply."""
    if benchmark.gold_min_accuracy is None or membership.judged_gold < benchmark.gold_min_items:
        return False
    return annotator_gate(benchmark=benchmark, annotator=annotator) is not None


def lease_renew(*, benchmark: Benchmark, annotator, item_id: int, now: datetime | None = None) -> bool:
    """Keep a pair held while its annotator is active (the page calls this as they work). A
    lapsed lease is revived if the pair still has room. False when it is gone."""
    with _lease_transaction():
        try:
            item = _lock(item_id, benchmark)
        except BenchmarkItem.DoesNotExist:
            return False
        current = _clock(now)
        lease = Lease.objects.filter(item=item, annotator=annotator).first()
        if lease is None:
            return False
        if lease.expires_at > current or _room(item, annotator, current, benchmark.judgments_required):
            Lease.objects.filter(pk=lease.pk).update(expires_at=current + lease_duration())
            return True
        lease.delete()
        return False


@dataclass(frozen=True)
class Submitted:
    judgment: Judgment
    created: bool  # False: a double submit, the first judgment stands


def judgment_submit(*, benchmark: Benchmark, annotator, item_id: int, grade: int, comment: str = "",
                    input_method: str = Judgment.InputMethod.CLICK, now: datetime | None = None) -> Submitted:
    """Record `annotator`'s grade of an item they were shown: one they hold a lease on (NotLeased
    otherwise). Idempotent: if they already graded the pair, that judgment stands and nothing
    changes (`created` is False: the caller tells them which grade was kept). A regular pair
    whose lease lapsed is still accepted while it has room; otherwise PairFull (someone else
    took the slot). Time spent counts from when the lease was first taken (the pair shown)."""
    if grade not in GRADES:
        raise ValueError(f"grade must be one of {GRADES}, not {grade!r}")
    if input_method not in Judgment.InputMethod.values:
        raise ValueError(f"unknown input method {input_method!r}")
    with transaction.atomic():
        try:
            item = _lock(item_id, benchmark)
        except BenchmarkItem.DoesNotExist:
            raise QueueError("That pair is not in this benchmark.") from None
        current = _clock(now)
        lease = Lease.objects.filter(item=item, annotator=annotator).first()
        existing = Judgment.objects.filter(pair_id=item.pair_id, annotator=annotator).first()
        if existing is not None:
            if lease is not None:
                lease.delete()
            return Submitted(existing, created=False)
        if lease is None:
            # Only the pair the queue handed out (its lease, lapsed or not): never a pair picked
            # by id, a gold pair the queue did not serve, or one before the guidelines.
            raise NotLeased(NOT_LEASED)
        holds = lease.expires_at > current
        if not holds and not _room(item, annotator, current, benchmark.judgments_required):
            lease.delete()
            raise PairFull("This pair was handed to someone else while you were away; here is the next one.")
        seconds = (current - lease.created_at).total_seconds()
        try:
            with transaction.atomic():
                judgment = Judgment.objects.create(
                    pair_id=item.pair_id, annotator=annotator, grade=grade, comment=comment.strip(),
                    input_method=input_method, seconds=seconds,
                )
        except IntegrityError:  # graded at this moment through another benchmark sharing the pair
            Lease.objects.filter(item=item, annotator=annotator).delete()
            return Submitted(Judgment.objects.get(pair_id=item.pair_id, annotator=annotator), created=False)
        BenchmarkItem.objects.filter(pk=item.pk).update(
            judgment_count=Judgment.objects.filter(pair_id=item.pair_id).count()
        )
        _membership_count(benchmark, annotator, COUNTER[item.kind], +1)
        Lease.objects.filter(item=item, annotator=annotator).delete()
        Skip.objects.filter(item=item, annotator=annotator).delete()
    return Submitted(judgment, created=True)


def _lease_release(*, benchmark: Benchmark, annotator, item_id: int) -> BenchmarkItem:
    """The benchmark's item whose lease the annotator gives up (QueueError if it is not in the
    benchmark, NotLeased if they hold no lease on it). Inside the caller's transaction."""
    item = BenchmarkItem.objects.filter(pk=item_id, benchmark=benchmark).first()
    if item is None:
        raise QueueError("That pair is not in this benchmark.")
    if not Lease.objects.filter(item=item, annotator=annotator).delete()[0]:
        raise NotLeased(NOT_LEASED)
    return item


def pair_skip(*, benchmark: Benchmark, annotator, item_id: int, now: datetime | None = None) -> None:
    """Pass on a pair the annotator holds a lease on (NotLeased otherwise: skipping a gold pair
    by id would take it out of their queue): the lease is released and the pair is offered to
    them again only when nothing else is left for them."""
    with transaction.atomic():
        item = _lease_release(benchmark=benchmark, annotator=annotator, item_id=item_id)
        Skip.objects.update_or_create(item=item, annotator=annotator, defaults={"created_at": _clock(now)})


def pair_cant_judge(*, benchmark: Benchmark, annotator, item_id: int, reason: str, note: str = "",
                    now: datetime | None = None) -> Skip:
    """The annotator cannot judge a pair they hold a lease on (NotLeased otherwise), for
    `reason` (Skip.Reason) with an optional note: the lease is released, the pair never comes
    back to them, and it is counted apart and listed for reviewers. Others still grade it."""
    if reason not in Skip.Reason.values:
        raise QueueError("Say why you cannot judge this pair.")
    with transaction.atomic():
        item = _lease_release(benchmark=benchmark, annotator=annotator, item_id=item_id)
        skip, _ = Skip.objects.update_or_create(
            item=item, annotator=annotator,
            defaults={"created_at": _clock(now), "reason": reason, "note": note.strip()})
    return skip


@dataclass(frozen=True)
class Undone:
    item: BenchmarkItem
    grade: int
    comment: str


def judgment_undo(*, benchmark: Benchmark, annotator, now: datetime | None = None) -> Undone | None:
    """Take back the annotator's latest grade here (the one given or changed last, as the
    recent list shows them): the judgment goes and the pair is leased to
    them again, ahead of the pair they were on (which they keep). The counts stay within the
    cap: one judgment fewer, one lease more. None when there is nothing to undo."""
    with transaction.atomic():
        latest = judgments_recent(benchmark=benchmark, annotator=annotator, limit=1).first()
        if latest is None:
            return None
        item = BenchmarkItem.objects.select_for_update(of=("self",)).get(benchmark=benchmark, pair_id=latest.pair_id)
        deleted, _ = Judgment.objects.filter(pk=latest.pk).delete()
        if not deleted:  # undone by a concurrent request
            return None
        BenchmarkItem.objects.filter(pk=item.pk).update(
            judgment_count=Judgment.objects.filter(pair_id=item.pair_id).count()
        )
        _membership_count(benchmark, annotator, COUNTER[item.kind], -1)
        current = _clock(now)
        # Newest lease, so it is served before the pair the annotator was on.
        Lease.objects.filter(item=item, annotator=annotator).delete()
        Lease.objects.create(item=item, annotator=annotator, created_at=current, expires_at=current + lease_duration())
    return Undone(item=item, grade=latest.grade, comment=latest.comment)


def judgment_regrade(*, benchmark: Benchmark, annotator, judgment_id: int, grade: int,
                     input_method: str = Judgment.InputMethod.CLICK, now: datetime | None = None) -> Judgment:
    """Change one of the annotator's last RECENT_EDITABLE grades in this benchmark."""
    if grade not in GRADES:
        raise ValueError(f"grade must be one of {GRADES}, not {grade!r}")
    if input_method not in Judgment.InputMethod.values:
        raise ValueError(f"unknown input method {input_method!r}")
    with transaction.atomic():
        recent = {j.pk: j for j in judgments_recent(benchmark=benchmark, annotator=annotator)}
        judgment = recent.get(judgment_id)
        if judgment is None:
            raise NotEditable(f"Only your last {RECENT_EDITABLE} grades can be changed.")
        Judgment.objects.filter(pk=judgment.pk).update(grade=grade, input_method=input_method, updated_at=_clock(now))
        judgment.refresh_from_db()
    return judgment
