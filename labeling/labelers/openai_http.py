"""Grades from any OpenAI-compatible endpoint: vLLM's server, a hosted API, llama.cpp's server,
or Assessor's own (labeling.openai_server).

How the reply is made to start at the grade: the request sends the grade prompt's system and user
messages, then its assistant prefix ("Grade: ") as a final assistant message, with
`continue_final_message: true` and `add_generation_prompt: false`. vLLM's chat endpoint and
Assessor's server then continue that message, so the grade digit is the very first token and its
`top_logprobs` give the distribution, as the local LM reads it. The chat endpoint is used (not
/v1/completions with the templated text) because only the server knows the model's chat
template. Hosted APIs refuse those two fields: set `continue_prefix=False`, and the grade is read
at the first digit the reply writes ("Grade: 2"). `api="completions"` sends the prompt templated
here instead (needs `tokenizer`), for servers without continuation.

Without logprobs (the server offers none, or `logprobs=False`) the reply's final-score line is
parsed and the label is one-hot.

A pair whose reply gives no grade, or refuses, is asked once more with a repair prompt; if that
fails too, or a content filter blocks it, or the server still times out or errs after the
retries, the pair is set aside with its reason (base.PairsSetAside) and the others keep their
labels. A request the server rejects (another 4xx: a wrong model id, a bad key) fails the
batch: every pair would fail alike.
"""

import os
import random
import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from ..model_registry import model_path
from ..prompts import prompt_load
from .base import Label, PairInput, SetAside, backend_params, label_from_distribution, labels_or_set_aside, one_hot
from .prompting import (
    GRADE_PROMPT,
    REPAIR_MESSAGE,
    chat_text,
    first_line,
    grade_messages,
    grade_of_token,
    grade_probs_from_logprobs,
    parse_grade,
)

Position = tuple[str, list[tuple[str, float]]]  # the token written, and the top (token, logprob)s


class OpenAIError(RuntimeError):
    def __init__(self, message: str, status: int | None = None, *, content_filter: bool = False):
        super().__init__(message)
        self.status = status
        self.content_filter = content_filter


# A reply that declines to grade, as chat models word it.
_REFUSAL = re.compile(r"\b(I can ?not|I can't|I cannot|I'm (?:sorry|unable|not able)|I am (?:sorry|unable|not able)"
                      r"|I won't|I will not|as an AI)\b", re.I)


@dataclass
class _Ungraded:
    """A reply with no grade: why, its text, what it cost."""

    reason: str
    text: str
    cost: dict


class OpenAIBackend:
    """Labels pairs through an OpenAI-compatible endpoint, several requests at a time."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api: str = "chat",
        continue_prefix: bool = True,
        logprobs: bool = True,
        top_logprobs: int = 20,
        max_tokens: int | None = None,
        max_concurrency: int = 4,
        requests_per_second: float | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        api_key_env: str = "OPENAI_API_KEY",
        prompt: str = GRADE_PROMPT,
        tokenizer: str | None = None,
        max_doc_tokens: int | None = None,
        max_doc_chars: int | None = 6000,
        extra_body: dict | None = None,
    ):
        if api not in ("chat", "completions"):
            raise ValueError(f"api must be 'chat' or 'completions', not {api!r}")
        self.model = model
        self.api = api
        self.continue_prefix = continue_prefix or api == "completions"  # the templated text ends with it
        self.logprobs = logprobs
        self.top_logprobs = top_logprobs
        # Continued from "Grade: ", the digit is the first token; otherwise leave room for "Grade: 2".
        self.max_tokens = max_tokens or (1 if self.continue_prefix else 16)
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self.extra_body = extra_body or {}
        self.prompt = prompt_load(prompt)
        self.prompt_version = self.prompt.version
        self.tokenizer = _tokenizer_load(tokenizer) if tokenizer else None
        if api == "completions" and self.tokenizer is None:
            raise ValueError("api='completions' needs a tokenizer (registry name or folder) for the chat template")
        self.budget = {"tokenizer": self.tokenizer, "max_tokens": max_doc_tokens, "max_chars": max_doc_chars}
        self._rate = _RateLimit(requests_per_second)
        key = os.environ.get(api_key_env)
        self.client = httpx.Client(
            base_url=base_url,
            timeout=timeout_s,
            headers={"Authorization": f"Bearer {key}"} if key else {},
            limits=httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency),
        )

    @classmethod
    def from_labeler(cls, labeler) -> "OpenAIBackend":
        """From a Labeler row: model_ref is the endpoint's model id, params hold base_url and the
        other keyword arguments."""
        return cls(labeler.model_ref, **backend_params(labeler.params))

    def close(self) -> None:
        self.client.close()

    def label(self, pairs: Sequence[PairInput]) -> list[Label]:
        started = time.perf_counter()
        with ThreadPoolExecutor(self.max_concurrency) as pool:
            results = list(pool.map(self._label_or_set_aside, pairs))
        share = (time.perf_counter() - started) * 1000 / max(len(pairs), 1)
        for result in results:
            if isinstance(result, Label):
                result.latency_ms = share
        return labels_or_set_aside(results)

    def generate(
        self,
        prompts: Sequence[list[dict] | str],
        *,
        max_new_tokens: int = 32,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> list[str]:
        """Replies' first lines. A message list ending with an assistant message is continued
        from it; a string is sent to /v1/completions as it is."""
        sampling = {"max_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p}
        if seed is not None:
            sampling["seed"] = seed

        def one(prompt: list[dict] | str) -> str:
            if isinstance(prompt, str):
                reply = self._post("completions", {"prompt": prompt, **sampling})
                return first_line(reply["choices"][0]["text"])
            prefix = prompt[-1]["content"] if prompt[-1]["role"] == "assistant" else ""
            reply = self._post("chat/completions", self._chat_body(prompt, **sampling))
            text = reply["choices"][0]["message"]["content"] or ""
            if prefix and not self.continue_prefix:  # the model may have written the prefix itself
                text = text.strip().removeprefix(prefix.strip())
            return first_line(text)

        with ThreadPoolExecutor(self.max_concurrency) as pool:
            return list(pool.map(one, prompts))

    def _chat_body(self, messages: list[dict], **sampling) -> dict:
        if messages[-1]["role"] != "assistant":
            return {"messages": messages, **sampling}
        if not self.continue_prefix:
            return {"messages": messages[:-1], **sampling}
        return {"messages": messages, "continue_final_message": True, "add_generation_prompt": False, **sampling}

    def _label_or_set_aside(self, pair: PairInput) -> Label | SetAside:
        messages = grade_messages(pair, prompt=self.prompt, **self.budget)
        try:
            first = self._grade(messages)
            if isinstance(first, Label):
                return first
            if first.reason == "content_filter":  # the same prompt would be blocked again
                return SetAside(first.reason, _clip(first.text))
            repaired = self._grade(_repair_messages(messages, first.text, continued=self.continue_prefix))
        except OpenAIError as exc:
            if exc.content_filter:
                return SetAside("content_filter", _clip(str(exc)))
            if exc.status is None or exc.status == 408:  # the retries are spent
                return SetAside("timeout", _clip(str(exc)))
            if exc.status == 429 or exc.status >= 500:
                return SetAside("server_error", _clip(str(exc)))
            raise
        if isinstance(repaired, _Ungraded):
            return SetAside(repaired.reason, _clip(f"reply {first.text!r}; after a repair prompt {repaired.text!r}"))
        repaired.tokens_in += first.cost["tokens_in"]
        repaired.tokens_out += first.cost["tokens_out"]
        repaired.extra["repaired_from"] = first.text
        return repaired

    def _grade(self, messages: list[dict]) -> Label | _Ungraded:
        sampling = {"max_tokens": self.max_tokens, "temperature": 0}
        if self.api == "completions":
            body = {"prompt": chat_text(self.tokenizer, messages), **sampling}
            if self.logprobs:
                body["logprobs"] = self.top_logprobs
            reply = self._post("completions", body)
            text, positions = _completion_reply(reply)
        else:
            body = self._chat_body(messages, **sampling)
            if self.logprobs:
                body |= {"logprobs": True, "top_logprobs": self.top_logprobs}
            reply = self._post("chat/completions", body)
            text, positions = _chat_reply(reply)
        usage = reply.get("usage") or {}
        cost = {"tokens_in": usage.get("prompt_tokens", 0), "tokens_out": usage.get("completion_tokens", 0)}
        choice = (reply.get("choices") or [{}])[0]
        if choice.get("finish_reason") == "content_filter":
            return _Ungraded("content_filter", text or "blocked by the content filter", cost)
        probs = _grade_probs(positions, continued=self.continue_prefix) if self.logprobs else None
        if probs is not None:
            return label_from_distribution(probs, extra={"source": "logprobs"}, **cost)
        grade = parse_grade(text)
        if grade is not None:
            return one_hot(grade, extra={"source": "reply", "reply": text}, **cost)
        refusal = (choice.get("message") or {}).get("refusal")
        if refusal or _REFUSAL.search(text):
            return _Ungraded("refusal", refusal or text, cost)
        return _Ungraded("unparseable", text, cost)

    def _post(self, path: str, body: dict) -> dict:
        """POST with retries: 408, 429, 5xx, timeouts and dropped connections are retried with
        exponential backoff and jitter (or the server's Retry-After); other errors are not."""
        body = {"model": self.model, **body, **self.extra_body}
        attempt = 0
        while True:
            self._rate.wait()
            delay = None
            try:
                response = self.client.post(path, json=body)
            except httpx.TransportError as exc:  # timeouts, refused or dropped connections
                error = OpenAIError(f"{path}: {type(exc).__name__}: {exc}")
            else:
                if response.is_success:
                    return response.json()
                status = response.status_code
                message = _error_message(response)
                error = OpenAIError(f"{path}: HTTP {status}: {message}", status,
                                    content_filter=status == 400 and _CONTENT_FILTER.search(message) is not None)
                if status not in (408, 429) and status < 500:
                    raise error
                delay = _retry_after(response)
            if attempt == self.max_retries:
                raise error
            if delay is None:
                ceiling = min(self.max_backoff_s, self.backoff_s * 2**attempt)
                delay = ceiling / 2 + random.uniform(0, ceiling / 2)
            time.sleep(min(self.max_backoff_s, delay))
            attempt += 1


# How hosted APIs word a prompt their content filter blocked (HTTP 400).
_CONTENT_FILTER = re.compile(r"content[ _]?(?:filter|management policy|policy)", re.I)


def _repair_messages(messages: list[dict], reply: str, *, continued: bool) -> list[dict]:
    """The grade prompt, the reply that gave no grade, and a request for the grade alone."""
    head, prefix = messages[:-1], messages[-1]["content"]
    said = (prefix + reply) if continued else reply
    return [*head, {"role": "assistant", "content": said}, {"role": "user", "content": REPAIR_MESSAGE},
            {"role": "assistant", "content": prefix}]


def _clip(text: str) -> str:
    return text if len(text) <= 500 else text[:497] + "..."


def _chat_reply(reply: dict) -> tuple[str, list[Position]]:
    choice = reply["choices"][0]
    content = (choice.get("logprobs") or {}).get("content") or []
    positions = [
        (entry["token"], [(top["token"], top["logprob"]) for top in entry.get("top_logprobs") or []]
         or [(entry["token"], entry["logprob"])])
        for entry in content
    ]
    return choice["message"].get("content") or "", positions


def _completion_reply(reply: dict) -> tuple[str, list[Position]]:
    choice = reply["choices"][0]
    logprobs = choice.get("logprobs") or {}
    tokens = logprobs.get("tokens") or []
    tops = logprobs.get("top_logprobs") or [None] * len(tokens)
    chosen = logprobs.get("token_logprobs") or [0.0] * len(tokens)
    positions = [(t, list((top or {t: lp}).items())) for t, top, lp in zip(tokens, tops, chosen, strict=True)]
    return choice.get("text") or "", positions


def _grade_probs(positions: list[Position], *, continued: bool) -> list[float] | None:
    """Grade probabilities where the reply writes its grade: the first token that is a digit
    0-3; or, continued from "Grade: ", the first position that ranks a digit among its top
    tokens (the model may prefer a newline there, yet rank the digits, as the local LM reads)."""
    for token, top in positions:
        if grade_of_token(token) is not None:
            return grade_probs_from_logprobs(top)
    if continued:
        return next(filter(None, (grade_probs_from_logprobs(top) for _, top in positions)), None)
    return None


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        code = error.get("code")
        return f"{error['message']}" + (f" ({code})" if isinstance(code, str) and code not in error["message"] else "")
    except (ValueError, KeyError, TypeError, AttributeError):
        return response.text[:500]


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers["retry-after"]))
    except (KeyError, ValueError):
        return None


def _tokenizer_load(name: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_path(name))


class _RateLimit:
    """At most `per_second` request starts a second, across threads, evenly spaced."""

    def __init__(self, per_second: float | None):
        self.interval = 1 / per_second if per_second else 0.0
        self.next_start = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_start)
            self.next_start = start + self.interval
        time.sleep(start - now)
