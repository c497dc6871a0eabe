"""The next round (distill.services.next_round): launched from a run with the reviewers' decisions on its
benchmark, training on the reviewers' grades in place of the teacher's, and reporting the
agreement before and after."""

from types import SimpleNamespace

import pytest
from django.urls import reverse

from annotate.models import Benchmark
from annotate.roles import ADMIN, REVIEWER, user_role_set
from annotate.services import benchmark_items_add
from annotate.services.review import adjudication_decide
from distill.config import config_merge, run_batch, student_name
from distill.models import Run
from distill.selectors import training_targets
from distill.services.next_round import run_next_round
from distill.services.stages import student_evaluate, student_train
from labeling.models import Labeler, Query
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

HUMAN = [0, 1, 2, 3, 0, 2]  # both people's grade of benchmark pairs 0..5 (queries b0: 0-2, b1: 3-5)
BEFORE = [0, 1, 0, 3, 1, 2]  # the previous round's student
AFTER = [1, 1, 2, 3, 1, 0]  # this round's


def one_hot(grade: int) -> list[float]:
    return [float(g == grade) for g in range(4)]


@pytest.fixture
def reviewed(db):
    """A benchmark graded by two people, pair 0 decided as 1 (people: 0), pair 5 ambiguous, and
    the run that came before the review."""
    corpus = CorpusFactory(name="c")
    queries = [QueryFactory(corpus=corpus, external_id=f"b{i}") for i in range(2)]
    pairs = [PairFactory(query=queries[i // 3], document=DocumentFactory(corpus=corpus)) for i in range(6)]
    benchmark = Benchmark.objects.create(name="bench")
    benchmark_items_add(benchmark=benchmark, pair_ids=[p.id for p in pairs])
    for person in (UserFactory(username="ann1"), UserFactory(username="ann2")):
        for pair, grade in zip(pairs, HUMAN, strict=True):
            JudgmentFactory(pair=pair, annotator=person, grade=grade)
    reviewer = UserFactory(username="rev")
    user_role_set(user=reviewer, role=REVIEWER)
    adjudication_decide(benchmark=benchmark, pair_id=pairs[0].id, reviewer=reviewer, action="set_grade", grade=1)
    adjudication_decide(benchmark=benchmark, pair_id=pairs[5].id, reviewer=reviewer, action="ambiguous")
    teacher = LabelerFactory(name="teacher-x", role=Labeler.Role.TEACHER)
    previous = Run.objects.create(name="first", corpus=corpus, benchmark=benchmark, status=Run.Status.SUCCEEDED,
                                  config=config_merge({"teacher": teacher.name, "train": {"epochs": 3}}))
    return SimpleNamespace(corpus=corpus, pairs=pairs, benchmark=benchmark, teacher=teacher, previous=previous,
                           reviewer=reviewer)


@pytest.mark.django_db
def test_the_next_round_copies_the_run_and_the_decisions(reviewed):
    run = run_next_round(previous=reviewed.previous, enqueue=False)
    assert (run.name, run.corpus, run.benchmark, run.status) == (
        "first · round 2", reviewed.corpus, reviewed.benchmark, "queued")
    assert run.config["train"]["epochs"] == 3 and run.config["teacher"] == "teacher-x"
    assert run.config["next_round"] == {"previous_run": reviewed.previous.id, "round": 2, "base_name": "first"}
    assert run.config["adjudicated"] == {"benchmark": "bench", "grades": [[reviewed.pairs[0].id, 1]],
                                         "ambiguous": [reviewed.pairs[5].id]}
    run.status = Run.Status.SUCCEEDED
    run.save()
    assert run_next_round(previous=run, enqueue=False).name == "first · round 3"


@pytest.mark.django_db
def test_only_a_succeeded_run_with_a_benchmark_has_a_next_round(reviewed):
    reviewed.previous.status = Run.Status.FAILED
    with pytest.raises(ValueError, match="succeeded"):
        run_next_round(previous=reviewed.previous, enqueue=False)
    lone = Run.objects.create(name="lone", corpus=reviewed.corpus, status=Run.Status.SUCCEEDED)
    with pytest.raises(ValueError, match="no benchmark"):
        run_next_round(previous=lone, enqueue=False)


@pytest.mark.django_db
def test_training_uses_the_reviewers_grade_in_place_of_the_teachers(reviewed, monkeypatch, settings, tmp_path):
    settings.MODEL_DIR = tmp_path
    run = run_next_round(previous=reviewed.previous, enqueue=False)
    # The run's own (synthetic) pairs, labeled by the teacher; one of them is also a decided
    # benchmark pair, and one an ambiguous one.
    own = [PairFactory(query=QueryFactory(corpus=reviewed.corpus, batch=run_batch(run), external_id=f"s{i}"))
           for i in range(6)]
    for pair in own:
        ModelLabelFactory(pair=pair, labeler=reviewed.teacher, grade=2, distribution=[0.1, 0.2, 0.6, 0.1])
    Query.objects.filter(id__in=[reviewed.pairs[i].query_id for i in (0, 5)]).update(batch=run_batch(run))
    for i in (0, 5):
        ModelLabelFactory(pair=reviewed.pairs[i], labeler=reviewed.teacher, grade=3, distribution=one_hot(3))
    # decided after the launch: not in this round
    decided = adjudication_decide(benchmark=reviewed.benchmark, pair_id=reviewed.pairs[3].id,
                                  reviewer=reviewed.reviewer, action="set_grade", grade=0)
    assert decided.after_grade == 0

    seen = {}

    def fake_train(*, examples, validation, **kwargs):
        seen.update(examples=examples, validation=validation)
        return SimpleNamespace(metrics={}, seconds=0.0)

    monkeypatch.setattr("distill.services.stages.student_model_train", fake_train)
    student_train(run)

    targets = {e.pair.pair_id: e.distribution for e in seen["examples"] + seen["validation"]}
    assert targets[reviewed.pairs[0].id] == one_hot(1)  # the reviewer's grade, not the teacher's 3
    assert reviewed.pairs[5].id not in targets  # ambiguous: out of training
    assert reviewed.pairs[3].id not in targets  # decided after the launch
    assert all(targets[p.id] == pytest.approx([0.1, 0.2, 0.6, 0.1]) for p in own)  # the teacher's elsewhere
    run.refresh_from_db()
    assert (run.metrics["train"]["from_reviewers"], run.metrics["train"]["ambiguous_dropped"]) == (1, 1)


@pytest.mark.django_db
def test_decided_pairs_the_teacher_never_saw_are_always_trained_on(reviewed):
    run = run_next_round(previous=reviewed.previous, enqueue=False)
    own = PairFactory(query=QueryFactory(corpus=reviewed.corpus, batch=run_batch(run)))
    targets = training_targets(run=run, teacher_labels=[(own.id, own.query_id, [0.0, 0.5, 0.5, 0.0])])
    assert targets.run_pairs == [(own.id, own.query_id, [0.0, 0.5, 0.5, 0.0])]
    assert targets.reviewed == [(reviewed.pairs[0].id, reviewed.pairs[0].query_id, 1)]
    assert (targets.from_reviewers, targets.ambiguous_dropped) == (1, 0)
    plain = Run.objects.create(name="plain", corpus=reviewed.corpus, config=config_merge({}))
    targets = training_targets(run=plain, teacher_labels=[(own.id, own.query_id, 2)])
    assert targets.run_pairs == [(own.id, own.query_id, 2)]


@pytest.mark.django_db
def test_the_report_shows_the_agreement_before_and_after(reviewed, client):
    run = run_next_round(previous=reviewed.previous, enqueue=False)
    for name, grades in ((student_name(reviewed.previous.id), BEFORE), (student_name(run.id), AFTER),
                         (reviewed.teacher.name, HUMAN)):
        labeler = LabelerFactory(name=name)
        for pair, grade in zip(reviewed.pairs, grades, strict=True):
            ModelLabelFactory(pair=pair, labeler=labeler, grade=grade, expected_grade=grade,
                              distribution=one_hot(grade))

    student_evaluate(run)

    evaluation = Run.objects.get(id=run.id).metrics["evaluate"]
    assert evaluation["judged_pairs"] == 5  # pair 5 is ambiguous: out of scoring
    assert evaluation["student"]["accuracy"] == pytest.approx(4 / 5)  # pair 0 scored against the reviewer's 1
    rounds = evaluation["rounds"]
    assert rounds["previous_run"] == reviewed.previous.id
    assert (rounds["all"]["pairs"], rounds["all"]["before"]["accuracy"], rounds["all"]["after"]["accuracy"]) == (
        5, pytest.approx(2 / 5), pytest.approx(4 / 5))
    undecided = rounds["undecided"]  # pairs 1-4: the new student did not train on them
    assert (undecided["pairs"], undecided["before"]["accuracy"], undecided["after"]["accuracy"]) == (
        4, pytest.approx(2 / 4), pytest.approx(3 / 4))

    admin = UserFactory(username="boss")
    user_role_set(user=admin, role=ADMIN)
    client.force_login(admin)
    page = client.get(reverse("distill:run_detail", args=[run.id])).content.decode()
    assert "Before and after review" in page and "not decided by reviewers" in page
    assert "0.400" in page and "0.800" in page and "0.750" in page


@pytest.mark.django_db
def test_the_next_round_button_launches_a_run_for_admins_only(reviewed, client):
    client.force_login(reviewed.reviewer)
    response = client.post(reverse("distill:run_next_round", args=[reviewed.previous.id]))
    assert response.status_code in (302, 403) and Run.objects.count() == 1
    admin = UserFactory(username="boss")
    user_role_set(user=admin, role=ADMIN)
    client.force_login(admin)
    page = client.get(reverse("distill:run_detail", args=[reviewed.previous.id])).content.decode()
    assert reverse("distill:run_next_round", args=[reviewed.previous.id]) in page
    response = client.post(reverse("distill:run_next_round", args=[reviewed.previous.id]))
    run = Run.objects.exclude(id=reviewed.previous.id).get()
    assert response["Location"] == reverse("distill:run_detail", args=[run.id])
    assert run.config["adjudicated"]["grades"] == [[reviewed.pairs[0].id, 1]] and run.created_by == admin
