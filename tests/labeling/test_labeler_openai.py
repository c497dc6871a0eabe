"""The OpenAI-compatible HTTP labeler against real servers on loopback: Assessor's own
serve_openai (SmolLM2) for the grades, and a small scripted server for failures, retries,
concurrency and the rate limit."""

import json
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from django.conf import settings

from labeling.labelers.base import PairsSetAside
from labeling.labelers.openai_http import OpenAIBackend, OpenAIError
from labeling.labelers.prompting import continued_messages
from labeling.prompts import prompt_load

from .conftest import SMOLLM2, assert_valid_labels

# --- a scripted server: real HTTP, answers chosen per request ---------------------------------


class ScriptedServer(ThreadingHTTPServer):
    """Answers request n with script(n, body) -> (status, payload, headers, delay_s); records
    every request and the most requests it held at once."""

    daemon_threads = True

    def __init__(self, script) -> None:
        super().__init__(("127.0.0.1", 0), _ScriptedHandler)
        self.script = script
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _ScriptedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server = self.server
        with server.lock:
            n = len(server.requests)
            server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
        try:
            status, payload, headers, delay = server.script(n, body)
            time.sleep(delay)
            data = json.dumps(payload).encode()
            self.send_response(status)
            for key, value in {"Content-Type": "application/json", "Content-Length": str(len(data)), **headers}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            pass
        finally:
            with server.lock:
                server.in_flight -= 1

    def log_message(self, *args):
        pass


@contextmanager
def scripted(script):
    server = ScriptedServer(script)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def chat_reply(content: str, top: dict | None = None, usage=(120, 1)) -> dict:
    """An OpenAI chat completion; top: the first token's top logprobs ({token: logprob})."""
    logprobs = None
    if top is not None:
        best = max(top, key=top.__getitem__)
        tops = [{"token": t, "logprob": lp} for t, lp in top.items()]
        logprobs = {"content": [{"token": best, "logprob": top[best], "top_logprobs": tops}]}
    return {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "logprobs": logprobs}],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
    }


OK: tuple[int, dict, dict, float] = (200, chat_reply("2", {"2": -0.2, "3": -2.0, "1": -3.0}), {}, 0)


def backend_for(server, **params) -> OpenAIBackend:
    return OpenAIBackend("judge", base_url=server.base_url, backoff_s=0.01, **params)


def test_request_asks_to_continue_the_grade_prefix_with_logprobs(dl19_sample_pairs):
    with scripted(lambda n, body: OK) as server:
        label = backend_for(server).label(dl19_sample_pairs[:1])[0]
    body = server.requests[0]["body"]
    assert server.requests[0]["path"] == "/v1/chat/completions"
    assert body["model"] == "judge" and body["temperature"] == 0 and body["max_tokens"] == 1
    assert body["messages"][-1] == {"role": "assistant", "content": "Grade: "}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert body["logprobs"] is True and body["top_logprobs"] == 20
    assert label.grade == 2 and label.distribution[0] == 0 and label.distribution[2] > 0.8
    assert (label.tokens_in, label.tokens_out) == (120, 1)
    assert label.extra["source"] == "logprobs"


def test_retries_server_errors_then_succeeds(dl19_sample_pairs):
    def script(n, body):
        return (500, {"error": {"message": "overloaded"}}, {}, 0) if n < 2 else OK

    with scripted(script) as server:
        labels = backend_for(server).label(dl19_sample_pairs[:1])
    assert len(server.requests) == 3
    assert labels[0].grade == 2


def test_honours_retry_after_on_429(dl19_sample_pairs):
    def script(n, body):
        return (429, {"error": {"message": "slow down"}}, {"Retry-After": "0.3"}, 0) if n == 0 else OK

    with scripted(script) as server:
        started = time.monotonic()
        backend_for(server).label(dl19_sample_pairs[:1])
    assert len(server.requests) == 2 and time.monotonic() - started >= 0.3


def test_retries_a_timeout(dl19_sample_pairs):
    def script(n, body):
        return (*OK[:3], 2.0) if n == 0 else OK  # the first answer comes after the client gave up

    with scripted(script) as server:
        labels = backend_for(server, timeout_s=0.3).label(dl19_sample_pairs[:1])
    assert len(server.requests) == 2 and labels[0].grade == 2


def test_gives_up_after_max_retries_and_never_retries_a_bad_request(dl19_sample_pairs):
    with (  # the retries spent, the pair is set aside (tests/labeling/test_set_aside.py)
        scripted(lambda n, body: (503, {"error": {"message": "down"}}, {}, 0)) as server,
        pytest.raises(PairsSetAside, match="server_error: chat/completions: HTTP 503: down"),
    ):
        backend_for(server, max_retries=2).label(dl19_sample_pairs[:1])
    assert len(server.requests) == 3
    with (
        scripted(lambda n, body: (400, {"error": {"message": "bad field"}}, {}, 0)) as server,
        pytest.raises(OpenAIError, match="400: bad field"),
    ):
        backend_for(server).label(dl19_sample_pairs[:1])
    assert len(server.requests) == 1


def test_parses_a_final_score_line_without_logprobs(dl19_sample_pairs):
    reply = chat_reply("The passage is on the topic but never answers it.\nFinal score: 1", top=None, usage=(300, 14))
    with scripted(lambda n, body: (200, reply, {}, 0)) as server:
        label = backend_for(server, continue_prefix=False).label(dl19_sample_pairs[:1])[0]
    body = server.requests[0]["body"]
    assert body["messages"][-1]["role"] == "user" and "continue_final_message" not in body
    assert body["max_tokens"] == 16
    assert label.grade == 1 and label.distribution == [0, 1, 0, 0]
    assert label.extra == {"source": "reply", "reply": reply["choices"][0]["message"]["content"]}
    assert (label.tokens_in, label.tokens_out) == (300, 14)


def test_reads_the_grade_where_the_reply_writes_it(dl19_sample_pairs):
    """Not continued, the reply is "Grade: 3": the distribution is read at the digit."""
    tokens = [
        ("Grade", {"Grade": -0.1, "2": -4.0}),
        (":", {":": -0.01}),
        (" ", {" ": -0.01}),
        ("3", {"3": -0.3, "2": -1.5}),
    ]
    content = [
        {"token": t, "logprob": top[t], "top_logprobs": [{"token": k, "logprob": v} for k, v in top.items()]}
        for t, top in tokens
    ]
    reply = chat_reply("Grade: 3")
    reply["choices"][0]["logprobs"] = {"content": content}
    with scripted(lambda n, body: (200, reply, {}, 0)) as server:
        label = backend_for(server, continue_prefix=False).label(dl19_sample_pairs[:1])[0]
    assert label.grade == 3 and label.distribution[2] == pytest.approx(0.2315, abs=1e-3)


def test_an_unparseable_reply_is_never_stored_as_a_grade(dl19_sample_pairs):
    reply = chat_reply("It depends.")
    with (
        scripted(lambda n, body: (200, reply, {}, 0)) as server,
        pytest.raises(PairsSetAside, match=r"unparseable: reply 'It depends\.'; after a repair prompt 'It depends\.'"),
    ):
        backend_for(server, continue_prefix=False).label(dl19_sample_pairs[:1])
    assert len(server.requests) == 2  # the reply, then one repair prompt


def test_concurrency_is_bounded_and_order_kept(dl19_sample_pairs):
    pairs = dl19_sample_pairs[:8]
    expected = [i % 4 for i in range(8)]

    def script(n, body):  # each reply grades by the pair's position, so order can be checked
        grade = next(g for pair, g in zip(pairs, expected, strict=True) if pair.text in body["messages"][1]["content"])
        return 200, chat_reply(str(grade), {str(grade): -0.1}), {}, 0.2

    with scripted(script) as server:
        labels = backend_for(server, max_concurrency=3).label(pairs)
    assert server.max_in_flight == 3
    assert [label.grade for label in labels] == expected


def test_rate_limit_spaces_requests(dl19_sample_pairs):
    with scripted(lambda n, body: OK) as server:
        started = time.monotonic()
        backend_for(server, max_concurrency=4, requests_per_second=10).label(dl19_sample_pairs[:6])
    assert time.monotonic() - started >= 0.5  # 6 starts, 0.1 s apart


def test_api_key_comes_from_the_named_environment_variable(dl19_sample_pairs, monkeypatch):
    monkeypatch.setenv("JUDGE_KEY", "sk-test")
    with scripted(lambda n, body: OK) as server:
        backend_for(server, api_key_env="JUDGE_KEY").label(dl19_sample_pairs[:1])
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        backend_for(server).label(dl19_sample_pairs[:1])
    assert server.requests[0]["headers"]["Authorization"] == "Bearer sk-test"
    assert "Authorization" not in server.requests[1]["headers"]


# --- against serve_openai: the same grades as the local LM -------------------------------------


@pytest.fixture(scope="module")
def serve_openai(tmp_path_factory):
    """`manage.py serve_openai` with SmolLM2 as a subprocess on a free loopback port."""
    log_path = tmp_path_factory.mktemp("serve_openai") / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "serve_openai", "--model", SMOLLM2, "--port", "0", "--device", "cpu"],
            cwd=settings.BASE_DIR,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base_url = _wait_for_server(proc, log_path)
            yield base_url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_for_server(proc, log_path, timeout=120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"serve_openai exited:\n{log_path.read_text()}")
        line = next((s for s in log_path.read_text().splitlines() if s.startswith("Serving ")), None)
        if line:
            base_url = line.rsplit(" at ", 1)[1]
            models = httpx.get(f"{base_url}/models", timeout=5).json()
            assert [m["id"] for m in models["data"]] == [SMOLLM2]
            return base_url
        time.sleep(0.2)
    raise RuntimeError(f"serve_openai not ready after {timeout}s:\n{log_path.read_text()}")


@pytest.mark.slow
def test_same_grades_as_the_local_lm_on_the_dl19_sample(serve_openai, local_lm_labels, dl19_sample_pairs):
    backend = OpenAIBackend(SMOLLM2, base_url=serve_openai, tokenizer=SMOLLM2, max_doc_tokens=256)
    labels = backend.label(dl19_sample_pairs)
    backend.close()
    assert_valid_labels(labels, 50)
    for label, local in zip(labels, local_lm_labels, strict=True):
        assert label.grade == local.grade
        assert label.distribution == pytest.approx(local.distribution, abs=2e-3)
        assert label.tokens_in == local.tokens_in  # the server saw exactly the local LM's prompt
        assert label.extra["source"] == "logprobs"


@pytest.mark.slow
def test_completions_api_and_the_reply_fallback_match_the_local_lm(serve_openai, local_lm_labels, dl19_sample_pairs):
    pairs, local = dl19_sample_pairs[:10:3], local_lm_labels[:10:3]
    budget = {"tokenizer": SMOLLM2, "max_doc_tokens": 256}
    completions = OpenAIBackend(SMOLLM2, base_url=serve_openai, api="completions", **budget)
    for label, ref in zip(completions.label(pairs), local, strict=True):
        assert label.distribution == pytest.approx(ref.distribution, abs=2e-3)
    # No logprobs: the server's greedy reply after "Grade: " is parsed (SmolLM2 writes a digit).
    no_logprobs = OpenAIBackend(SMOLLM2, base_url=serve_openai, logprobs=False, **budget)
    labels = no_logprobs.label(pairs)
    assert [label.extra["source"] for label in labels] == ["reply"] * len(pairs)
    assert [label.grade for label in labels] == [ref.grade for ref in local]
    assert all(sorted(label.distribution) == [0, 0, 0, 1] for label in labels)


@pytest.mark.slow
def test_generates_the_same_queries_as_the_local_lm(serve_openai, local_lm, dl19_sample_pairs):
    prompt = prompt_load("generate-query-v1")
    text = dl19_sample_pairs[0].text
    messages = [continued_messages(prompt, title="", author="", modified="", text=text, kind="informational")]
    backend = OpenAIBackend(SMOLLM2, base_url=serve_openai)
    assert backend.generate(messages, max_new_tokens=8) == local_lm.generate(messages, max_new_tokens=8)
