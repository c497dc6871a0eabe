"""The anchored student as a labeling job: anchors stratified over the student's scores, graded by
the teacher through its backend, per-query thresholds from them, every pair labeled once with its
source and anchor set, resumable, and gated by the promotion verdict.

The teacher is a recorded run (a real backend over a run file). The student's scores are its own
stored labels (what a job reuses instead of grading again), except where a test says otherwise."""

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from labeling.models import AnchorSet, Labeler, LabelingJob, ModelLabel
from labeling.services.anchored import AnchoredConfig, anchored_labeler_create, student_scale_labels
from labeling.services.labeling_jobs import labeling_job_create, labeling_job_run
from labeling.services.promotion import NotPromoted, promotion_record
from tests.factories import LabelerFactory, ModelLabelFactory, PairFactory, QueryFactory

N = 40


def teacher_low(i: int) -> int:  # a query with little relevant: 30 zeros, then ones
    return 0 if i < 30 else 1


def teacher_high(i: int) -> int:  # a query with much relevant
    return 1 if i < 10 else 2 if i < 20 else 3


@pytest.fixture
def setup(db, tmp_path):
    """Two queries whose pairs the student scores alike (0..3 in the same steps); the teacher
    grades one low and one high. Pair i of each query is the student's i-th lowest."""
    student = LabelerFactory(name="student", role=Labeler.Role.STUDENT, backend=Labeler.Backend.CROSS_ENCODER)
    lines, pairs = [], {}
    for name, grade_of in (("low", teacher_low), ("high", teacher_high)):
        query = QueryFactory(external_id=name)
        pairs[name] = [PairFactory(query=query) for _ in range(N)]
        for i, pair in enumerate(pairs[name]):
            expected = 3 * i / (N - 1)
            ModelLabelFactory(pair=pair, labeler=student, grade=round(expected), expected_grade=expected)
            lines.append(f"{name} 0 {pair.document.external_id} {grade_of(i)}")
    run = tmp_path / "teacher.txt"
    run.write_text("\n".join(lines) + "\n")
    teacher = LabelerFactory(name="teacher", params={"run_file": str(run), "price_per_million_input_tokens": 1.0})
    return student, teacher, pairs


def _run(labeler, scope=None, **kwargs):
    job = labeling_job_create(labeler=labeler, scope=scope or {"query__external_id__in": ["low", "high"]},
                              enqueue=False, gated=False, **kwargs)
    return labeling_job_run(job_id=job.id)


def test_anchors_set_each_query_scale_and_keep_the_teacher_grade(setup):
    student, teacher, pairs = setup
    anchored = anchored_labeler_create(name="anchored", student=student, teacher=teacher, anchors_per_query=8,
                                       prior_weight=0)
    job = _run(anchored)
    assert job.status == LabelingJob.Status.SUCCEEDED and job.done == job.total == 2 * N

    labels = {label.pair_id: label for label in ModelLabel.objects.filter(labeler=anchored)}
    assert len(labels) == 2 * N
    for name, grade_of in (("low", teacher_low), ("high", teacher_high)):
        grades = [labels[p.id].grade for p in pairs[name]]
        assert grades == sorted(grades)  # the student's order
        truth = [grade_of(i) for i in range(N)]
        assert sum(g == t for g, t in zip(grades, truth, strict=True)) >= N - 4  # the teacher's scale
        anchor_set = AnchorSet.objects.get(labeler=anchored, query__external_id=name)
        assert len(anchor_set.anchors) == 8 and anchor_set.pairs == N and len(anchor_set.thresholds) == 3
        for pair_id, _, teacher_grade in anchor_set.anchors:
            assert labels[pair_id].source == ModelLabel.Source.ANCHOR and labels[pair_id].grade == teacher_grade
        assert {labels[p.id].anchor_set_id for p in pairs[name]} == {anchor_set.id}
    # The same student scores, two scales: the low query's top pair is a 1, the high one's a 3.
    assert labels[pairs["low"][-1].id].grade == 1 and labels[pairs["high"][-1].id].grade == 3
    assert ModelLabel.objects.filter(labeler=anchored, source=ModelLabel.Source.MODEL).count() == 2 * N - 16

    # The teacher graded the anchors alone, through its backend, and the job counted them.
    assert ModelLabel.objects.filter(labeler=teacher).count() == 16
    assert job.parts["teacher"]["pairs"] == 16 and job.parts["teacher"]["labeler"] == "teacher"
    assert job.parts["student"]["pairs"] == 0  # its labels were there already


def test_a_student_label_keeps_its_order_within_its_grade():
    labels = student_scale_labels([0.1, 0.5, 0.2, 0.9, 0.8], [0.3, 0.85, 10.0])
    assert [label.grade for label in labels] == [0, 1, 0, 2, 1]
    expected = [label.expected_grade for label in labels]
    assert np.argsort(expected).tolist() == [0, 2, 1, 4, 3]
    for label in labels:
        assert round(label.expected_grade) == label.grade
        assert sum(label.distribution) == pytest.approx(1)
        assert label.expected_grade == pytest.approx(np.dot(label.distribution, range(4)), abs=1e-5)


def test_deferred_pairs_are_the_teachers_nearest_a_threshold(setup):
    student, teacher, pairs = setup
    anchored = anchored_labeler_create(name="deferring", student=student, teacher=teacher, anchors_per_query=4,
                                       defer_share=0.1)
    job = _run(anchored, scope={"query__external_id": "high"})
    anchor_set = AnchorSet.objects.get(labeler=anchored)
    assert len(anchor_set.deferred) == 4
    deferred = ModelLabel.objects.filter(labeler=anchored, source=ModelLabel.Source.DEFERRED)
    assert sorted(deferred.values_list("pair_id", flat=True)) == sorted(row[0] for row in anchor_set.deferred)
    index = {p.id: i for i, p in enumerate(pairs["high"])}
    for label in deferred:
        assert label.grade == teacher_high(index[label.pair_id])
    assert job.parts["teacher"]["pairs"] == 8


def test_a_killed_job_resumes_without_grading_or_labeling_twice(setup, tmp_path):
    student, teacher, pairs = setup
    anchored = anchored_labeler_create(name="resumed", student=student, teacher=teacher, anchors_per_query=5)
    # The teacher's run lacks the high query: the job fails after the low query is done.
    low_only = tmp_path / "low.txt"
    low_only.write_text("".join(f"low 0 {p.document.external_id} {teacher_low(i)}\n"
                                for i, p in enumerate(pairs["low"])))
    Labeler.objects.filter(id=teacher.id).update(params={"run_file": str(low_only)})
    job = labeling_job_create(labeler=anchored, scope={"query__external_id__in": ["low", "high"]}, batch_size=N,
                              enqueue=False, gated=False)
    with pytest.raises(KeyError):
        labeling_job_run(job_id=job.id)
    job.refresh_from_db()
    assert job.status == LabelingJob.Status.FAILED and job.done == N
    assert ModelLabel.objects.filter(labeler=teacher).count() == 5

    Labeler.objects.filter(id=teacher.id).update(params=teacher.params)
    job = labeling_job_run(job_id=job.id)
    assert job.status == LabelingJob.Status.SUCCEEDED and job.done == 2 * N
    assert ModelLabel.objects.filter(labeler=anchored).count() == 2 * N
    assert ModelLabel.objects.filter(labeler=teacher).count() == 10  # each anchor graded once
    assert AnchorSet.objects.filter(labeler=anchored).count() == 2


def test_the_student_grades_what_it_has_not_graded(db, tmp_path):
    """A student without labels is run through its backend first (here a recorded run)."""
    query = QueryFactory(external_id="q")
    pairs = [PairFactory(query=query) for _ in range(12)]
    for name, grade_of in (("student", lambda i: i % 4), ("teacher", lambda i: min(3, i // 3))):
        (tmp_path / name).write_text("".join(f"q 0 {p.document.external_id} {grade_of(i)}\n"
                                             for i, p in enumerate(pairs)))
    student = LabelerFactory(name="s", role=Labeler.Role.STUDENT, params={"run_file": str(tmp_path / "student")})
    teacher = LabelerFactory(name="t", params={"run_file": str(tmp_path / "teacher")})
    anchored = anchored_labeler_create(name="a", student=student, teacher=teacher, anchor_share=0.25)
    job = _run(anchored, scope={"query__external_id": "q"})
    assert job.done == 12 and job.parts["student"]["pairs"] == 12 and job.parts["teacher"]["pairs"] == 3
    assert ModelLabel.objects.filter(labeler=student).count() == 12


@pytest.mark.parametrize("params, message", [
    ({"teacher": "t"}, "needs 'student'"),
    ({"student": "s", "teacher": "t", "anchors_per_query": 0}, "anchors_per_query must be"),
    ({"student": "s", "teacher": "t", "anchors_per_query": "10"}, "anchors_per_query must be"),
    ({"student": "s", "teacher": "t", "anchor_share": 1.5}, "anchor_share must be"),
    ({"student": "s", "teacher": "t", "defer_share": 1}, "defer_share must be"),
    ({"student": "s", "teacher": "t", "anchors": 3}, "unknown anchored labeler params: anchors"),
])
def test_bad_params_are_refused_with_the_reason(params, message):
    with pytest.raises(ValueError, match=message):
        AnchoredConfig.from_params(params)


def test_label_refuses_an_unpromoted_student_unless_forced(setup):
    student, teacher, pairs = setup
    anchored = anchored_labeler_create(name="gated", student=student, teacher=teacher, anchors_per_query=4)
    with pytest.raises(NotPromoted, match="no evaluation has promoted"):
        labeling_job_create(labeler=anchored, scope={"query__external_id": "low"}, enqueue=False)
    promotion_record(labeler=anchored, passed=False, reason="alpha 0.21 is 0.12 below the teacher's", by="run 4")
    with pytest.raises(CommandError, match=r"did not pass its promotion gate \(run 4\): alpha 0.21"):
        call_command("label", labeler="gated", corpus=pairs["low"][0].query.corpus.name)
    call_command("label", labeler="gated", corpus=pairs["low"][0].query.corpus.name, force=True)
    assert ModelLabel.objects.filter(labeler=anchored).count() == N

    promotion_record(labeler=anchored, passed=True, reason="not worse than the teacher", by="run 5")
    assert labeling_job_create(labeler=anchored, scope={"query__external_id": "low"}, enqueue=False).total == N
    teacher_job = labeling_job_create(labeler=teacher, scope={"query__external_id": "low"}, enqueue=False)
    assert teacher_job.total == N  # teachers are never gated


def test_the_command_creates_an_anchored_labeler_or_says_what_is_wrong(setup):
    call_command("anchored_labeler", name="cli", student="student", teacher="teacher", anchor_share=0.1)
    labeler = Labeler.objects.get(name="cli")
    assert labeler.backend == Labeler.Backend.ANCHORED and labeler.role == Labeler.Role.STUDENT
    assert labeler.params["anchor_share"] == 0.1 and "anchors_per_query" not in labeler.params
    with pytest.raises(CommandError, match="no labeler named 'nobody'"):
        call_command("anchored_labeler", name="bad", student="nobody", teacher="teacher")
    with pytest.raises(CommandError, match="defer_share must be"):
        call_command("anchored_labeler", name="bad", student="student", teacher="teacher", defer_share=2.0)
