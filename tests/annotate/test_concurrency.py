"""Annotators racing for pairs on PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED under load.

SQLite serialises every writing transaction (BEGIN IMMEDIATE), so a race there proves nothing
about row locks; the test runs on PostgreSQL only (DATABASE_URL=postgres://...)."""

import random
import threading

import pytest
from django.db import connection
from django.db.models import Count

from annotate.models import BenchmarkItem, Lease, Membership
from annotate.services import (
    benchmark_create,
    benchmark_items_add,
    judgment_submit,
    pair_next_for_annotator,
    pair_skip,
)
from labeling.models import Corpus, Document, Judgment, Pair, Query

from .conftest import make_annotators

ANNOTATORS, PAIRS, REQUIRED = 20, 300, 3


@pytest.fixture
def postgresql_only(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("row-lock race: needs PostgreSQL (set DATABASE_URL=postgres://...); SQLite serialises writers")


def _pairs(n: int) -> list[int]:
    corpus = Corpus.objects.create(name="race")
    queries = Query.objects.bulk_create([Query(corpus=corpus, external_id=f"q{i}", text=f"query {i}")
                                         for i in range(n // 10)])
    docs = Document.objects.bulk_create([Document(corpus=corpus, external_id=f"d{i}", text=f"text {i}")
                                         for i in range(n)])
    pairs = Pair.objects.bulk_create([Pair(query=queries[i % len(queries)], document=d) for i, d in enumerate(docs)])
    return [p.id for p in pairs]


def test_twenty_annotators_race_over_300_pairs(postgresql_only) -> None:
    bench = benchmark_create(name="race", judgments_required=REQUIRED, gold_rate=0.0)
    benchmark_items_add(benchmark=bench, pair_ids=_pairs(PAIRS))
    bench.refresh_from_db()
    users = make_annotators(ANNOTATORS, benchmark=bench, prefix="racer")
    start = threading.Barrier(ANNOTATORS)
    errors: list[BaseException] = []
    submitted: dict[int, int] = {}

    def annotate(user):
        rng = random.Random(user.pk)
        created = 0
        try:
            with connection.cursor() as cursor:
                # This machine's fsync costs ~10 ms a commit; not waiting for it changes only
                # durability after a crash, not what the race tests (locks, visibility).
                cursor.execute("SET synchronous_commit TO off")
            start.wait()
            while (lease := pair_next_for_annotator(benchmark=bench, annotator=user)) is not None:
                if rng.random() < 0.05:  # now and then pass on a pair: it must still be finished
                    pair_skip(benchmark=bench, annotator=user, item_id=lease.item.pk)
                    continue
                result = judgment_submit(benchmark=bench, annotator=user, item_id=lease.item.pk, grade=rng.randrange(4))
                created += result.created
                if rng.random() < 0.1:  # a double submit changes nothing
                    assert not judgment_submit(benchmark=bench, annotator=user, item_id=lease.item.pk, grade=0).created
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            submitted[user.pk] = created
            connection.close()  # each thread had its own connection

    threads = [threading.Thread(target=annotate, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "an annotator thread hung"
    assert not errors, errors

    per_pair = dict(Judgment.objects.values("pair_id").annotate(n=Count("id"), people=Count("annotator", distinct=True))
                    .values_list("pair_id", "n"))
    people = set(Judgment.objects.values("pair_id").annotate(p=Count("annotator", distinct=True))
                 .values_list("p", flat=True))
    assert len(per_pair) == PAIRS and set(per_pair.values()) == {REQUIRED}, "every pair exactly 3 judgments"
    assert people == {REQUIRED}, "by 3 different annotators"
    assert sum(submitted.values()) == Judgment.objects.count() == PAIRS * REQUIRED, "no judgment lost or extra"
    assert set(BenchmarkItem.objects.values_list("judgment_count", flat=True)) == {REQUIRED}
    assert sum(Membership.objects.filter(benchmark=bench).values_list("judged_regular", flat=True)) == PAIRS * REQUIRED
    assert not Lease.objects.exists()
    assert sum(1 for n in submitted.values() if n) > 1, submitted  # the work was shared
