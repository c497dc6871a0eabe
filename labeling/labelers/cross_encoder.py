"""The fast student: an encoder reads (query, document) as one sequence and a head grades it.

Segment A is the query, segment B the document as "title | author | modified | path" then its
text on the next line (enterprise queries name metadata), truncated to `max_length` tokens from
the document's end. The head is either

- 4-way classification (num_labels=4): the softmax is the distribution over grades 0..3, or
- regression (num_labels=1): one score s, read as an expected grade; the distribution is the
  linear interpolation between the two grades around s (s=1.3 gives P(1)=0.7, P(2)=0.3), so
  the expected grade equals s clipped to 0..3 exactly.

A trained student is a normal transformers folder (AutoModelForSequenceClassification and its
tokenizer). A bare encoder (a registry base model) gets a fresh 4-way head, seeded, so every
load of it, and its ONNX export, is the same model.

Runtimes (DESIGN.md, "Labelers"; benchmarks/results/throughput.md has the figures):
- "torch": fp32, the reference.
- "torch-bf16": mixed precision (`bf16_matmuls`): the encoder's linear layers and attention in
  bf16, the residual stream, LayerNorms, embeddings and head in fp32. About 2.5x fp32's speed
  where the CPU has AVX512-BF16 or AMX (emulated, and slow, where it has neither), with grades
  within 0.01 alpha of fp32's (an all-bf16 model moves several times as many).
- "auto": torch-bf16 on a GPU or where the CPU computes bf16 natively (`native_bf16`), else onnx:
  the fastest runtime that keeps fp32's grades, decided on the machine that loads it; what a
  distilled student's labeler runs on.
- "onnx": ONNX Runtime fp32 with fused attention, LayerNorm and GELU; the same grades as fp32.
- "onnx-int8": that graph with int8 dynamic quantization of the matmuls; the fastest on CPUs
  with VNNI and no bf16 instructions, but lossy on MiniLM (a few grades in a hundred move), and
  a pair's grade can depend on its batch, since activations share one scale per batch.
The exported graphs are cached in MODEL_DIR (onnx_export).

The torch runtimes run on `device` ("auto": the GPU where there is one; the ONNX ones always run
on the CPU), and with `compile=True` through torch.compile, the weights frozen in on a CPU: 1.4x
eager torch-bf16's speed on an AMX CPU with the same grades within 0.01 alpha (nothing on a
GPU), after a first batch that takes 15-30 s to compile (a C++ compiler must be installed), so
it pays on long jobs. Every runtime computes a BERT classifier's last layer for [CLS] alone
(`cls_only_last_layer`).

A student distilled by distill.training is such a folder plus a `student.json` head (its format:
labeling.labelers.student_format): it runs on every runtime (on ONNX, its similarity encoder is a
graph of its own), and its calibrated thresholds decide the grade from the expected grade.
"""

import functools
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..grades import GRADES
from ..model_registry import model_path
from .base import Label, PairInput, backend_params, device_resolve, label_from_distribution, sdpa_without_cudnn
from .classifier import classifier_load, cls_only_last_layer
from .onnx_export import onnx_model_file
from .student_format import (
    SIMILARITY_DIR,
    head_score,
    segments_split,
    student_config,
    student_grades,
    student_runner,
    student_score,
)

PROMPT_VERSION = "cross-encoder-v1"
RUNTIMES = ("torch", "torch-bf16", "onnx", "onnx-int8")
# Pairs per forward pass, the fastest measured on 2 cores (benchmarks/results/throughput.md):
# small batches pad less and stay in cache, most of all for int8.
BATCH_SIZES = {"torch": 32, "torch-bf16": 16, "onnx": 32, "onnx-int8": 8}
# A distilled student's similarity pass runs each segment alone, and the short query side
# pays a per-call cost: 32 pairs a pass is about the fastest on every runtime there.
STUDENT_BATCH_SIZE = 32
# On a GPU small batches are bound by kernel launches: 256 pairs ran 2-3x as fast as 64 on an
# H200 (benchmarks/results/gpu.md).
GPU_BATCH_SIZE = 256

Batch = dict[str, np.ndarray]  # the tokenizer's model inputs, int64, batch x length
Runner = Callable[[Batch], np.ndarray]  # logits, float, batch x num_labels


def document_segment(pair: PairInput) -> str:
    """Segment B. The four metadata slots keep their places (empty ones stay empty) so the
    model can tell an author from a title; a document without any metadata is its text alone."""
    meta = (pair.title, pair.author, pair.modified, pair.path)
    return f"{' | '.join(meta)}\n{pair.text}" if any(meta) else pair.text


def grade_probabilities(logits: np.ndarray) -> np.ndarray:
    """batch x 4 grade probabilities from the head's logits (see the module's docstring)."""
    logits = logits.astype(np.float64)
    if logits.shape[1] == len(GRADES):
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)
    if logits.shape[1] == 1:
        score = np.clip(logits[:, 0], GRADES[0], GRADES[-1])
        low = np.minimum(np.floor(score).astype(int), GRADES[-1] - 1)
        frac = score - low
        probs = np.zeros((len(score), len(GRADES)))
        rows = np.arange(len(score))
        probs[rows, low], probs[rows, low + 1] = 1 - frac, frac
        return probs
    raise ValueError(f"a grade head has 4 outputs (classes) or 1 (regression), not {logits.shape[1]}")


@functools.cache  # the CPU does not change while a process runs
def native_bf16() -> bool:
    """Whether this CPU has bf16 instructions (AVX512-BF16, AMX, Arm's BF16); False where unknown."""
    try:
        with open("/proc/cpuinfo") as info:
            words = set(info.read().split())
    except OSError:
        return False
    return bool(words & {"avx512_bf16", "amx_bf16", "bf16"})


def runtime_resolve(runtime: str, device: str = "auto") -> tuple[str, str]:
    """(runtime, device) to run on: a GPU where asked for or, for torch, where there is one."""
    if runtime != "auto" and runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}: auto or one of {', '.join(RUNTIMES)}")
    if runtime.startswith("onnx"):
        if device not in ("auto", "cpu"):
            raise ValueError(f"runtime {runtime!r} runs on the CPU, not {device!r}: use torch or torch-bf16")
        return runtime, "cpu"
    device = str(device_resolve(device))
    if runtime == "auto":
        runtime = "torch-bf16" if device != "cpu" or native_bf16() else "onnx"
    return runtime, "cpu" if runtime.startswith("onnx") else device


def bf16_matmuls(model):
    """The encoder's linear layers in bf16, each casting its input; the rest stays fp32.

    A linear layer's bf16 output is added to the fp32 residual stream, so the sum, the
    LayerNorm after it and the head are fp32; between two linear layers (attention, the
    FFN's GELU) values stay bf16. Rounding the residual stream to bf16 at every layer is
    what moves grades most in an all-bf16 model.
    """
    import torch

    def cast(module, args):
        return (args[0].to(module.weight.dtype), *args[1:])

    encoder = getattr(model.base_model, "encoder", model.base_model)
    for module in encoder.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(torch.bfloat16)
            module.register_forward_pre_hook(cast)
    return model


def batch_tensors(batch: Batch, device="cpu") -> dict:
    """The padded batch as torch tensors on the device."""
    import torch

    return {key: torch.from_numpy(value).to(device) for key, value in batch.items()}


@dataclass(frozen=True)
class TorchOptions:
    bf16: bool
    device: str
    compile: bool = False
    threads: int | None = None

    def __post_init__(self):
        # torch.compile would fail at the first batch, deep in a job: say so when the labeler loads.
        compiler = os.environ.get("CXX", "g++")
        if self.compile and self.device == "cpu" and not shutil.which(compiler):
            raise ValueError(f"compile=True on a CPU needs a C++ compiler: no {compiler!r} on PATH"
                             " (install g++ or set CXX)")

    def prepare(self, model):
        """The model on its device, with bf16 matmuls and compiled as asked."""
        import torch

        if self.threads:
            torch.set_num_threads(self.threads)  # process-wide: torch has one intra-op pool
        model.to(self.device)
        if self.bf16:
            bf16_matmuls(model)
        if not self.compile:
            return model
        # dynamic: one graph for every batch shape, rather than a compilation per shape. On a CPU,
        # freezing makes the weights constants, which oneDNN packs once for its bf16 kernels: 1.2x
        # on an AMX CPU (benchmarks/results/throughput.md). Safe because labelers only run inference.
        compiled = torch.compile(model, dynamic=True)
        if self.device != "cpu":
            return compiled

        def frozen(*args, **kwargs):  # dynamo reads the flag when it traces, at a call
            with torch._inductor.config.patch(freezing=True):
                return compiled(*args, **kwargs)

        return frozen


def torch_runner(folder: Path, options: TorchOptions) -> Runner:
    import torch

    model = options.prepare(cls_only_last_layer(classifier_load(folder)))

    def run(batch: Batch) -> np.ndarray:
        with torch.inference_mode(), sdpa_without_cudnn():
            logits = model(**batch_tensors(batch, options.device)).logits
        return logits.float().cpu().numpy()

    return run


def two_rows_at_least(run: Runner) -> Runner:
    """A compiled model compiles again for a batch of one row (torch specialises sizes 0 and
    1), half a minute on a CPU: such a batch goes through doubled instead."""

    def wrapped(batch: Batch) -> np.ndarray:
        rows = len(batch["input_ids"])
        if rows > 1:
            return run(batch)
        return run({key: np.repeat(value, 2, axis=0) for key, value in batch.items()})[:rows]

    return wrapped


def onnx_session(path: Path, *, threads: int | None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or 0  # 0: one per physical core
    options.inter_op_num_threads = 1  # the graph is a chain: parallelism is within ops
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def onnx_runner(folder: Path, *, int8: bool, threads: int | None) -> Runner:
    session = onnx_session(onnx_model_file(folder, int8=int8), threads=threads)
    return lambda batch: session.run(None, batch)[0]


def pairs_encode(tokenizer, max_length: int, pairs: Sequence[PairInput]) -> list[dict[str, list[int]]]:
    """Each pair's model inputs, unpadded. Only the document is cut, unless the query alone
    takes over half the window: then both are (only_second cannot fit such a pair)."""
    queries = [pair.query for pair in pairs]
    documents = [document_segment(pair) for pair in pairs]
    query_lengths = [len(ids) for ids in tokenizer(queries, add_special_tokens=False)["input_ids"]]
    encoded: list[dict[str, list[int]]] = [{} for _ in pairs]
    for strategy, keep in (("only_second", True), ("longest_first", False)):
        indices = [i for i, n in enumerate(query_lengths) if (n <= max_length // 2) == keep]
        if not indices:
            continue
        out = tokenizer(
            [queries[i] for i in indices],
            [documents[i] for i in indices],
            truncation=strategy,
            max_length=max_length,
        )
        for row, index in enumerate(indices):
            encoded[index] = {name: out[name][row] for name in tokenizer.model_input_names}
    return encoded


def rows_pad(tokenizer, rows: list[dict[str, list[int]]]) -> Batch:
    """Encoded rows padded into one batch (the tokenizer's pad id for input ids, 0 elsewhere)."""
    width = max(len(row["input_ids"]) for row in rows)
    pad = {"input_ids": tokenizer.pad_token_id or 0}  # masks and segment ids pad with 0
    batch = {name: np.full((len(rows), width), pad.get(name, 0), dtype=np.int64) for name in rows[0]}
    for r, row in enumerate(rows):
        for name, ids in row.items():
            batch[name][r, : len(ids)] = ids
    return batch


class CrossEncoderBackend:
    """Grades pairs with a cross-encoder: batched, sorted by length, padded per batch."""

    prompt_version = PROMPT_VERSION

    def __init__(
        self,
        model_dir: Path | str,
        *,
        max_length: int = 192,
        batch_size: int | None = None,  # None: BATCH_SIZES[runtime], STUDENT_BATCH_SIZE or GPU_BATCH_SIZE
        runtime: str = "torch",
        threads: int | None = None,
        device: str = "auto",  # torch runtimes: "auto" (a GPU where there is one), "cpu", "cuda", ...
        compile: bool = False,  # torch runtimes: through torch.compile (see the module's docstring)
    ):
        from transformers import AutoTokenizer

        runtime, device = runtime_resolve(runtime, device)
        self.model_dir = Path(model_dir)
        self.max_length = max_length
        self.runtime, self.device = runtime, device
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        self.student = student_config(self.model_dir)
        default = GPU_BATCH_SIZE if device != "cpu" else STUDENT_BATCH_SIZE if self.student else BATCH_SIZES[runtime]
        self.batch_size = batch_size or default
        torch_options = None
        if runtime.startswith("torch"):
            torch_options = TorchOptions(bf16=runtime == "torch-bf16", device=device, compile=compile, threads=threads)
        if self.student is not None:
            if torch_options:
                score = _student_torch_score(self.model_dir, self.student, torch_options)
            else:
                score = _student_onnx_score(self.model_dir, self.student, int8=runtime == "onnx-int8", threads=threads)
            self.run = student_runner(score, self.student)
        elif torch_options:
            self.run = torch_runner(self.model_dir, torch_options)
        else:
            self.run = onnx_runner(self.model_dir, int8=runtime == "onnx-int8", threads=threads)
        if torch_options and compile:
            self.run = two_rows_at_least(self.run)

    @classmethod
    def from_labeler(cls, labeler) -> "CrossEncoderBackend":
        """model_ref is a registry name or a folder; params hold the keyword arguments."""
        if not labeler.model_ref:
            raise ValueError(f"labeler {labeler.name!r} needs a model_ref: a registry name or a model folder")
        return cls(model_path(labeler.model_ref), **backend_params(labeler.params))

    def encode(self, pairs: Sequence[PairInput]) -> list[dict[str, list[int]]]:
        """Each pair's model inputs, unpadded (pairs_encode)."""
        return pairs_encode(self.tokenizer, self.max_length, pairs)

    def label(self, pairs: Sequence[PairInput]) -> list[Label]:
        if not pairs:
            return []
        started = time.perf_counter()
        encoded = self.encode(pairs)
        probs = np.zeros((len(pairs), len(GRADES)))
        for chunk in self._length_batches(encoded):
            probs[chunk] = grade_probabilities(self.run(self._pad([encoded[i] for i in chunk])))
        share = (time.perf_counter() - started) * 1000 / max(len(pairs), 1)
        labels = [
            label_from_distribution(row, latency_ms=share, tokens_in=len(inputs["input_ids"]))
            for row, inputs in zip(probs, encoded, strict=True)
        ]
        calibrated = self.student and student_grades(self.student, np.array([x.expected_grade for x in labels]))
        if calibrated is not None:
            for label, grade in zip(labels, calibrated, strict=True):
                label.grade = int(grade)
        return labels

    def _length_batches(self, encoded: list[dict[str, list[int]]]) -> list[list[int]]:
        """Indices in batches of similar length, so little of each batch is padding."""
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]["input_ids"]))
        return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def _pad(self, rows: list[dict[str, list[int]]]) -> Batch:
        return rows_pad(self.tokenizer, rows)


def _student_torch_score(folder: Path, config: dict, options: TorchOptions) -> Callable:
    from transformers import AutoModel

    cross = options.prepare(cls_only_last_layer(classifier_load(folder)))
    similarity = None
    if config["head"] == "hybrid":
        similarity = options.prepare(AutoModel.from_pretrained(folder / SIMILARITY_DIR).eval())
    return lambda batch: student_score(cross=cross, head=config, batch=batch_tensors(batch, options.device),
                                       similarity=similarity, cls_id=config["cls_token_id"])


def _student_onnx_score(folder: Path, config: dict, *, int8: bool, threads: int | None) -> Callable:
    """The same score from two ONNX graphs: the cross-encoder's logits and the similarity
    encoder's embeddings of the pair's two segments."""
    import torch

    cross = onnx_runner(folder, int8=int8, threads=threads)
    similarity = None
    if config["head"] == "hybrid":
        similarity = onnx_session(onnx_model_file(folder / SIMILARITY_DIR, int8=int8, embedder=True), threads=threads)

    def embed(session, inputs: dict) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {k: v.numpy() for k, v in inputs.items()})[0])

    def score(batch: Batch) -> torch.Tensor:
        residual = torch.from_numpy(cross(batch)[:, 0])
        cosine = None
        if similarity is not None:
            query, doc = segments_split(batch_tensors(batch), config["cls_token_id"])
            cosine = (embed(similarity, query) * embed(similarity, doc)).sum(-1)
        return head_score(config, residual=residual, cosine=cosine)

    return score
