"""The frontier and the promotion gate in a run's evaluate stage: the student alone and anchored
with a share of each query's pairs graded by the teacher, against the people's consensus, with
bootstrap intervals; verdicts recorded on the labelers; the run page shows the plot and the gate.

The student's and teacher's grades are stored labels (no model is loaded); the anchored labelers
run their real labeling jobs over them."""

from types import SimpleNamespace

import numpy as np
import pytest
from django.urls import reverse

from annotate.models import Benchmark
from annotate.roles import ADMIN, user_role_set
from annotate.services import benchmark_items_add
from distill.config import config_merge, student_name
from distill.frontier import FrontierConfig, frontier_recommended, gate_verdict
from distill.models import Run
from distill.services.stages import student_evaluate
from labeling.models import Labeler, ModelLabel
from labeling.services.promotion import promotion_refusal
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

QUERIES, PAIRS = 6, 20
SHIFTS = [-2.0, -1.0, 0.0, 1.0, 2.0, 2.5]  # the student's level drifts from query to query


def one_hot(grade: int) -> list[float]:
    return [float(g == grade) for g in range(4)]


def evaluated_run(*, margin=0.05, **evaluate):
    """A benchmark the people graded; a teacher that mostly agrees with them; a student that ranks
    each query's pairs right but at a level that drifts per query."""
    rng = np.random.default_rng(7)
    corpus = CorpusFactory(name="c")
    benchmark = Benchmark.objects.create(name="bench")
    teacher = LabelerFactory(name="teacher", role=Labeler.Role.TEACHER)
    run = Run.objects.create(name="r", corpus=corpus, benchmark=benchmark, status=Run.Status.RUNNING,
                             config=config_merge({"teacher": teacher.name, "evaluate": {"margin": margin,
                                                                                          "resamples": 300,
                                                                                          **evaluate}}))
    student = LabelerFactory(name=student_name(run.id), role=Labeler.Role.STUDENT)
    people = [UserFactory(username="ann1"), UserFactory(username="ann2")]
    pairs = []
    for q in range(QUERIES):
        query = QueryFactory(corpus=corpus, external_id=f"q{q}")
        for i in range(PAIRS):
            pair = PairFactory(query=query, document=DocumentFactory(corpus=corpus))
            pairs.append(pair)
            human = min(3, i * 4 // PAIRS)
            for person in people:
                JudgmentFactory(pair=pair, annotator=person, grade=human)
            noisy = human if rng.random() < 0.85 else int(rng.integers(0, 4))
            ModelLabelFactory(pair=pair, labeler=teacher, grade=noisy, expected_grade=noisy,
                              distribution=one_hot(noisy))
            score = human + SHIFTS[q] + rng.normal(0, 0.3)
            ModelLabelFactory(pair=pair, labeler=student, grade=int(np.clip(round(score), 0, 3)),
                              expected_grade=score, distribution=one_hot(int(np.clip(round(score), 0, 3))))
    benchmark_items_add(benchmark=benchmark, pair_ids=[p.id for p in pairs])
    return SimpleNamespace(run=run, teacher=teacher, student=student, pairs=pairs)


@pytest.mark.django_db
def test_the_evaluate_stage_measures_the_frontier_and_records_the_gate():
    setup = evaluated_run()
    student_evaluate(setup.run)
    evaluation = Run.objects.get(id=setup.run.id).metrics["evaluate"]
    frontier = evaluation["frontier"]
    assert [round(e["teacher_share"], 2) for e in frontier] == [0.0, 0.05, 0.1, 0.2]  # 1, 2, 4 anchors of 20
    assert frontier[0]["labeler"] == setup.student.name
    assert frontier[0]["alpha_ordinal"] == pytest.approx(evaluation["student"]["alpha_ordinal"])
    for entry in frontier:
        assert entry["teacher"]["alpha_ordinal"] == pytest.approx(evaluation["teacher"]["alpha_ordinal"])
        assert entry["alpha_ci"][0] <= entry["alpha_ordinal"] <= entry["alpha_ci"][1]
        assert entry["pairs"] == QUERIES * PAIRS
    # Anchors undo the drift: the more teacher grades, the closer to the people.
    alphas = [entry["alpha_ordinal"] for entry in frontier]
    assert alphas == sorted(alphas) and alphas[-1] > alphas[0] + 0.2

    for entry in frontier:
        labeler = Labeler.objects.get(name=entry["labeler"])
        assert labeler.promotion["passed"] == entry["gate"]["passed"]
        assert labeler.promotion["by"].startswith(f"run {setup.run.id} on bench")
        assert (promotion_refusal(labeler) is None) == entry["gate"]["passed"]
        if entry["teacher_share"]:
            teacher_graded = ModelLabel.objects.filter(labeler=labeler).exclude(source=ModelLabel.Source.MODEL)
            assert teacher_graded.count() == round(entry["teacher_share"] * QUERIES * PAIRS)
    recommended = frontier_recommended(frontier)
    assert evaluation["gate"]["promoted"] == (recommended["labeler"] if recommended else None)


@pytest.mark.django_db
def test_deferred_pairs_add_to_the_teacher_share():
    setup = evaluated_run(anchor_shares=[0.1], defer_shares=[0.0, 0.1])
    student_evaluate(setup.run)
    frontier = Run.objects.get(id=setup.run.id).metrics["evaluate"]["frontier"]
    assert [(e["anchor_share"], e["defer_share"], round(e["teacher_share"], 2)) for e in frontier] == [
        (None, 0.0, 0.0), (0.1, 0.0, 0.1), (0.1, 0.1, 0.2)]
    deferring = Labeler.objects.get(name=frontier[2]["labeler"])
    deferred = ModelLabel.objects.filter(labeler=deferring, source=ModelLabel.Source.DEFERRED)
    assert deferred.count() == QUERIES * 2


@pytest.mark.django_db
def test_the_run_page_shows_the_frontier_and_the_verdict(client):
    setup = evaluated_run(margin=1.0)  # a margin that passes every budget
    student_evaluate(setup.run)
    admin = UserFactory(username="boss")
    user_role_set(user=admin, role=ADMIN)
    client.force_login(admin)
    page = client.get(reverse("distill:run_detail", args=[setup.run.id])).content.decode()
    assert "The frontier" in page and page.count('class="chart frontier"') == 2
    assert f"Promoted: <code>{setup.student.name}</code>" in page  # the fewest teacher calls that pass
    for entry in Run.objects.get(id=setup.run.id).metrics["evaluate"]["frontier"]:
        assert entry["labeler"] in page and entry["gate"]["passed"]


def _entry(alpha_diff, kappa_diff):
    return {"alpha_ordinal": 0.40, "quadratic_kappa": 0.45, "teacher_share": 0.05, "alpha_diff_ci": alpha_diff,
            "quadratic_kappa_diff_ci": kappa_diff, "teacher": {"alpha_ordinal": 0.42, "quadratic_kappa": 0.46}}


def test_the_gate_is_non_inferiority_on_both_figures():
    assert gate_verdict(_entry([-0.04, 0.02], [-0.01, 0.03]), margin=0.05)["passed"]
    failed = gate_verdict(_entry([-0.08, 0.02], [-0.01, 0.03]), margin=0.05)
    assert not failed["passed"] and "α 0.400 vs the teacher's 0.420" in failed["reason"] and "κ" not in failed["reason"]
    assert not gate_verdict(_entry([-0.04, 0.02], [-0.06, 0.03]), margin=0.05)["passed"]
    assert not gate_verdict(_entry([float("nan"), 0.02], [-0.01, 0.03]), margin=0.05)["passed"]


def test_frontier_settings_are_checked():
    assert FrontierConfig.from_dict({"anchors_per_query": [0, 5], "anchor_shares": [0.1]}).budgets() == [
        {}, {"anchors_per_query": 5, "defer_share": 0.0}, {"anchor_share": 0.1, "defer_share": 0.0}]
    assert FrontierConfig.from_dict({"anchors_per_query": [5], "defer_shares": [0, 0.05]}).budgets() == [
        {}, {"anchors_per_query": 5, "defer_share": 0}, {"anchors_per_query": 5, "defer_share": 0.05}]
    for bad in ({"anchors_per_query": [-1]}, {"anchor_shares": [2]}, {"margin": -0.1}, {"resamples": 5},
                {"budget": 3}, {"defer_shares": [1.0]}, {"defer_shares": []}):
        with pytest.raises(ValueError):
            FrontierConfig.from_dict(bad)
