"""Grades made elsewhere: a TREC run file of a judge, replayed as a labeler."""

from collections.abc import Mapping, Sequence
from pathlib import Path

from .base import Label, PairInput, one_hot


class NotRecorded(KeyError):
    pass


class RecordedBackend:
    prompt_version = "recorded"

    def __init__(self, grades: Mapping[tuple[str, str], int]):
        self.grades = grades  # (query id, document id) -> grade

    @classmethod
    def from_file(cls, path: Path | str) -> "RecordedBackend":
        """A run in qrels layout: `qid iteration docid grade` per line."""
        grades = {}
        for line in Path(path).read_text().splitlines():
            if line.strip():
                qid, _, docid, grade = line.split()
                grades[qid, docid] = int(grade)
        return cls(grades)

    @classmethod
    def from_labeler(cls, labeler) -> "RecordedBackend":
        """The run file named in params, else the labels already imported for this labeler."""
        if run_file := labeler.params.get("run_file"):
            return cls.from_file(run_file)
        rows = labeler.labels.values_list("pair__query__external_id", "pair__document__external_id", "grade")
        return cls({(q, d): g for q, d, g in rows.iterator(chunk_size=5000)})

    def label(self, pairs: Sequence[PairInput]) -> list[Label]:
        labels = []
        for pair in pairs:
            key = (pair.query_id, pair.document_id)
            if key not in self.grades:
                raise NotRecorded(f"the recorded run has no grade for query {key[0]!r}, document {key[1]!r}")
            labels.append(one_hot(self.grades[key]))
        return labels
