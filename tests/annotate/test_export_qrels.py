import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from annotate.selectors import benchmark_consensus_rows
from labeling.services.exports import labeler_qrel_rows, qrels_export
from tests.factories import (
    BenchmarkFactory,
    BenchmarkItemFactory,
    CorpusFactory,
    DocumentFactory,
    JudgmentFactory,
    LabelerFactory,
    ModelLabelFactory,
    PairFactory,
    QueryFactory,
    UserFactory,
)


def _pair(corpus, qid: str, docid: str):
    query = corpus.queries.filter(external_id=qid).first() or QueryFactory(corpus=corpus, external_id=qid)
    return PairFactory(query=query, document=DocumentFactory(corpus=corpus, external_id=docid))


@pytest.fixture
def corpus():
    return CorpusFactory(name="acme")


@pytest.fixture
def judged(corpus):
    """Ann graded two pairs; Bob graded another (not to be exported with Ann's)."""
    ann, bob = UserFactory(username="ann"), UserFactory(username="bob")
    JudgmentFactory(pair=_pair(corpus, "q2", "d9"), annotator=ann, grade=0)
    JudgmentFactory(pair=_pair(corpus, "q1", "d1"), annotator=ann, grade=3)
    JudgmentFactory(pair=_pair(corpus, "q1", "d2"), annotator=bob, grade=1)
    return ann


@pytest.mark.django_db
def test_annotator_export_in_trec_jsonl_and_csv(judged, tmp_path, capsys):
    out = tmp_path / "ann.txt"
    call_command("export_qrels", annotator="ann", out=str(out))
    assert out.read_text() == "q1 Q0 d1 3\nq2 Q0 d9 0\n"
    assert capsys.readouterr().out.strip() == f"2 qrels written to {out} (annotator ann, trec)"

    call_command("export_qrels", annotator="ann", out=str(out), format="jsonl")
    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        {"qid": "q1", "docid": "d1", "grade": 3},
        {"qid": "q2", "docid": "d9", "grade": 0},
    ]

    call_command("export_qrels", annotator="ann", out=str(out), format="csv")
    assert out.read_text().splitlines()[0] == "qid,docid,grade"
    assert list(csv.DictReader(out.open())) == [
        {"qid": "q1", "docid": "d1", "grade": "3"},
        {"qid": "q2", "docid": "d9", "grade": "0"},
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["ann.txt"]  # no temporary file left


@pytest.mark.django_db
def test_labeler_export_carries_the_distribution(corpus, tmp_path):
    labeler = LabelerFactory(name="teacher-x")
    ModelLabelFactory(pair=_pair(corpus, "q1", "d1"), labeler=labeler, grade=2,
                      distribution=[0.1, 0.2, 0.6, 0.1], expected_grade=1.7)
    out = tmp_path / "labels.jsonl"

    call_command("export_qrels", labeler="teacher-x", out=str(out), format="jsonl")
    assert json.loads(out.read_text()) == {
        "qid": "q1", "docid": "d1", "grade": 2, "expected_grade": 1.7, "distribution": [0.1, 0.2, 0.6, 0.1],
    }

    call_command("export_qrels", labeler="teacher-x", out=str(out), format="csv")
    row = next(csv.DictReader(out.open()))
    assert (row["expected_grade"], json.loads(row["distribution"])) == ("1.7", [0.1, 0.2, 0.6, 0.1])

    call_command("export_qrels", labeler="teacher-x", out=str(out))
    assert out.read_text() == "q1 Q0 d1 2\n"


@pytest.mark.django_db
def test_consensus_is_the_lower_median_and_skips_unjudged_pairs(corpus, tmp_path):
    bench = BenchmarkFactory(name="bench-1")
    grades = {"d1": [2], "d2": [3, 1], "d3": [0, 3, 2], "d4": [], "d5": [1, 2, 2, 3]}
    users = [UserFactory(username=f"u{i}") for i in range(4)]
    for docid, pair_grades in grades.items():
        pair = _pair(corpus, "q1", docid)
        BenchmarkItemFactory(benchmark=bench, pair=pair)
        for user, grade in zip(users, pair_grades, strict=False):  # the first len(pair_grades) users
            JudgmentFactory(pair=pair, annotator=user, grade=grade)
    JudgmentFactory(pair=_pair(corpus, "q1", "outside"), annotator=users[0], grade=3)  # not in the benchmark

    rows = list(benchmark_consensus_rows(benchmark=bench, chunk_size=2))

    assert [(r["docid"], r["grade"], r["judgments"]) for r in rows] == [
        ("d1", 2, 1), ("d2", 1, 2), ("d3", 2, 3), ("d5", 2, 4),
    ]
    out = tmp_path / "consensus.jsonl"
    call_command("export_qrels", consensus="bench-1", out=str(out), format="jsonl")
    assert json.loads(out.read_text().splitlines()[1]) == {"qid": "q1", "docid": "d2", "grade": 1, "judgments": 2}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "options",
    [{}, {"annotator": "ann", "labeler": "teacher-x"}, {"annotator": "ann", "consensus": "bench-1"}],
    ids=["none", "annotator-and-labeler", "annotator-and-consensus"],
)
def test_export_needs_exactly_one_source(judged, tmp_path, options):
    with pytest.raises(CommandError, match=r"one of the arguments|not allowed with"):
        call_command("export_qrels", out=str(tmp_path / "x.txt"), **options)
    assert not (tmp_path / "x.txt").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"annotator": "nobody"}, "no user with username 'nobody'"),
        ({"labeler": "nobody"}, "no labeler with name 'nobody'"),
        ({"consensus": "nobody"}, "no benchmark with name 'nobody'"),
    ],
)
def test_export_of_an_unknown_source_is_an_error(db, tmp_path, options, message):
    with pytest.raises(CommandError, match=message):
        call_command("export_qrels", out=str(tmp_path / "x.txt"), **options)


@pytest.mark.django_db
def test_a_labelers_rows_without_extras_are_the_same_rows_in_the_same_order(corpus):
    labeler = LabelerFactory(name="student-x")
    for qid, docid, grade in [("q2", "d1", 0), ("q1", "d9", 3), ("q1", "d10", 1)]:
        ModelLabelFactory(pair=_pair(corpus, qid, docid), labeler=labeler, grade=grade, distribution=[0.25] * 4)
    full = [(r["qid"], r["docid"], r["grade"]) for r in labeler_qrel_rows(labeler=labeler)]
    bare = list(labeler_qrel_rows(labeler=labeler, extra=False))
    assert [(r["qid"], r["docid"], r["grade"]) for r in bare] == full == [("q1", "d10", 1), ("q1", "d9", 3),
                                                                          ("q2", "d1", 0)]
    assert all(set(r) == {"qid", "docid", "grade"} for r in bare)


@pytest.mark.parametrize(("row", "field"), [({"qid": "q\t1", "docid": "d"}, "qid"), ({"qid": "q", "docid": "d\u00a01"},
                                             "docid"), ({"qid": "q", "docid": ""}, "docid")])
def test_a_tab_a_no_break_space_or_an_empty_id_cannot_go_to_trec(row, field):
    with pytest.raises(ValueError, match=f"^{field} .* empty or holds whitespace"):
        qrels_export(rows=[{**row, "grade": 1}], out=io.StringIO(), fmt="trec")


@pytest.mark.django_db
def test_ids_with_spaces_cannot_go_to_trec_and_leave_no_file(corpus, tmp_path):
    JudgmentFactory(pair=_pair(corpus, "q1", "finance/Q3 deck.md"), annotator=UserFactory(username="ann"))
    out = tmp_path / "ann.txt"
    with pytest.raises(CommandError, match="holds whitespace; export as jsonl or csv"):
        call_command("export_qrels", annotator="ann", out=str(out))
    assert list(tmp_path.iterdir()) == []
    call_command("export_qrels", annotator="ann", out=str(out), format="csv")
    assert next(csv.DictReader(out.open()))["docid"] == "finance/Q3 deck.md"


def test_qrels_export_writes_to_a_stream_and_an_empty_csv_has_a_header(tmp_path):
    stream = io.StringIO()
    assert qrels_export(rows=[{"qid": "1", "docid": "a", "grade": 2}], out=stream, fmt="trec") == 1
    assert stream.getvalue() == "1 Q0 a 2\n"
    out = tmp_path / "empty.csv"
    assert qrels_export(rows=iter([]), out=out, fmt="csv") == 0
    assert out.read_text() == "qid,docid,grade\n"
    with pytest.raises(ValueError, match="unknown format"):
        qrels_export(rows=[], out=out, fmt="xml")
