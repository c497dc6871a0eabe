"""An ensemble of teachers: members graded through their own backends (recorded runs here),
combined by mean or majority with a tie rule; usable as a job's labeler and as the teacher of
an anchored student."""

import pytest

from labeling.labelers import backend_for
from labeling.labelers.base import PairInput, one_hot
from labeling.labelers.ensemble import EnsembleBackend
from labeling.labelers.recorded import RecordedBackend
from labeling.models import Labeler, ModelLabel
from labeling.services.anchored import anchored_labeler_create
from labeling.services.labeling_jobs import labeling_job_create, labeling_job_run
from tests.factories import LabelerFactory, ModelLabelFactory, PairFactory, QueryFactory

PAIRS = [PairInput(query="q", text=f"d{i}", query_id="q", document_id=f"d{i}") for i in range(4)]


def recorded(grades):
    return RecordedBackend({("q", f"d{i}"): g for i, g in enumerate(grades)})


def test_the_mean_of_two_judges_grades_the_lower_on_a_tie_or_the_higher():
    judges = {"strict": recorded([0, 1, 2, 3]), "lenient": recorded([0, 3, 3, 3])}
    lower = EnsembleBackend(judges, combine="mean", tie="lower").label(PAIRS)
    assert [label.grade for label in lower] == [0, 1, 2, 3]
    assert [label.expected_grade for label in lower] == [0.0, 2.0, 2.5, 3.0]
    assert lower[1].distribution == [0.0, 0.5, 0.0, 0.5] and lower[1].extra == {"members": [1, 3]}
    higher = EnsembleBackend(judges, combine="mean", tie="higher").label(PAIRS)
    assert [label.grade for label in higher] == [0, 3, 3, 3]


def test_the_expected_grade_rounded_down_sits_between_two_judges_far_apart():
    judges = {"strict": recorded([0, 0, 1, 3]), "lenient": recorded([3, 1, 3, 3])}
    down = EnsembleBackend(judges, combine="expected", tie="lower").label(PAIRS)
    assert [label.grade for label in down] == [1, 0, 2, 3]
    up = EnsembleBackend(judges, combine="expected", tie="higher").label(PAIRS)
    assert [label.grade for label in up] == [2, 1, 2, 3]


def test_a_majority_of_three_outvotes_one():
    judges = {"a": recorded([0, 1, 2, 3]), "b": recorded([0, 1, 0, 3]), "c": recorded([2, 3, 0, 1])}
    labels = EnsembleBackend(judges, combine="majority").label(PAIRS)
    assert [label.grade for label in labels] == [0, 1, 0, 3]
    assert labels[0].distribution == pytest.approx([2 / 3, 0, 1 / 3, 0], abs=1e-6)


def test_bad_ensembles_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="two members"):
        EnsembleBackend({"a": recorded([0, 0, 0, 0])})
    with pytest.raises(ValueError, match="combine is one of"):
        EnsembleBackend({"a": recorded([0] * 4), "b": recorded([0] * 4)}, combine="median")


@pytest.mark.django_db
def test_an_ensemble_labeler_labels_a_job_and_anchors_a_student(tmp_path):
    query = QueryFactory(external_id="q1")
    pairs = [PairFactory(query=query) for _ in range(12)]
    members = []
    for name, grade_of in (("llama", lambda i: min(3, i // 3 + 1)), ("flan", lambda i: i // 3)):
        run = tmp_path / name
        run.write_text("".join(f"q1 0 {p.document.external_id} {grade_of(i)}\n" for i, p in enumerate(pairs)))
        members.append(LabelerFactory(name=name, params={"run_file": str(run)}))
    ensemble = Labeler.objects.create(name="both", role=Labeler.Role.TEACHER, backend=Labeler.Backend.ENSEMBLE,
                                      params={"members": ["llama", "flan"], "combine": "mean", "tie": "lower"})
    job = labeling_job_run(job_id=labeling_job_create(labeler=ensemble, scope={"query": query.id},
                                                      enqueue=False).id)
    assert job.done == 12
    grades = list(ModelLabel.objects.filter(labeler=ensemble).order_by("pair_id").values_list("grade", flat=True))
    assert grades == [i // 3 for i in range(12)]  # the stricter judge wherever they differ

    student = LabelerFactory(name="student", role=Labeler.Role.STUDENT, backend=Labeler.Backend.CROSS_ENCODER)
    for i, pair in enumerate(pairs):
        ModelLabelFactory(pair=pair, labeler=student, grade=0, expected_grade=i / 12,
                          distribution=one_hot(0).distribution)
    anchored = anchored_labeler_create(name="anchored", student=student, teacher=ensemble, anchors_per_query=3)
    ModelLabel.objects.filter(labeler=ensemble).delete()  # the anchors are graded afresh, by both members
    labeling_job_run(job_id=labeling_job_create(labeler=anchored, scope={"query": query.id}, enqueue=False,
                                                gated=False).id)
    assert ModelLabel.objects.filter(labeler=ensemble).count() == 3
    assert ModelLabel.objects.filter(labeler=anchored, source=ModelLabel.Source.ANCHOR).count() == 3


@pytest.mark.django_db
def test_an_ensemble_names_existing_teachers():
    LabelerFactory(name="one")
    for params, message in (({"members": "one"}, "a list of labeler names"), ({"members": ["one", "two"]},
                                                                               "no labeler named 'two'")):
        labeler = Labeler.objects.create(name=f"e{len(message)}", role=Labeler.Role.TEACHER,
                                         backend=Labeler.Backend.ENSEMBLE, params=params)
        with pytest.raises(ValueError, match=message):
            backend_for(labeler)
