"""The distilled student's format: its files, its head and its scorer, written by training
(distill.training) and read by every runtime (labeling.labelers.cross_encoder).

A student is a folder: a sequence classifier with one output r and its tokenizer, the frozen
base sentence encoder in the subfolder `similarity` (hybrid head only), and `student.json`:
{"format": "assessor-student-v1", "head": "hybrid" | "ordinal", "scale", "bias", "cutpoints"
(3, rising), "slope", "thresholds" (3, or null), "cls_token_id", "training": {...}}. A pair's
score s is
  hybrid:  s = scale * cos(query, document) + bias + r
  ordinal: s = r
where cos is the base encoder's cosine of the mean-pooled query and document, each encoded
alone as the base model was trained: the student keeps its base model's similarity and the
cross-encoder learns the teacher's grading on top. The grades' distribution is a
cumulative-logit model of s, P(grade > k) = sigmoid(slope * (s - cutpoints[k])), so the expected
grade rises with s; the `thresholds`, calibrated to the teacher's grade distribution, turn the
expected grade into the grade.
"""

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..calibration import grades_from_thresholds
from .base import sdpa_without_cudnn

STUDENT_FILE = "student.json"
STUDENT_FORMAT = "assessor-student-v1"
SIMILARITY_DIR = "similarity"
HEAD_KEYS = ("head", "scale", "bias", "cutpoints", "slope", "thresholds", "cls_token_id")

Batch = dict[str, np.ndarray]  # the tokenizer's model inputs, int64, batch x length
Runner = Callable[[Batch], np.ndarray]  # a padded batch -> log P(grade), batch x 4


def student_config(folder: Path) -> dict | None:
    """A distilled student's head (student.json), or None for a plain sequence classifier."""
    path = Path(folder) / STUDENT_FILE
    if not path.is_file():
        return None
    config = json.loads(path.read_text())
    if config.get("format") != STUDENT_FORMAT:
        raise ValueError(f"{path}: unknown student format {config.get('format')!r}")
    return config


def student_config_write(folder: Path, head: dict, training: dict) -> None:
    """student.json: the head (HEAD_KEYS) and how it was trained."""
    missing = set(HEAD_KEYS) - head.keys()
    if missing:
        raise ValueError(f"a student head needs {', '.join(sorted(missing))}")
    config = {"format": STUDENT_FORMAT, **{key: head[key] for key in HEAD_KEYS}, "training": training}
    (Path(folder) / STUDENT_FILE).write_text(json.dumps(config, indent=2, default=str) + "\n")


def student_grades(config: dict, expected: np.ndarray) -> np.ndarray | None:
    """The grades its calibrated thresholds give these expected grades; None without thresholds."""
    thresholds = config.get("thresholds")
    return grades_from_thresholds(expected, thresholds) if thresholds else None


def ordinal_log_probs(score, cutpoints, slope):
    """batch x 4 log P(grade = k) with P(grade > k) = sigmoid(slope * (score - cutpoints[k]))."""
    import torch

    above = torch.sigmoid(slope * (score.unsqueeze(-1) - cutpoints))
    cumulative = torch.cat([torch.ones_like(above[:, :1]), above, torch.zeros_like(above[:, :1])], dim=-1)
    return torch.log((cumulative[:, :-1] - cumulative[:, 1:]).clamp_min(1e-12))


def segments_split(batch: dict, cls_id: int) -> tuple[dict, dict]:
    """`[CLS] q [SEP] d [SEP]` (padded on the right) as `[CLS] q [SEP]` and `[CLS] d [SEP]`."""
    import torch

    ids, real, segment = batch["input_ids"], batch["attention_mask"].bool(), batch["token_type_ids"]
    query_len = (real & (segment == 0)).sum(1)
    doc_len = (real & (segment == 1)).sum(1) + 1  # with a [CLS] in front
    positions = torch.arange(int(query_len.max()), device=ids.device)
    query_mask = (positions < query_len[:, None]).long()
    query = {"input_ids": ids[:, : len(positions)] * query_mask, "attention_mask": query_mask}
    positions = torch.arange(int(doc_len.max()), device=ids.device)
    doc_ids = torch.gather(ids, 1, (query_len[:, None] + positions - 1).clamp(0, ids.shape[1] - 1))
    doc_ids[:, 0] = cls_id
    doc_mask = (positions < doc_len[:, None]).long()
    return query, {"input_ids": doc_ids * doc_mask, "attention_mask": doc_mask}


def sentence_embeddings(encoder, inputs: dict):
    """Unit-length mean of the token states: the base sentence encoder's embedding."""
    import torch

    states = encoder(**inputs, token_type_ids=torch.zeros_like(inputs["input_ids"])).last_hidden_state
    mask = inputs["attention_mask"].unsqueeze(-1).to(states.dtype)
    return torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1).clamp_min(1), dim=-1)


def pair_cosine(similarity, batch: dict, cls_id: int):
    query, doc = segments_split(batch, cls_id)
    return (sentence_embeddings(similarity, query) * sentence_embeddings(similarity, doc)).sum(-1)


def student_score(*, cross, head: dict, batch: dict, similarity=None, cls_id: int = 0, cosine=None):
    """The score s of each pair (see above); `cosine`, when given, skips the similarity pass.
    head's numbers may be floats (serving) or tensors (training)."""
    residual = cross(**batch).logits[:, 0]
    if head["head"] == "hybrid" and cosine is None:
        cosine = pair_cosine(similarity, batch, cls_id)
    return head_score(head, residual=residual, cosine=cosine)


def head_score(head: dict, *, residual, cosine):
    return residual if head["head"] == "ordinal" else head["scale"] * cosine + head["bias"] + residual


def student_runner(score: Callable, config: dict) -> Runner:
    """The grades' log-probabilities from a scorer of either kind (torch or ONNX, below)."""
    import torch

    cutpoints = torch.tensor(config["cutpoints"], dtype=torch.float32)

    def run(batch: Batch) -> np.ndarray:
        with torch.inference_mode(), sdpa_without_cudnn():
            return ordinal_log_probs(score(batch).float().cpu(), cutpoints, config["slope"]).numpy()

    return run
