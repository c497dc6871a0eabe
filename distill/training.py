"""Train the student: a cross-encoder distilled from a teacher's grades.

The student reads (query, document) the way CrossEncoderBackend serves it (the same
tokenization, truncation and padding), and is saved as a folder that backend loads
(its format: labeling.labelers.student_format).

Two heads (params["head"]):
- "hybrid" (default): s = scale * cos + bias + r. cos is the base sentence encoder's cosine of
  query and document, encoded apart and frozen; r is a cross-encoder initialised from the same
  base whose output starts at zero. The first student is the base model's similarity, mapped
  onto the grades by a least-squares fit to the teacher; training teaches the cross-encoder
  what the teacher grades beyond similarity. With few training queries this keeps what the
  base knows about matching queries to passages, which a fresh head forgets.
- "ordinal": s = r alone (a plain cross-encoder with an ordinal head).

The grades' distribution is a cumulative-logit (ordinal) model of s. The loss, per step of
a few queries' pairs, is
- the soft-label cross-entropy to the teacher's distribution (KL plus a constant; with a
  one-hot teacher, the ordinal log-likelihood of its grade), and
- a listwise loss within each query (ListNet: the teacher's expected grades, softmaxed, as the
  target order), since the student is also a ranker.
Validation is by query (examples of a query never straddle the split: see `examples_split`);
training stops early when the validation loss stops falling and the best state is kept.
Finally, grade thresholds on the expected grade are calibrated so that the student's grade
distribution on the teacher-labeled pairs matches the teacher's; they are saved with the model.

Only the teacher's targets enter training, model selection and calibration. Training runs on the
GPU where there is one (params["device"]), in bf16 autocast; on CPUs in fp32.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labeling.calibration import grade_thresholds, grades_from_thresholds
from labeling.grades import GRADES
from labeling.labelers.base import PairInput, device_resolve, sdpa_without_cudnn
from labeling.labelers.cross_encoder import batch_tensors, pairs_encode, rows_pad
from labeling.labelers.student_format import (
    SIMILARITY_DIR,
    STUDENT_FILE,
    ordinal_log_probs,
    pair_cosine,
    student_config,
    student_config_write,
    student_score,
)
from labeling.metrics import agreement_report
from labeling.model_registry import model_path

log = logging.getLogger(__name__)

N_GRADES = len(GRADES)

DEFAULTS: dict = {
    "head": "hybrid",  # "hybrid" or "ordinal" (see the module's docstring)
    "epochs": 2,
    "learning_rate": 3e-5,  # the encoder's
    "head_learning_rate": 1e-3,  # scale, bias, cutpoints, slope and the classifier
    "weight_decay": 0.01,
    "warmup_fraction": 0.1,
    "batch_size": 32,  # pairs per step
    "pairs_per_query": 16,  # a step holds batch_size / pairs_per_query queries' groups
    "max_pairs_per_query": None,  # per epoch, a fresh sample of each query's pairs (None: all)
    "max_length": 192,
    "soft_label_weight": 1.0,
    "listwise_weight": 1.0,
    "freeze_embeddings": True,  # the word embeddings: most of the parameters, least to gain
    "train_layers": None,  # train only the top n encoder layers (None: all): a cheaper backward
    "eval_every": None,  # steps between validations; None: once per epoch
    "patience": 2,  # validations without a better loss before stopping
    "max_seconds": None,  # stop training (keeping the best state) after this long
    "calibration_pairs": 2000,  # teacher-labeled pairs the grade thresholds are fitted on
    # "validation+train": validation pairs topped up with training pairs; "validation": those alone
    # (the student is over-confident on its training pairs, so thresholds fitted there misplace the
    # grades of unseen queries). Either way the teacher's distribution on these pairs is the target.
    "calibrate_on": "validation+train",
    "calibrate": True,
    "eval_batch_size": 64,
    "seed": 13,
    "threads": None,
    "device": "auto",  # "auto": the GPU where there is one (in bf16 autocast), else the CPU (fp32)
    "validation_fraction": 0.2,  # used by examples_split
}


@dataclass(frozen=True)
class TrainExample:
    """A pair and the teacher's distribution over the grades 0..3 (a grade: one-hot)."""

    pair: PairInput
    target: Sequence[float] | int

    @property
    def distribution(self) -> list[float]:
        if isinstance(self.target, int | np.integer):
            return [float(g == self.target) for g in GRADES]
        values = np.clip(np.asarray(self.target, dtype=float), 0, None)
        if values.shape != (N_GRADES,) or values.sum() <= 0:
            raise ValueError(f"a target is a grade or a distribution over {N_GRADES} grades, not {self.target!r}")
        return (values / values.sum()).tolist()


@dataclass
class TrainResult:
    model_dir: Path
    seconds: float
    steps: int
    best_step: int
    stopped_early: bool
    thresholds: list[float] | None
    history: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    # The saved student's expected grades of the validation pairs, computed before saving.
    validation_expected: list[float] = field(default_factory=list)


def examples_split(examples: Sequence[TrainExample], *, fraction: float, seed: int = 13
                   ) -> tuple[list[TrainExample], list[TrainExample]]:
    """(training, validation) by query: a query's pairs all land on one side. At least one
    query is held out when there are two or more, and at least one is kept for training."""
    query_ids = sorted({example.pair.query_id or example.pair.query for example in examples})
    random.Random(seed).shuffle(query_ids)
    n_val = min(max(1, round(len(query_ids) * fraction)), len(query_ids) - 1) if len(query_ids) > 1 else 0
    held = set(query_ids[:n_val])
    train = [e for e in examples if (e.pair.query_id or e.pair.query) not in held]
    validation = [e for e in examples if (e.pair.query_id or e.pair.query) in held]
    return train, validation


def student_model_train(
    *,
    examples: Sequence[TrainExample],
    validation: Sequence[TrainExample] = (),
    base_model: str,
    out_dir: Path | str,
    params: dict | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Train a student on the teacher's targets and save it in `out_dir` (replaced whole)."""
    import torch

    p = {**DEFAULTS, **{k: v for k, v in (params or {}).items() if v is not None}}
    if not examples:
        raise ValueError("no training examples")
    if p["head"] not in ("hybrid", "ordinal"):
        raise ValueError(f"unknown head {p['head']!r}: hybrid or ordinal")
    if p["calibrate_on"] not in ("validation+train", "validation"):
        raise ValueError(f"unknown calibrate_on {p['calibrate_on']!r}: validation+train or validation")
    _queries_disjoint(examples, validation)
    started = time.perf_counter()
    if p["threads"]:
        torch.set_num_threads(p["threads"])
    torch.manual_seed(p["seed"])
    rng = random.Random(p["seed"])

    model = _Student.from_base(model_path(base_model), head=p["head"]).to(device_resolve(p["device"]))
    train = _Encoded(model, _rows(model, examples, p))
    val = _Encoded(model, _rows(model, validation, p)) if validation else None
    model.initialise(train.sample(p["calibration_pairs"], rng))

    steps_per_epoch = math.ceil(len(train.batches(p, random.Random(0))) or 1)
    total_steps = max(1, steps_per_epoch * p["epochs"])
    optimizer, scheduler = _optimizer(model, p, total_steps)
    eval_every = p["eval_every"] or steps_per_epoch
    history: list[dict] = []
    best: dict[str, Any] = {"loss": math.inf, "step": 0, "state": model.trainable_state()}
    if val is not None:
        best["loss"] = _validation_loss(model, val, p)
        history.append({"step": 0, "val_loss": best["loss"]})
    step, stale, stopped_early, window = 0, 0, False, []
    deadline = started + p["max_seconds"] if p["max_seconds"] else math.inf
    for _epoch in range(p["epochs"]):
        for batch in train.batches(p, rng):
            model.train()
            loss = _loss(model, train, batch, p)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            window.append(loss.item())
            if on_progress:
                on_progress(step, total_steps)
            if step % 20 == 0:
                log.debug("student training: step %d of %d, loss %.3f", step, total_steps, np.mean(window[-20:]))
            out_of_time = time.perf_counter() > deadline
            if step % eval_every == 0 or step == total_steps or out_of_time:
                entry = {"step": step, "train_loss": float(np.mean(window))}
                window = []
                if val is not None:
                    entry["val_loss"] = _validation_loss(model, val, p)
                    if entry["val_loss"] < best["loss"] - 1e-4:
                        best, stale = {"loss": entry["val_loss"], "step": step, "state": model.trainable_state()}, 0
                    else:
                        stale += 1
                else:
                    best = {"loss": entry["train_loss"], "step": step, "state": model.trainable_state()}
                history.append(entry)
                log.info("student training: %s", entry)
                if stale >= p["patience"] or out_of_time:
                    stopped_early = True
                    break
        if stopped_early:
            break
    model.load_trainable_state(best["state"])

    thresholds, metrics = None, {"best_step": best["step"], "steps": step}
    calibration = val.sample(p["calibration_pairs"], rng) if val is not None else []
    top_up = p["calibrate_on"] == "validation+train" or not calibration  # no validation set: training pairs
    if top_up and len(calibration) < p["calibration_pairs"]:
        calibration += train.sample(p["calibration_pairs"] - len(calibration), rng)
    expected = _expected_grades(model, calibration, p)
    teacher = np.array([int(np.argmax(row.target)) for row in calibration])
    if p["calibrate"]:
        thresholds = grade_thresholds(expected, teacher)
    val_expected = np.zeros(0)
    if val is not None:
        val_expected = _expected_grades(model, val.rows, p)
        metrics["val_loss"] = best["loss"]
        metrics["validation_vs_teacher"] = _agreement(val, val_expected, thresholds)
    model.save(Path(out_dir), thresholds=thresholds, params=p, metrics=metrics)
    seconds = time.perf_counter() - started
    return TrainResult(model_dir=Path(out_dir), seconds=seconds, steps=step, best_step=best["step"],
                       stopped_early=stopped_early, thresholds=thresholds, history=history, metrics=metrics,
                       validation_expected=val_expected.tolist())


def student_loss(*, model_dir: Path | str, examples: Sequence[TrainExample], params: dict | None = None) -> float:
    """A saved student's loss on these examples (the validation loss: soft-label cross-entropy
    plus the listwise loss over each query's pairs)."""
    p = {**DEFAULTS, **{k: v for k, v in (params or {}).items() if v is not None}}
    model = _Student.from_folder(Path(model_dir)).to(device_resolve(p["device"]))
    return _validation_loss(model, _Encoded(model, _rows(model, examples, p)), p)


# --- the model -------------------------------------------------------------------------------


class _Student:
    """The trainable student: the cross-encoder, the frozen similarity encoder, the head."""

    def __init__(self, cross, similarity, tokenizer, head: str):
        import torch

        self.cross, self.similarity, self.tokenizer = cross, similarity, tokenizer
        self.head_kind = head
        self.device = torch.device("cpu")
        self.scale = torch.nn.Parameter(torch.tensor(1.0))
        self.bias = torch.nn.Parameter(torch.tensor(0.0))
        self.cut0 = torch.nn.Parameter(torch.tensor(0.5))
        self.gaps = torch.nn.Parameter(torch.full((N_GRADES - 2,), math.log(math.e - 1)))  # softplus -> 1
        self.log_slope = torch.nn.Parameter(torch.tensor(math.log(2.0)))

    @classmethod
    def from_base(cls, base: Path, *, head: str) -> _Student:
        import torch
        from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(base)
        cross = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
        with torch.no_grad():  # r starts at zero: the first student is the similarity alone
            cross.classifier.weight.zero_()
            cross.classifier.bias.zero_()
        similarity = None
        if head == "hybrid":
            similarity = AutoModel.from_pretrained(base).eval()
            similarity.requires_grad_(False)
        return cls(cross, similarity, tokenizer, head)

    @classmethod
    def from_folder(cls, folder: Path) -> _Student:
        """A saved student, to evaluate (see student_loss)."""
        import torch
        from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

        config = student_config(folder)
        if config is None:
            raise ValueError(f"{folder} holds no distilled student ({STUDENT_FILE})")
        similarity = None
        if config["head"] == "hybrid":
            similarity = AutoModel.from_pretrained(folder / SIMILARITY_DIR).eval()
        model = cls(AutoModelForSequenceClassification.from_pretrained(folder), similarity,
                    AutoTokenizer.from_pretrained(folder), config["head"])
        cut = np.asarray(config["cutpoints"], dtype=float)
        with torch.no_grad():
            model.scale.fill_(config["scale"])
            model.bias.fill_(config["bias"])
            model.cut0.fill_(cut[0])
            model.gaps.copy_(torch.tensor(np.log(np.expm1(np.diff(cut))), dtype=torch.float32))
            model.log_slope.fill_(math.log(config["slope"]))
        return model

    def to(self, device) -> _Student:
        """Moved to the device; the head's parameters are made anew there (before any optimizer)."""
        import torch

        self.device = device
        for model in filter(None, (self.cross, self.similarity)):
            model.to(device)
        for name in ("scale", "bias", "cut0", "gaps", "log_slope"):
            setattr(self, name, torch.nn.Parameter(getattr(self, name).detach().to(device)))
        return self

    def computing(self) -> contextlib.ExitStack:
        """bf16 autocast on a GPU (the CPU trains in fp32: bf16 is slower there), and attention
        without cuDNN (sdpa_without_cudnn)."""
        import torch

        stack = contextlib.ExitStack()
        stack.enter_context(torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda"))
        stack.enter_context(sdpa_without_cudnn())
        return stack

    # The head as student_score and ordinal_log_probs read it.
    def head(self) -> dict:
        return {"head": self.head_kind, "scale": self.scale, "bias": self.bias}

    def cutpoints(self):
        import torch

        return torch.cat([self.cut0.reshape(1), self.cut0 + torch.cumsum(torch.nn.functional.softplus(self.gaps), 0)])

    def slope(self):
        return self.log_slope.exp()

    def head_parameters(self) -> list:
        return [self.scale, self.bias, self.cut0, self.gaps, self.log_slope]

    def parameters(self) -> list:
        return [p for p in self.cross.parameters() if p.requires_grad] + self.head_parameters()

    def train(self) -> None:
        self.cross.train()

    def eval(self) -> None:
        self.cross.eval()

    def cosine(self, batch: dict):
        import torch

        with torch.inference_mode(), self.computing():
            return pair_cosine(self.similarity, batch, self.tokenizer.cls_token_id).clone()

    def score(self, batch: dict, cosine=None):
        return student_score(cross=self.cross, head=self.head(), batch=batch, similarity=self.similarity,
                             cls_id=self.tokenizer.cls_token_id, cosine=cosine)

    def log_probs(self, score):
        return ordinal_log_probs(score, self.cutpoints(), self.slope())

    def initialise(self, rows: list[_Row]) -> None:
        """Least-squares map of the starting score onto the teacher's expected grades, and the
        cutpoints halfway between grades: the untrained student already grades sensibly."""
        import torch

        if self.head_kind != "hybrid" or len(rows) < 2:
            return
        x = np.array([row.cosine for row in rows])
        y = np.array([np.dot(row.target, GRADES) for row in rows])
        if np.ptp(x) > 0:
            scale, bias = np.polyfit(x, y, 1)
            with torch.no_grad():
                self.scale.fill_(float(max(scale, 1e-3)))
                self.bias.fill_(float(bias))

    def trainable_state(self) -> dict:
        state = {f"cross.{k}": v.detach().clone() for k, v in self.cross.state_dict().items()}
        for name in ("scale", "bias", "cut0", "gaps", "log_slope"):
            state[name] = getattr(self, name).detach().clone()
        return state

    def load_trainable_state(self, state: dict) -> None:
        import torch

        self.cross.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("cross.")})
        with torch.no_grad():
            for name in ("scale", "bias", "cut0", "gaps", "log_slope"):
                getattr(self, name).copy_(state[name])

    def head_config(self, thresholds: list[float] | None) -> dict:
        """The head as student_format writes it."""
        return {
            "head": self.head_kind,
            "scale": self.scale.item(),
            "bias": self.bias.item(),
            "cutpoints": [float(c) for c in self.cutpoints().detach()],
            "slope": float(self.slope().detach()),
            "thresholds": thresholds,
            "cls_token_id": int(self.tokenizer.cls_token_id),
        }

    def save(self, out_dir: Path, *, thresholds, params: dict, metrics: dict) -> None:
        """Write to a sibling folder, then swap it in: a reader never sees half a student."""
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = out_dir.with_name(f".{out_dir.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        self.cross.save_pretrained(tmp)
        self.tokenizer.save_pretrained(tmp)
        if self.similarity is not None:
            self.similarity.save_pretrained(tmp / SIMILARITY_DIR)
        student_config_write(tmp, self.head_config(thresholds), training={"params": params, "metrics": metrics})
        old = out_dir.with_name(f".{out_dir.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if out_dir.exists():
            out_dir.rename(old)
        tmp.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)


# --- data ------------------------------------------------------------------------------------


@dataclass
class _Row:
    inputs: dict  # unpadded model inputs
    target: list[float]  # the teacher's distribution
    expected: float  # the teacher's expected grade
    group: str  # the query
    cosine: float | None = None


def _rows(model: _Student, examples: Sequence[TrainExample], p: dict) -> list[_Row]:
    """Examples tokenized once, exactly as CrossEncoderBackend encodes them (pairs_encode)."""
    encoded = pairs_encode(model.tokenizer, p["max_length"], [e.pair for e in examples])
    rows = []
    for example, inputs in zip(examples, encoded, strict=True):
        target = example.distribution
        rows.append(_Row(inputs=inputs, target=target, expected=float(np.dot(target, GRADES)),
                         group=example.pair.query_id or example.pair.query))
    return rows


class _Encoded:
    """Rows of one set (training, validation, calibration) with the frozen similarity computed
    lazily (only for the pairs a step or a validation uses)."""

    def __init__(self, model: _Student, rows: list[_Row]):
        self.model = model
        self.rows = rows
        self.by_group: dict[str, list[int]] = defaultdict(list)
        for index, row in enumerate(self.rows):
            self.by_group[row.group].append(index)

    def tensors(self, indices: Sequence[int]) -> dict:
        batch = rows_pad(self.model.tokenizer, [self.rows[i].inputs for i in indices])
        return batch_tensors(batch, self.model.device)

    def cosines(self, indices: Sequence[int], batch: dict | None = None):
        """The frozen similarity of these rows (None for the ordinal head), cached."""
        import torch

        if self.model.head_kind != "hybrid":
            return None
        missing = [i for i in indices if self.rows[i].cosine is None]
        if missing:
            values = self.model.cosine(self.tensors(missing) if batch is None or len(missing) != len(indices)
                                       else batch)
            for i, value in zip(missing, values.tolist(), strict=True):
                self.rows[i].cosine = value
        return torch.tensor([self.rows[i].cosine for i in indices], device=self.model.device)

    def sample(self, n: int, rng: random.Random) -> list[_Row]:
        """Up to n rows at random, with their similarity computed."""
        indices = sorted(rng.sample(range(len(self.rows)), min(n, len(self.rows))))
        for chunk in _chunks(self._by_length(indices), 64):
            self.cosines(chunk)
        return [self.rows[i] for i in indices]

    def batches(self, p: dict, rng: random.Random) -> list[list[list[int]]]:
        """An epoch's steps: each a few groups of one query's pairs (the listwise loss is
        within a group), groups and steps shuffled."""
        group_size = max(1, min(p["pairs_per_query"], p["batch_size"]))
        groups = []
        for indices in self.by_group.values():
            indices = list(indices)
            rng.shuffle(indices)
            if p["max_pairs_per_query"]:
                indices = indices[: p["max_pairs_per_query"]]
            groups += _chunks(indices, group_size)
        rng.shuffle(groups)
        per_step = max(1, p["batch_size"] // group_size)
        return _chunks(groups, per_step)

    def _by_length(self, indices: Sequence[int]) -> list[int]:
        return sorted(indices, key=lambda i: len(self.rows[i].inputs["input_ids"]))


def _chunks(items: Sequence, size: int) -> list[list]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _queries_disjoint(train: Sequence[TrainExample], validation: Sequence[TrainExample]) -> None:
    shared = {e.pair.query_id or e.pair.query for e in train} & {e.pair.query_id or e.pair.query for e in validation}
    if shared:
        raise ValueError(f"validation shares {len(shared)} queries with training: split by query")


# --- loss, evaluation ------------------------------------------------------------------------


def _optimizer(model: _Student, p: dict, total_steps: int):
    import torch

    if p["freeze_embeddings"]:
        model.cross.base_model.embeddings.requires_grad_(False)
    if p["train_layers"] is not None:
        layers = model.cross.base_model.encoder.layer
        model.cross.base_model.embeddings.requires_grad_(False)
        for layer in layers[: max(0, len(layers) - p["train_layers"])]:
            layer.requires_grad_(False)
    head_ids = {id(x) for x in model.cross.classifier.parameters()}
    encoder = [x for x in model.cross.parameters() if x.requires_grad and id(x) not in head_ids]
    head = list(model.cross.classifier.parameters()) + model.head_parameters()
    optimizer = torch.optim.AdamW(
        [{"params": encoder, "lr": p["learning_rate"], "weight_decay": p["weight_decay"]},
         {"params": head, "lr": p["head_learning_rate"], "weight_decay": 0.0}]
    )
    warmup = max(1, int(total_steps * p["warmup_fraction"]))

    def factor(step: int) -> float:  # linear warm-up, then linear decay to zero
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _loss(model: _Student, data: _Encoded, groups: list[list[int]], p: dict):
    import torch

    indices = [i for group in groups for i in group]
    batch = data.tensors(indices)
    with model.computing():
        score = model.score(batch, cosine=data.cosines(indices, batch)).float()
    targets = torch.tensor([data.rows[i].target for i in indices], dtype=torch.float32, device=model.device)
    loss = p["soft_label_weight"] * -(targets * model.log_probs(score)).sum(-1).mean()
    if p["listwise_weight"]:
        listwise: float | torch.Tensor = 0.0
        offset = 0
        for group in groups:
            expected = torch.tensor([data.rows[i].expected for i in group], device=model.device)
            part = score[offset : offset + len(group)]
            offset += len(group)
            if len(group) > 1:
                listwise = listwise - (torch.softmax(expected, 0) * torch.log_softmax(part, 0)).sum()
        loss = loss + p["listwise_weight"] * listwise / len(groups)
    return loss


def _scores(model: _Student, data: _Encoded, indices: Sequence[int], p: dict) -> np.ndarray:
    """Each row's score s, in the order of `indices`, batched by length."""
    import torch

    model.eval()
    out = np.zeros(len(indices))
    position = {index: k for k, index in enumerate(indices)}
    with torch.inference_mode(), model.computing():
        for chunk in _chunks(data._by_length(indices), p["eval_batch_size"]):
            batch = data.tensors(chunk)
            score = model.score(batch, cosine=data.cosines(chunk, batch))
            for index, value in zip(chunk, score.tolist(), strict=True):
                out[position[index]] = value
    return out


def _validation_loss(model: _Student, data: _Encoded, p: dict) -> float:
    """The training loss on the validation queries (all their pairs, one group per query)."""
    import torch

    indices = list(range(len(data.rows)))
    score = torch.tensor(_scores(model, data, indices, p), dtype=torch.float32, device=model.device)
    with torch.no_grad():
        targets = torch.tensor([row.target for row in data.rows], dtype=torch.float32, device=model.device)
        loss = p["soft_label_weight"] * float(-(targets * model.log_probs(score)).sum(-1).mean())
        if p["listwise_weight"]:
            listwise = []
            for group in data.by_group.values():
                expected = torch.tensor([data.rows[i].expected for i in group], device=model.device)
                # Normalised per pair: validation groups are whole queries, training groups are not.
                listwise.append(float(-(torch.softmax(expected, 0) * torch.log_softmax(score[group], 0)).sum())
                                / math.log(len(group)) if len(group) > 1 else 0.0)
            loss += p["listwise_weight"] * float(np.mean(listwise))
    return loss


def _expected_grades(model: _Student, rows: list[_Row], p: dict) -> np.ndarray:
    import torch

    if not rows:
        return np.zeros(0)
    holder = _Encoded(model, rows)  # rows of several sets, scored together
    score = torch.tensor(_scores(model, holder, list(range(len(rows))), p), dtype=torch.float32, device=model.device)
    with torch.no_grad():
        probs = model.log_probs(score).exp().cpu().numpy()
    return probs @ np.asarray(GRADES, dtype=float)


def _agreement(data: _Encoded, expected: np.ndarray, thresholds) -> dict:
    """The student against the teacher on the validation queries (no human grade here)."""
    if thresholds is not None:
        predicted = grades_from_thresholds(expected, thresholds)
    else:
        predicted = np.rint(expected).astype(int)
    report = agreement_report(
        query_ids=[row.group for row in data.rows],
        reference=[int(np.argmax(row.target)) for row in data.rows],
        predicted=predicted.tolist(),
        expected=expected.tolist(),
    )
    return {k: report[k] for k in ("accuracy", "quadratic_kappa", "alpha_ordinal", "ndcg@10", "pairwise_accuracy")}
