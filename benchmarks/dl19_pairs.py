"""DL19 pairs for the throughput benchmarks: the data, a split by query, and a MiniLM student
fitted on one half. Imported after Django is set up (it uses the labelers)."""

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from labeling.labelers.base import PairInput
from labeling.labelers.classifier import classifier_load
from labeling.labelers.cross_encoder import document_segment

FIT_PAIRS = 800
STUDENT_RECIPE = f"minilm-l6-dl19-llama3-cls-logreg-{FIT_PAIRS}-v1"


def dl19_load(data: Path) -> tuple[dict[str, str], dict[str, str], dict[tuple[str, str], int]]:
    """Queries, passages and the recorded Llama-3 grades by (qid, docid)."""
    queries = dict(line.split("\t", 1) for line in (data / "queries.tsv").read_text().splitlines() if line.strip())
    with open(data / "passages.jsonl") as lines:
        passages = {r["docid"]: r["doc"] for r in map(json.loads, lines)}
    teacher = {}
    for line in (data / "run-llama3-70b-4prompts.txt").read_text().splitlines():
        qid, _, docid, grade = line.split()
        teacher[qid, docid] = int(grade)
    return {q: t.strip() for q, t in queries.items()}, passages, teacher


def hashed(*parts: str) -> str:
    return hashlib.sha1(":".join(parts).encode()).hexdigest()


def pairs_split(teacher: dict[tuple[str, str], int]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(benchmark keys, head-fitting keys): split by query, never by pair; each in a fixed
    hash order that spreads over its queries."""
    qids = sorted({qid for qid, _ in teacher}, key=hashed)
    fit_qids = set(qids[: len(qids) // 2])
    keys = sorted(teacher, key=lambda key: hashed(*key))
    return [k for k in keys if k[0] not in fit_qids], [k for k in keys if k[0] in fit_qids]


def student_fit(folder: Path, base: Path, pairs: list[PairInput], grades: list[int]) -> Path:
    """The base encoder (MiniLM-L6) with its head fitted to the teacher's grades, saved once as
    a model folder.

    Not a good student (training one is the distill stage's job), but one whose grades are
    decided by the pair rather than by a random head's noise: the pooler becomes tanh of the
    [CLS] state (the base model's pooler is untrained) and a logistic regression on it is the
    4-way head. Fitting the whole encoder for a few steps on 2 cores learned less than this.
    """
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoTokenizer

    if (folder / "config.json").exists():
        return folder
    model, tokenizer = classifier_load(base), AutoTokenizer.from_pretrained(base)
    pooler = model.bert.pooler.dense
    with torch.no_grad():
        pooler.weight.copy_(torch.eye(pooler.in_features))
        pooler.bias.zero_()
    features = []
    for start in range(0, len(pairs), 32):
        chunk = pairs[start : start + 32]
        batch = tokenizer(
            [p.query for p in chunk], [document_segment(p) for p in chunk],
            truncation="only_second", max_length=192, padding=True, return_tensors="pt",
        )
        with torch.inference_mode():
            features.append(model.bert(**batch).pooler_output.numpy())  # what the head reads
    fit = LogisticRegression(C=1.0, max_iter=5000).fit(np.concatenate(features), grades)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(fit.coef_).float())
        model.classifier.bias.copy_(torch.from_numpy(fit.intercept_).float())
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
