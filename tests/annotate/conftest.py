from datetime import datetime, timezone

import pytest

from annotate.roles import ANNOTATOR, user_role_set
from annotate.services import benchmark_create, benchmark_items_add, membership_add
from tests.factories import CorpusFactory, DocumentFactory, PairFactory, QueryFactory, UserFactory

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_pairs(n: int, *, corpus=None, per_query: int = 5, prefix: str = "p") -> list[int]:
    corpus = corpus or CorpusFactory()
    ids = []
    query = None
    for i in range(n):
        if i % per_query == 0:
            query = QueryFactory(corpus=corpus, external_id=f"{prefix}q{i // per_query}", text=f"expense report policy {i // per_query}")
        ids.append(PairFactory(query=query, document=DocumentFactory(corpus=corpus, external_id=f"{prefix}d{i}")).id)
    return ids


def make_annotators(n: int, *, benchmark=None, prefix: str = "ann") -> list:
    users = []
    for i in range(n):
        user = UserFactory(username=f"{prefix}{i}")
        user.set_password("pw")
        user.save()
        user_role_set(user=user, role=ANNOTATOR)
        users.append(user)
    if benchmark is not None:
        membership_add(benchmark=benchmark, users=users)
    return users


@pytest.fixture
def bench_factory(db):
    def make(*, n: int = 6, required: int = 2, gold: dict[int, int] | None = None, calibration: int = 0,
             gold_rate: float = 0.0, name: str = "bench", guidelines: str = "", per_query: int = 5):
        benchmark = benchmark_create(name=name, judgments_required=required, gold_rate=gold_rate, guidelines=guidelines)
        pair_ids = make_pairs(n + len(gold or {}) + calibration, per_query=per_query, prefix=name)
        regular, rest = pair_ids[:n], pair_ids[n:]
        gold_map = dict(zip(rest[: len(gold or {})], (gold or {}).values()))
        calibration_ids = rest[len(gold_map):]
        benchmark_items_add(benchmark=benchmark, pair_ids=calibration_ids + regular + list(gold_map),
                            gold=gold_map, calibration=calibration_ids)
        benchmark.refresh_from_db()
        return benchmark

    return make
