"""TREC run files as a benchmark's pool reads them: each query's top k by score."""

import pytest

from labeling.importers import ImportFileError
from labeling.importers.runs import run_top_k


def test_the_top_k_by_score_whatever_the_file_order(tmp_path):
    path = tmp_path / "run.txt"
    path.write_text("q1 Q0 low 3 0.5 r\nq1 Q0 top 1 9.0 r\nq1 Q0 mid 2 4.0 r\nq1 Q0 top 4 1.0 r\n"
                    "q2 Q0 tie-b 2 1.0 r\nq2 Q0 tie-a 1 1.0 r\n")
    assert run_top_k(path=path, k=2) == {"q1": ["top", "mid"], "q2": ["tie-a", "tie-b"]}
    assert run_top_k(path=path, k=1) == {"q1": ["top"], "q2": ["tie-a"]}  # equal scores: the better rank


@pytest.mark.parametrize(("text", "line", "field"), [
    ("q1 Q0 d1 1 1.0 r\nq1 Q0 d2 1\n", 2, "score"),
    ("q1 Q0 d1 one 1.0 r\n", 1, "rank"),
    ("q1 Q0 d1 1 nan r\n", 1, "score"),
])
def test_a_bad_line_is_located(tmp_path, text, line, field):
    path = tmp_path / "run.txt"
    path.write_text(text)
    with pytest.raises(ImportFileError) as error:
        run_top_k(path=path, k=5)
    assert (error.value.line, error.value.field) == (line, field)


def test_an_empty_file_and_a_k_out_of_bounds_are_refused(tmp_path):
    path = tmp_path / "run.txt"
    path.write_text("\n")
    with pytest.raises(ImportFileError, match="no run lines"):
        run_top_k(path=path, k=5)
    with pytest.raises(ValueError, match="k must be"):
        run_top_k(path=path, k=0)
