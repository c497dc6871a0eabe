"""The vLLM engine labeler: the same 50 DL19 pairs, the same grades as the local LM. On a GPU
worker (requirements-gpu.txt) or on CPU with vLLM's CPU build (`./assessor test-vllm`'s
environment, requirements-vllm.txt). Skipped where vllm is not installed."""

import importlib

import numpy as np
import pytest

from labeling.labelers.prompting import continued_messages
from labeling.prompts import prompt_load

from .conftest import SMOLLM2, assert_valid_labels

vllm = pytest.importorskip("vllm", reason="vllm is not installed (GPU workers: pip install -r requirements-gpu.txt)")
torch = pytest.importorskip("torch")

CPU_BUILD = importlib.import_module("vllm.platforms").current_platform.is_cpu()

pytestmark = [
    pytest.mark.slow,
    pytest.mark.vllm,
    pytest.mark.skipif(not (torch.cuda.is_available() or CPU_BUILD), reason="vllm here needs a CUDA GPU"),
]


@pytest.fixture(scope="module")
def vllm_backend():
    from labeling.labelers.vllm_engine import VLLMBackend

    # fp32, as the local LM on CPU, so grades can be compared pair by pair.
    return VLLMBackend(SMOLLM2, max_doc_tokens=256, dtype="float32", gpu_memory_utilization=0.3)


def test_labels_the_dl19_sample_like_the_local_lm(vllm_backend, local_lm, local_lm_labels, dl19_sample_pairs):
    labels = vllm_backend.label(dl19_sample_pairs)
    assert_valid_labels(labels, 50)
    assert vllm_backend.prompt_version == local_lm.prompt_version
    assert [label.tokens_in for label in labels] == [label.tokens_in for label in local_lm_labels]
    distance = np.abs(np.array([a.distribution for a in labels]) - [b.distribution for b in local_lm_labels])
    assert distance.max() < 0.02  # GPU kernels differ from CPU ones; grades only flip on near ties
    agree = np.mean([a.grade == b.grade for a, b in zip(labels, local_lm_labels, strict=True)])
    assert agree >= 0.95


def test_generates_queries(vllm_backend, dl19_sample_pairs):
    prompt = prompt_load("generate-query-v1")
    messages = [
        continued_messages(prompt, title="", author="", modified="", text=pair.text, kind="informational")
        for pair in dl19_sample_pairs[:4]
    ]
    queries = vllm_backend.generate(messages, max_new_tokens=16)
    assert len(queries) == 4 and all(q and "\n" not in q for q in queries)
    assert vllm_backend.generate(messages, max_new_tokens=16, temperature=1.0, seed=3) == vllm_backend.generate(
        messages, max_new_tokens=16, temperature=1.0, seed=3
    )
