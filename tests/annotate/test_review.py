"""The review queue (annotate.selectors.review) and the decisions (annotate.services.review): ordering,
filters, each action, undo, the append-only audit log, and the consensus that follows."""

import json

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.db.models import ProtectedError
from django.test import RequestFactory

from annotate.models import Adjudication, ReviewDecision
from annotate.roles import REVIEWER, user_role_set
from annotate.selectors import benchmark_consensus_grades, benchmark_consensus_rows
from annotate.selectors.dashboard import benchmark_dashboard_compute
from annotate.selectors.review import ANY, adjudicated_accuracy, disagreements, pair_evidence, review_labelers
from annotate.services.review import ReviewError, adjudication_decide, adjudication_undo
from labeling.models import Pair
from tests.factories import JudgmentFactory, UserFactory


def names(review_setup, queue) -> list[str]:
    by_id = {pair.id: name for name, pair in review_setup["pairs"].items()}
    return [by_id[d.pair_id] for d in queue]


def queue(review_setup, **filters) -> list[str]:
    found = disagreements(benchmark=review_setup["benchmark"], labeler=review_setup["student"], **filters)
    return names(review_setup, found)


def decide(review_setup, name, action, **kwargs):
    s = review_setup
    return adjudication_decide(benchmark=s["benchmark"], pair_id=s["pairs"][name].id, reviewer=s["reviewer"],
                               action=action, labeler=s["student"], **kwargs)


# --- the queue -------------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_queue_puts_a_confident_model_far_from_the_people_first(review_setup):
    found = disagreements(benchmark=review_setup["benchmark"], labeler=review_setup["student"])
    # "unsure" is further from the median in expected grade (1.8 > 1.5) but less confident.
    assert names(review_setup, found) == ["far", "sure", "unsure"]
    assert [round(d.priority, 2) for d in found] == [2.61, 1.05, 0.72]
    far = found[0]
    assert (far.human_grade, far.model_grade, far.confidence) == (0, 3, 0.9)
    assert sorted(g for _, g in far.grades) == [0, 0, 1]


@pytest.mark.django_db
def test_mode_any_also_holds_pairs_where_one_annotator_disagrees(review_setup):
    ann0, ann1, _ann2 = review_setup["people"]
    # "split": median 2 = model, but 1 and 3 differ
    assert queue(review_setup, mode=ANY) == ["far", "sure", "unsure", "split"]
    # With an annotator, the disagreement is with them: ann1 gave "split" the model's grade.
    assert "split" not in queue(review_setup, mode=ANY, annotator=ann1)
    assert "split" in queue(review_setup, mode=ANY, annotator=ann0)
    with pytest.raises(ValueError):
        queue(review_setup, mode="nobody")


@pytest.mark.django_db
def test_the_queue_filters_by_query_grade_model_grade_and_annotator(review_setup):
    far = review_setup["pairs"]["far"]
    assert queue(review_setup, grade=2) == ["sure"]
    assert queue(review_setup, model_grade=1) == ["unsure"]
    by_id = queue(review_setup, query=far.query.external_id)
    assert by_id == ["far", "sure", "unsure"]  # the three in far's query (per_query=3)
    assert all(review_setup["pairs"][n].query_id == far.query_id for n in by_id)
    assert queue(review_setup, query=far.query.text.upper()) == by_id
    assert queue(review_setup, query="no such words") == []
    outsider = UserFactory(username="outsider")
    JudgmentFactory(pair=review_setup["pairs"]["unsure"], annotator=outsider, grade=3)
    assert queue(review_setup, annotator=outsider) == ["unsure"]


@pytest.mark.django_db
def test_a_decided_pair_leaves_the_queue_and_the_evidence_shows_everything(review_setup):
    decide(review_setup, "far", "keep_human")
    assert queue(review_setup) == ["sure", "unsure"]
    evidence = pair_evidence(pair_id=review_setup["pairs"]["sure"].id, labeler=review_setup["student"])
    assert [(j.annotator.username, j.grade, j.seconds, j.comment) for j in evidence.judgments] == [
        (p.username, g, 4.5, f"sure by {p.username}") for p, g in zip(review_setup["people"], [2, 2, 3], strict=True)]
    assert evidence.model.distribution == [0.7, 0.2, 0.1, 0.0]
    assert [t.labeler.name for t in evidence.teachers] == ["teacher-x"]
    assert list(review_labelers(benchmark=review_setup["benchmark"])) == [
        review_setup["student"], review_setup["teacher"]]


# --- decisions -------------------------------------------------------------------------------

@pytest.mark.django_db
def test_each_action_sets_the_consensus_and_logs_who_when_before_and_after(review_setup):
    keep = decide(review_setup, "far", "keep_human", comment="  clearly off-topic ")
    take = decide(review_setup, "sure", "take_model")
    other = decide(review_setup, "unsure", "set_grade", grade=2)
    ambiguous = decide(review_setup, "split", "ambiguous")
    rows = [(d.action, d.before_grade, d.before_ambiguous, d.after_grade, d.after_ambiguous, d.human_grade,
             d.model_grade)
            for d in (keep, take, other, ambiguous)]
    assert rows == [
        ("keep_human", 0, False, 0, False, 0, 3),
        ("take_model", 2, False, 0, False, 2, 0),
        ("set_grade", 3, False, 2, False, 3, 1),
        ("ambiguous", 2, False, None, True, 2, 2),
    ]
    assert keep.comment == "clearly off-topic" and keep.decided_by == review_setup["reviewer"] and keep.decided_at
    adjudications = {a.pair_id: (a.grade, a.ambiguous, a.decision_id) for a in Adjudication.objects.all()}
    p = review_setup["pairs"]
    assert adjudications == {p["far"].id: (0, False, keep.id), p["sure"].id: (0, False, take.id),
                             p["unsure"].id: (2, False, other.id), p["split"].id: (None, True, ambiguous.id)}

    # Deciding a decided pair again: "before" is the standing decision.
    again = decide(review_setup, "sure", "set_grade", grade=1)
    assert (again.before_grade, again.before_adjudicated, again.replaces_id, again.after_grade) == (0, True, take.id, 1)
    assert Adjudication.objects.get(pair=p["sure"]).grade == 1
    assert ReviewDecision.objects.count() == 5


@pytest.mark.django_db
def test_a_decision_is_refused_when_it_cannot_be_made(review_setup, bench_factory):
    with pytest.raises(ReviewError, match="Pick a grade"):
        decide(review_setup, "far", "set_grade", grade=7)
    with pytest.raises(ValueError):
        decide(review_setup, "far", "delete")
    other = bench_factory(name="other", n=1)
    with pytest.raises(ReviewError, match="not in this benchmark"):
        adjudication_decide(benchmark=other, pair_id=review_setup["pairs"]["far"].id, reviewer=review_setup["reviewer"],
                            action="keep_human")
    unjudged = other.items.get().pair
    with pytest.raises(ReviewError, match="Nobody graded"):
        adjudication_decide(benchmark=other, pair_id=unjudged.id, reviewer=review_setup["reviewer"],
                            action="keep_human")
    JudgmentFactory(pair=unjudged, grade=1)
    with pytest.raises(ReviewError, match="no grade"):
        adjudication_decide(benchmark=other, pair_id=unjudged.id, reviewer=review_setup["reviewer"],
                            action="take_model", labeler=review_setup["student"])
    assert not ReviewDecision.objects.exists() and not Adjudication.objects.exists()


@pytest.mark.django_db
def test_undo_steps_back_through_my_decisions_and_logs_each_undo(review_setup):
    first = decide(review_setup, "far", "keep_human")
    second = decide(review_setup, "far", "set_grade", grade=3)
    undo = adjudication_undo(benchmark=review_setup["benchmark"], reviewer=review_setup["reviewer"])
    assert (undo.action, undo.undoes_id, undo.before_grade, undo.after_grade) == ("undo", second.id, 3, 0)
    assert Adjudication.objects.get().decision_id == first.id
    undo = adjudication_undo(benchmark=review_setup["benchmark"], reviewer=review_setup["reviewer"])
    assert (undo.undoes_id, undo.after_grade, undo.after_ambiguous) == (first.id, 0, False)  # the median again
    assert not Adjudication.objects.exists()
    assert "far" in queue(review_setup)
    assert adjudication_undo(benchmark=review_setup["benchmark"], reviewer=review_setup["reviewer"]) is None
    assert list(ReviewDecision.objects.order_by("id").values_list("action", flat=True)) == [
        "keep_human", "set_grade", "undo", "undo"]


@pytest.mark.django_db
def test_undo_never_takes_back_another_reviewers_later_decision(review_setup):
    decide(review_setup, "far", "keep_human")
    colleague = UserFactory(username="rev2")
    user_role_set(user=colleague, role=REVIEWER)
    theirs = adjudication_decide(benchmark=review_setup["benchmark"], pair_id=review_setup["pairs"]["far"].id,
                                 reviewer=colleague, action="set_grade", grade=2)
    with pytest.raises(ReviewError, match="Another reviewer"):
        adjudication_undo(benchmark=review_setup["benchmark"], reviewer=review_setup["reviewer"])
    assert Adjudication.objects.get().decision == theirs and ReviewDecision.objects.count() == 2


# --- the audit log is append-only --------------------------------------------------------------

@pytest.mark.django_db
def test_the_audit_log_is_never_edited_or_deleted(review_setup):
    decision = decide(review_setup, "far", "keep_human")
    decision.comment = "rewritten"
    with pytest.raises(PermissionError):
        decision.save()
    with pytest.raises(PermissionError):
        decision.delete()
    with pytest.raises(PermissionError):
        ReviewDecision.objects.filter(pk=decision.pk).update(comment="rewritten")
    with pytest.raises(PermissionError):
        ReviewDecision.objects.all().delete()
    with pytest.raises(ProtectedError):
        Pair.objects.filter(pk=decision.pair_id).delete()  # what the log points at stays
    with pytest.raises(ProtectedError):
        review_setup["reviewer"].delete()
    assert ReviewDecision.objects.get().comment == ""

    request = RequestFactory().get("/")
    request.user = UserFactory(username="root", is_superuser=True, is_staff=True)
    for model in (ReviewDecision, Adjudication):
        model_admin = admin.site._registry[model]
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request, decision)
        assert not model_admin.has_delete_permission(request, decision)


# --- the adjudicated grade is the consensus everywhere --------------------------------------------

@pytest.mark.django_db
def test_the_adjudicated_grade_is_the_consensus_and_ambiguous_pairs_drop_out(review_setup, tmp_path):
    p = review_setup["pairs"]
    before = benchmark_consensus_grades(benchmark=review_setup["benchmark"])
    assert (before[p["far"].id], before[p["sure"].id], before[p["split"].id]) == (0, 2, 2)
    decide(review_setup, "far", "take_model")  # 3
    decide(review_setup, "split", "ambiguous")
    after = benchmark_consensus_grades(benchmark=review_setup["benchmark"])
    assert after[p["far"].id] == 3 and p["split"].id not in after and after[p["sure"].id] == 2
    assert len(after) == len(before) - 1
    rows = {(r["qid"], r["docid"]): r for r in benchmark_consensus_rows(benchmark=review_setup["benchmark"])}
    far_key = (p["far"].query.external_id, p["far"].document.external_id)
    assert rows[far_key] == {"qid": far_key[0], "docid": far_key[1], "grade": 3, "judgments": 3}
    out = tmp_path / "consensus.jsonl"
    call_command("export_qrels", consensus=review_setup["benchmark"].name, out=str(out), format="jsonl")
    exported = {(r["qid"], r["docid"]): r["grade"] for r in map(json.loads, out.read_text().splitlines())}
    assert exported[far_key] == 3 and (p["split"].query.external_id, p["split"].document.external_id) not in exported


@pytest.mark.django_db
def test_annotators_accuracy_against_adjudicated_grades_reaches_the_dashboard(review_setup):
    ann0, ann1, ann2 = review_setup["people"]
    decide(review_setup, "far", "set_grade", grade=1)  # people 0, 0, 1
    decide(review_setup, "sure", "set_grade", grade=3)  # people 2, 2, 3
    decide(review_setup, "split", "ambiguous")  # not counted
    accuracy = adjudicated_accuracy(benchmark=review_setup["benchmark"])
    assert {a: (r.graded, r.exact, r.within_one) for a, r in accuracy.items()} == {
        ann0.id: (2, 0, 2), ann1.id: (2, 0, 2), ann2.id: (2, 2, 2)}
    rows = {r["username"]: r for r in benchmark_dashboard_compute(benchmark=review_setup["benchmark"])["annotators"]}
    assert (rows[ann2.username]["adjudicated_graded"], rows[ann2.username]["adjudicated_accuracy"]) == (2, 1.0)
    assert rows[ann0.username]["adjudicated_accuracy"] == 0.0
