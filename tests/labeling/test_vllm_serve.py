"""A real `vllm serve` (vLLM's CPU build, in the environment `./assessor test-vllm` builds from
requirements-vllm.txt) on the converted SmolLM2 folder, on a loopback port, and the project's
OpenAI backend against it on the 50 DL19 pairs, beside the local LM backend in the same process
(so under vLLM's transformers too). Skipped where vllm is not installed (the main venv).

Tolerance: vLLM's CPU kernels are not transformers' (fused attention, another matmul order), so
distributions may differ by up to TOLERANCE per grade and a grade may flip on a near tie; at
least MIN_AGREEMENT of the 50 grades must be the local LM's."""

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from labeling.labelers.openai_http import OpenAIBackend
from labeling.model_registry import model_path

from .conftest import SMOLLM2, assert_valid_labels

pytest.importorskip("vllm", reason="vllm is not installed (./assessor test-vllm builds its environment)")

pytestmark = [pytest.mark.slow, pytest.mark.vllm]

TOLERANCE = 0.02
MIN_AGREEMENT = 0.94
BUDGET = {"tokenizer": SMOLLM2, "max_doc_tokens": 256}  # the local_lm fixture's document budget


class VLLMServer:
    """`vllm serve` in a subprocess on a fixed loopback port, so it can be restarted in place."""

    def __init__(self, folder: Path, log: Path):
        self.folder, self.log = folder, log
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 400) -> float:
        """Start and wait until it serves; the seconds that took."""
        started = time.monotonic()
        args = [sys.executable, str(Path(__file__).with_name("vllm_serve.py")), str(self.folder),
                "--host", "127.0.0.1", "--port", str(self.port), "--served-model-name", SMOLLM2,
                "--dtype", "float32", "--max-model-len", "2048", "--max-logprobs", "20"]
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"),
               "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vllm serve exited:\n{self.log.read_text()[-5000:]}")
            try:
                if httpx.get(f"{self.url}/models", timeout=2).json()["data"][0]["id"] == SMOLLM2:
                    return time.monotonic() - started
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"vllm serve not ready after {timeout}s:\n{self.log.read_text()[-5000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory):
    server = VLLMServer(model_path(SMOLLM2), tmp_path_factory.mktemp("vllm") / "serve.log")  # converted as ever
    print(f"\nvllm serve ready in {server.start():.0f} s")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chat_labels(vllm_server, dl19_sample_pairs):
    backend = OpenAIBackend(SMOLLM2, base_url=vllm_server.url, max_concurrency=4, **BUDGET)
    started = time.monotonic()
    labels = backend.label(dl19_sample_pairs)
    print(f"\nOpenAI backend on vllm serve: 50 pairs in {time.monotonic() - started:.1f} s")
    backend.close()
    return labels


def _compare(labels, local_labels) -> tuple[float, float]:
    distance = np.abs(np.array([a.distribution for a in labels]) - [b.distribution for b in local_labels])
    agree = float(np.mean([a.grade == b.grade for a, b in zip(labels, local_labels, strict=True)]))
    return float(distance.max()), agree


def test_chat_with_logprobs_grades_like_the_local_lm(chat_labels, local_lm_labels):
    assert_valid_labels(chat_labels, 50)
    assert all(label.extra["source"] == "logprobs" for label in chat_labels)
    # vLLM templated the continued "Grade: " exactly as the local LM: the same prompt tokens.
    assert [label.tokens_in for label in chat_labels] == [label.tokens_in for label in local_lm_labels]
    distance, agree = _compare(chat_labels, local_lm_labels)
    print(f"\nchat vs local LM: max |Δp| {distance:.4f}, grades agree {agree:.2f}")
    assert distance < TOLERANCE and agree >= MIN_AGREEMENT


def test_completions_and_the_reply_fallback(vllm_server, local_lm_labels, dl19_sample_pairs):
    completions = OpenAIBackend(SMOLLM2, base_url=vllm_server.url, api="completions", **BUDGET)
    labels = completions.label(dl19_sample_pairs)
    distance, agree = _compare(labels, local_lm_labels)
    print(f"\ncompletions vs local LM: max |Δp| {distance:.4f}, grades agree {agree:.2f}")
    assert distance < TOLERANCE and agree >= MIN_AGREEMENT
    # No logprobs: vLLM's greedy reply after "Grade: " is parsed, the label one-hot.
    pairs, local = dl19_sample_pairs[::5], local_lm_labels[::5]
    replies = OpenAIBackend(SMOLLM2, base_url=vllm_server.url, logprobs=False, **BUDGET).label(pairs)
    assert [label.extra["source"] for label in replies] == ["reply"] * len(pairs)
    assert all(sorted(label.distribution) == [0, 0, 0, 1] for label in replies)
    assert np.mean([a.grade == b.grade for a, b in zip(replies, local, strict=True)]) >= 0.9


def test_concurrent_requests_ride_out_a_server_restart(vllm_server, chat_labels, dl19_sample_pairs):
    """The server is stopped while the backend has requests in flight and started again on the
    same port; the retries carry every pair through, to the same grades."""
    backend = OpenAIBackend(SMOLLM2, base_url=vllm_server.url, max_concurrency=4, max_retries=100,
                            backoff_s=0.5, max_backoff_s=3.0, timeout_s=60, **BUDGET)
    result: dict = {}

    def label() -> None:
        result["labels"] = backend.label(dl19_sample_pairs)
        result["finished"] = time.monotonic()

    worker = threading.Thread(target=label)
    worker.start()
    time.sleep(1.0)  # requests in flight
    assert worker.is_alive()
    vllm_server.stop()
    stopped = time.monotonic()
    restart = vllm_server.start()
    worker.join(timeout=600)
    assert not worker.is_alive()
    print(f"\nrestarted in {restart:.0f} s; labeling finished {result['finished'] - stopped:.0f} s after the stop")
    assert result["finished"] > stopped + restart  # it waited for the new server
    labels = result["labels"]
    assert_valid_labels(labels, 50)
    assert [a.grade for a in labels] == [b.grade for b in chat_labels]
    backend.close()
