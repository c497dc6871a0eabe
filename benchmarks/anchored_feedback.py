"""Can the anchors also fix the student's order, not just its scale? Relevance feedback from the
teacher's anchor grades, against the ceiling of any per-query calibration, on DL19 vs NIST.

    .venv/bin/python benchmarks/anchored_feedback.py [--data PATH] [--anchors-per-query 10 20]

The student here is all-MiniLM-L6-v2's zero-shot cosine: a trained student's order is within
0.002 τ of it (benchmarks/results/dl19_distill.md), and this needs no training. Per test query,
the anchors (labeling.calibration.anchors_pick, stratified over the score) are graded by the
teacher (a recorded judge, or the two judges' ensemble) and every other pair is graded by the
query's order cut at the anchors' grade shares, as labeling.services.anchored does, after one of:
- nothing (today's anchored labeler);
- Rocchio: the query's embedding moved toward the anchors graded above their mean and away from
  those below, by beta;
- kNN: the score blended (z-scored, weight lam) with the anchors' grades averaged by the pair's
  similarity to each anchor (softmax, temperature 0.1).
For reference, the order cut at the teacher's exact shares of the query, from every teacher grade
(100 % teacher calls): the best any per-query scale can do with this order, short of the
anchors' own teacher grades. Prints the table and writes
benchmarks/results/anchored_feedback.md, keeping its "## Notes".
"""

import argparse
import datetime as dt
import json
import os
import shlex
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from distill.dl19 import dl19_splits  # noqa: E402
from labeling.calibration import (  # noqa: E402
    anchor_thresholds,
    anchors_pick,
    grade_shares,
    grades_from_thresholds,
    share_thresholds,
)
from labeling.labelers.recorded import RecordedBackend  # noqa: E402
from labeling.labelers.student_format import sentence_embeddings  # noqa: E402
from labeling.metrics import cohen_kappa, krippendorff_alpha  # noqa: E402
from labeling.model_registry import model_path  # noqa: E402

from report import cpu_description, results_write  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "anchored_feedback.md"
JUDGES = {"Llama-3-70B": "run-llama3-70b-4prompts.txt", "Flan-T5-large": "run-flant5-large-4prompts.txt"}
METHODS = [("shares (today)", {}), ("Rocchio", {"beta": 0.5}), ("Rocchio", {"beta": 1.0}),
           ("Rocchio", {"beta": 2.0}), ("kNN", {"lam": 0.5}), ("kNN", {"lam": 1.0})]


def embed(texts: list[str]) -> np.ndarray:
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = model_path("minilm-l6")
    tokenizer, encoder = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
    out = []
    for start in range(0, len(texts), 64):
        batch = tokenizer(texts[start:start + 64], padding=True, truncation=True, max_length=256,
                          return_tensors="pt")
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
            out.append(sentence_embeddings(encoder, inputs).float().numpy())
    return np.concatenate(out)


def zscore(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() + 1e-9)


def query_grades(scores, docs, query, anchor_grades, anchors, method, beta=0.0, lam=0.0):
    """The anchored grades of one query's pairs after a feedback method."""
    g = np.asarray(anchor_grades, dtype=float)
    if method == "Rocchio":
        query = query + beta * ((g - g.mean())[:, None] * docs[anchors]).mean(0)
        scores = docs @ query
    elif method == "kNN":
        weights = np.exp(docs @ docs[anchors].T / 0.1)
        scores = zscore(scores) + lam * zscore((weights * g).sum(1) / weights.sum(1))
    grades = grades_from_thresholds(scores, anchor_thresholds(scores, list(anchor_grades)))
    grades[anchors] = anchor_grades
    return grades


def figures(reference: list[int], predicted: list[int]) -> str:
    alpha = krippendorff_alpha(np.array([reference, predicted]), "ordinal")
    return f"{alpha:.3f} / {cohen_kappa(reference, predicted, 'quadratic'):.3f}"


@dataclass
class Dl19:
    nist: Mapping
    by_query: dict[str, list[str]]  # each judged query's documents
    doc_vectors: np.ndarray
    doc_row: dict[str, int]
    query_vectors: dict[str, np.ndarray]
    folds: list

    def row(self, label: str, grade_query: Callable) -> str:
        """A table row: grade_query(q, docs, scores) grades each fold's test queries."""
        cells = []
        for fold in self.folds:
            reference, predicted = [], []
            for q in fold.test:
                docs = self.doc_vectors[[self.doc_row[d] for d in self.by_query[q]]]
                reference += [self.nist[(q, d)] for d in self.by_query[q]]
                predicted += list(grade_query(q, docs, docs @ self.query_vectors[q]))
            cells.append(figures(reference, predicted))
        return f"| {label} | " + " | ".join(cells) + " |"


def teacher_rows(data: Dl19, teacher: Mapping, anchors_per_query: list[int]) -> list[str]:
    by_query = data.by_query
    rows = []
    for k in anchors_per_query:
        for method, params in METHODS:
            def anchored(q, docs, scores, k=k, method=method, params=params):
                anchors = anchors_pick(scores, k)
                grades = [teacher[(q, by_query[q][i])] for i in anchors]
                return query_grades(scores, docs, data.query_vectors[q], grades, anchors, method, **params)
            rows.append(data.row(f"{k} | {method}" + "".join(f" {n} {v}" for n, v in params.items()), anchored))
            print(rows[-1], flush=True)

    def best_scale(q, docs, scores):
        return grades_from_thresholds(scores, share_thresholds(scores, grade_shares([teacher[(q, d)]
                                                                                     for d in by_query[q]])))
    rows.append(data.row("all (the best scale) | the teacher's exact shares", best_scale))
    rows.append(data.row("— | **the teacher itself**", lambda q, docs, scores: [teacher[(q, d)] for d in by_query[q]]))
    print("\n".join(rows[-2:]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "dl19")
    parser.add_argument("--anchors-per-query", type=int, nargs="+", default=[10, 20])
    args = parser.parse_args()
    if not (args.data / "qrels-nist.txt").is_file():
        sys.exit(f"no DL19 data at {args.data} (give --data)")
    nist = RecordedBackend.from_file(args.data / "qrels-nist.txt").grades
    judges = {name: RecordedBackend.from_file(args.data / file).grades for name, file in JUDGES.items()}
    teachers = {"Llama-3-70B": judges["Llama-3-70B"],
                "both judges (floor of the mean)": {k: (judges["Llama-3-70B"][k] + judges["Flan-T5-large"][k]) // 2
                                                    for k in nist}}
    with open(args.data / "queries.tsv", encoding="utf-8") as rows:
        query_text = dict(line.rstrip("\r\n").split("\t", 1) for line in rows)
    with open(args.data / "passages.jsonl", encoding="utf-8") as rows:
        passages = {row["docid"]: row["doc"] for row in map(json.loads, rows)}
    by_query: dict[str, list[str]] = {}
    for q, d in sorted(nist):
        by_query.setdefault(q, []).append(d)
    doc_ids = sorted({d for _, d in nist})
    data = Dl19(nist=nist, by_query=by_query, doc_vectors=embed([passages[d] for d in doc_ids]),
                doc_row={d: i for i, d in enumerate(doc_ids)},
                query_vectors=dict(zip(by_query, embed([query_text[q] for q in by_query]), strict=True)),
                folds=dl19_splits(judged=list(by_query)))

    lines = ["# Anchors as relevance feedback, and the best per-query scale (DL19, vs NIST)", "",
             f"- command: `.venv/bin/python benchmarks/anchored_feedback.py {shlex.join(sys.argv[1:])}`".rstrip(),
             f"- date: {dt.date.today()}; CPU: {cpu_description()}",
             "- student: all-MiniLM-L6-v2 zero-shot cosine; 2 folds by query id (dl19_distill's split)",
             "- each cell: α ordinal / quadratic κ against NIST on the fold's test pairs", ""]
    for teacher_name, teacher in teachers.items():
        lines += [f"## {teacher_name} teaching", "", "| anchors per query | method | fold1 | fold2 |",
                  "|---|---|---|---|", *teacher_rows(data, teacher, args.anchors_per_query), ""]
    results_write(RESULTS, "\n".join(lines))
    print(f"written to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
