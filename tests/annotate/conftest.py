from datetime import UTC, datetime

import pytest

from annotate.roles import ANNOTATOR, REVIEWER, user_role_set
from annotate.services import benchmark_create, benchmark_items_add, membership_add
from labeling.models import Labeler
from tests.factories import (
    CorpusFactory,
    DocumentFactory,
    JudgmentFactory,
    LabelerFactory,
    ModelLabelFactory,
    PairFactory,
    QueryFactory,
    UserFactory,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_pairs(n: int, *, corpus=None, per_query: int = 5, prefix: str = "p") -> list[int]:
    corpus = corpus or CorpusFactory()
    ids = []
    query = None
    for i in range(n):
        if i % per_query == 0:
            query = QueryFactory(corpus=corpus, external_id=f"{prefix}q{i // per_query}",
                                 text=f"expense report policy {i // per_query}")
        document = DocumentFactory(corpus=corpus, external_id=f"{prefix}d{i}")
        ids.append(PairFactory.create(query=query, document=document).id)
    return ids


def make_annotators(n: int, *, benchmark=None, prefix: str = "ann") -> list:
    users = []
    for i in range(n):
        user = UserFactory.create(username=f"{prefix}{i}")
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
        gold_map = dict(zip(rest[: len(gold or {})], (gold or {}).values(), strict=True))
        calibration_ids = rest[len(gold_map):]
        benchmark_items_add(benchmark=benchmark, pair_ids=calibration_ids + regular + list(gold_map),
                            gold=gold_map, calibration=calibration_ids)
        benchmark.refresh_from_db()
        return benchmark

    return make


# The review queue's cases: pair -> (people's grades by ann0, ann1, ann2; student's grade, expected grade, distribution)
REVIEW_CASES = {
    "far": ([0, 0, 1], 3, 2.9, [0.0, 0.0, 0.1, 0.9]),  # median 0: |2.9 - 0| x 0.9 = 2.61
    "sure": ([2, 2, 3], 0, 0.5, [0.7, 0.2, 0.1, 0.0]),  # median 2: 1.5 x 0.7 = 1.05
    "unsure": ([3, 3, 3], 1, 1.2, [0.1, 0.4, 0.35, 0.15]),  # median 3: 1.8 x 0.4 = 0.72
    "agree": ([1, 1, 1], 1, 1.0, [0.0, 1.0, 0.0, 0.0]),  # no disagreement
    "split": ([1, 2, 3], 2, 2.0, [0.0, 0.1, 0.8, 0.1]),  # agrees with the median, not with ann0 or ann2
}


@pytest.fixture
def review_setup(bench_factory):
    """A benchmark of graded pairs, a student that disagrees on some (REVIEW_CASES), a teacher and a reviewer."""
    benchmark = bench_factory(n=len(REVIEW_CASES) + 1, required=3, per_query=3)
    items = list(benchmark.items.select_related("pair__query").order_by("position"))
    people = make_annotators(3, benchmark=benchmark)
    student = LabelerFactory(name="student-x", role=Labeler.Role.STUDENT)
    teacher = LabelerFactory(name="teacher-x", role=Labeler.Role.TEACHER)
    pairs = {}
    # The benchmark has one pair more than REVIEW_CASES: that one stays ungraded.
    for (name, (grades, grade, expected, distribution)), item in zip(REVIEW_CASES.items(), items, strict=False):
        pairs[name] = item.pair
        for person, g in zip(people, grades, strict=True):
            JudgmentFactory(pair=item.pair, annotator=person, grade=g, seconds=4.5,
                            comment=f"{name} by {person.username}")
        ModelLabelFactory(pair=item.pair, labeler=student, grade=grade, expected_grade=expected,
                          distribution=distribution)
        ModelLabelFactory(pair=item.pair, labeler=teacher, grade=min(grades), expected_grade=min(grades),
                          distribution=[float(g == min(grades)) for g in range(4)])
    # A disagreeing label on a pair nobody graded: not in the queue.
    ModelLabelFactory(pair=items[-1].pair, labeler=student, grade=3, expected_grade=3.0, distribution=[0, 0, 0, 1])
    reviewer = UserFactory(username="rev")
    user_role_set(user=reviewer, role=REVIEWER)
    return {"benchmark": benchmark, "pairs": pairs, "people": people, "student": student, "teacher": teacher,
            "reviewer": reviewer}
