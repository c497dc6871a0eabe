"""The DL19 reproduction command end to end, on a reduced configuration of the real files:
few training queries and pairs, one epoch, short inputs."""

import json
from collections import defaultdict

import pytest
from django.core.management import call_command

from distill.dl19 import TRAINING_PAIRS_FILE, dl19_import, dl19_splits
from labeling.models import Labeler, ModelLabel

pytestmark = pytest.mark.django_db

METRICS = ["accuracy", "kappa", "linear_kappa", "quadratic_kappa", "alpha_ordinal", "ndcg@10", "pairwise_accuracy"]
REDUCED = [
    "--max-train-queries", "3", "--max-train-pairs-per-query", "12",
    "--max-test-queries", "2", "--max-test-pairs-per-query", "15",
    "--params", json.dumps({"epochs": 1, "max_length": 64, "batch_size": 12, "pairs_per_query": 6,
                            "calibration_pairs": 48}),
]


def run_file(path) -> dict[tuple[str, str], int]:
    grades = {}
    for line in path.read_text().splitlines():
        qid, _, docid, grade = line.split()
        grades[qid, docid] = int(grade)
    return grades


def test_splits_are_by_query_and_deterministic():
    judged = ["1133167", "19335", "47923", "87181", "87452", "104861"]
    folds = dl19_splits(judged=judged)
    assert [f.name for f in folds] == ["fold1", "fold2"]
    assert folds[0].test == ["19335", "87181", "104861"] and folds[1].test == ["47923", "87452", "1133167"]
    for fold in folds:
        assert set(fold.train).isdisjoint(fold.test) and set(fold.train) | set(fold.test) == set(judged)
    assert dl19_splits(judged=list(reversed(judged))) == folds
    (heldout,) = dl19_splits(judged=judged, test_queries=["47923", "999"])  # unjudged ids are ignored
    assert heldout.test == ["47923"] and "47923" not in heldout.train and len(heldout.train) == 5


def test_import_is_idempotent(dl19_dir):
    first = dl19_import(data=dl19_dir, teacher_run="run-llama3-70b-4prompts.txt", corpus="dl19", annotator="nist")
    again = dl19_import(data=dl19_dir, teacher_run="run-llama3-70b-4prompts.txt", corpus="dl19", annotator="nist")
    assert first["teacher"] == again["teacher"] == "llama3-70b-4prompts"
    assert all(", 0 new" in line for line in again["imports"])
    assert Labeler.objects.get(name="llama3-70b-4prompts").role == Labeler.Role.RECORDED
    assert ModelLabel.objects.filter(labeler__name="llama3-70b-4prompts").count() == 9260


@pytest.mark.slow
def test_two_fold_reproduction(dl19_dir, tmp_path, settings):
    settings.MODEL_DIR = tmp_path / "models"
    out = tmp_path / "dl19.json"
    call_command("dl19_distill", "--data", str(dl19_dir), "--teacher-run", "run-llama3-70b-4prompts.txt",
                 "--json", str(out), *REDUCED)
    report = json.loads(out.read_text())

    # The structure: the mean at the top, each fold below it.
    assert {"test_pairs", "teacher", "student", "student_pairs_per_s", "train_seconds", "folds"} <= report.keys()
    assert len(report["folds"]) == 2
    for part in (report, *report["folds"]):
        for role in ("teacher", "student"):
            assert set(METRICS) <= part[role].keys()
            assert all(part[role][key] is None or -1 <= part[role][key] <= 1 for key in METRICS)
        assert part["student_pairs_per_s"] > 0 and part["train_seconds"] > 0
    assert report["test_pairs"] == sum(fold["test_pairs"] for fold in report["folds"]) == 2 * 2 * 15
    assert report["student"]["n_pairs"] == report["teacher"]["n_pairs"] == report["test_pairs"]

    teacher = run_file(dl19_dir / "run-llama3-70b-4prompts.txt")
    nist = run_file(dl19_dir / "qrels-nist.txt")
    all_test = set()
    for fold in report["folds"]:
        train_side = set(fold["train_queries"])
        test = set(fold["test_queries"])
        all_test |= test
        # Training (and validation) queries and test queries are disjoint.
        assert train_side.isdisjoint(test) and len(train_side) == 3
        assert set(fold["validation_queries"]) <= train_side

        # Teacher and student are scored on exactly the same pairs: the fold's test pairs.
        student = Labeler.objects.get(name=fold["student_labeler"])
        assert student.role == Labeler.Role.STUDENT and student.backend == Labeler.Backend.CROSS_ENCODER
        assert student.model_ref == fold["model_dir"]
        student_pairs = set(ModelLabel.objects.filter(labeler=student).values_list("pair_id", flat=True))
        assert len(student_pairs) == fold["test_pairs"]
        labeled = ModelLabel.objects.filter(labeler=student).values_list("pair__query__external_id", flat=True)
        assert set(labeled) == test
        teacher_labels = ModelLabel.objects.filter(labeler__name="llama3-70b-4prompts", pair_id__in=student_pairs)
        assert teacher_labels.count() == len(student_pairs)
        for role in ("teacher", "student"):
            assert fold[role]["n_pairs"] == fold["test_pairs"] and fold[role]["n_queries"] == len(test)

        # No NIST grade entered training: every training target is the teacher's grade, of a
        # training query's pair, and they are not the NIST grades.
        student_dir = tmp_path / "models" / "students" / "dl19" / "llama3-70b-4prompts" / fold["split"]
        rows = [line.split("\t") for line in (student_dir / TRAINING_PAIRS_FILE).read_text().splitlines()[1:]]
        assert len(rows) == fold["train_pairs"] + fold["validation_pairs"] == 3 * 12
        per_query = defaultdict(int)
        for qid, docid, _, target in rows:
            per_query[qid] += 1
            assert qid in train_side
            grade = [float(x) for x in target.split(",")].index(1.0)
            assert grade == teacher[qid, docid]
        assert any(teacher[qid, docid] != nist[qid, docid] for qid, docid, _, _ in rows)
    # Two folds: each judged query is tested once at most, here the first two of each fold.
    assert len(all_test) == 4

    # The frontier, per fold and as their mean: 0, 5 and 10 teacher-graded anchors of 15 pairs a query.
    for part in (*report["folds"], report):
        frontier = part["frontier"]
        assert [round(entry["teacher_share"], 3) for entry in frontier] == [0.0, 0.333, 0.667]
        assert [entry["anchors_per_query"] for entry in frontier] == [0, 5, 10]
        for entry in frontier:
            for figure in ("alpha_ordinal", "quadratic_kappa", "ndcg@10", "pairwise_accuracy"):
                assert -1 <= entry[figure] <= 1 and -1 <= entry["teacher"][figure] <= 1
            for interval in ("alpha_ci", "quadratic_kappa_ci"):
                low, high = entry[interval]
                assert low <= high and entry["teacher"][interval][0] <= entry["teacher"][interval][1]
            assert "passed" in entry["gate"]
        # The teacher is scored on the same pairs at every budget.
        assert len({entry["teacher"]["alpha_ordinal"] for entry in frontier}) == 1
    for fold in report["folds"]:
        student_entry, *anchored_entries = fold["frontier"]
        assert student_entry["labeler"] == fold["student_labeler"]
        assert student_entry["alpha_ordinal"] == fold["student"]["alpha_ordinal"]
        for entry in anchored_entries:  # anchors keep the teacher's grade, the rest the anchored student's
            anchored = Labeler.objects.get(name=entry["labeler"])
            sources = ModelLabel.objects.filter(labeler=anchored).values_list("source", flat=True)
            assert len(sources) == fold["test_pairs"]
            assert sum(s != ModelLabel.Source.MODEL for s in sources) == round(entry["teacher_share"] * len(sources))
            assert anchored.promotion["passed"] == entry["gate"]["passed"]


@pytest.mark.slow
def test_held_out_queries_from_a_file(dl19_dir, tmp_path, settings):
    settings.MODEL_DIR = tmp_path / "models"
    queries = tmp_path / "test-queries.txt"
    queries.write_text("19335\n47923\n")
    out = tmp_path / "dl19.json"
    call_command("dl19_distill", "--data", str(dl19_dir),
                 "--teacher-run", str(dl19_dir / "run-llama3-70b-4prompts.txt"),
                 "--test-queries", str(queries), "--json", str(out), *REDUCED)
    report = json.loads(out.read_text())
    assert "folds" not in report and report["split"] == "heldout"
    assert report["test_queries"] == ["19335", "47923"]
    assert report["test_pairs"] == 30 and report["student"]["n_pairs"] == report["teacher"]["n_pairs"] == 30
    assert set(report["train_queries"]).isdisjoint(report["test_queries"])


@pytest.mark.slow
def test_two_judges_teach_as_their_ensemble(dl19_dir, tmp_path, settings):
    settings.MODEL_DIR = tmp_path / "models"
    queries = tmp_path / "test-queries.txt"
    queries.write_text("19335\n")
    out = tmp_path / "dl19.json"
    call_command("dl19_distill", "--data", str(dl19_dir), "--teacher-run", "run-llama3-70b-4prompts.txt",
                 "--teacher-run", "run-flant5-large-4prompts.txt", "--test-queries", str(queries),
                 "--anchors-per-query", "0,5", "--json", str(out), *REDUCED)
    report = json.loads(out.read_text())
    teacher = Labeler.objects.get(name=report["teacher_run"])
    assert teacher.backend == Labeler.Backend.ENSEMBLE
    assert teacher.params["members"] == ["llama3-70b-4prompts", "flant5-large-4prompts"]
    assert ModelLabel.objects.filter(labeler=teacher).count() == 9260  # every judged pair
    llama, flan = (run_file(dl19_dir / name) for name in ("run-llama3-70b-4prompts.txt",
                                                         "run-flant5-large-4prompts.txt"))
    student_dir = tmp_path / "models" / "students" / "dl19" / teacher.name / "heldout"
    rows = [line.split("\t") for line in (student_dir / TRAINING_PAIRS_FILE).read_text().splitlines()[1:]]
    for qid, docid, _, target in rows:  # the targets are the two judges' mean, never NIST's
        expected = [0.0] * 4
        for grades in (llama, flan):
            expected[grades[qid, docid]] += 0.5
        assert [float(x) for x in target.split(",")] == expected
    assert [entry["anchors_per_query"] for entry in report["frontier"]] == [0, 5]
