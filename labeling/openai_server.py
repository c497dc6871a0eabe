"""Assessor's own OpenAI-compatible server over a local causal LM: GET /v1/models,
POST /v1/chat/completions and POST /v1/completions, with logprobs, in OpenAI's response shapes.

It lets the HTTP labeler be tested against a real server process and lets other tools use the
offline models. Like vLLM's server, a chat request with `continue_final_message: true` continues
its final assistant message ("Grade: ") instead of starting a new reply. Requests run one at a
time (the model is not shared across threads); no streaming, n = 1.
"""

import json
import logging
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast

from .labelers.local_lm import Completion, LocalLMBackend
from .labelers.prompting import chat_text

logger = logging.getLogger(__name__)

MAX_TOP_LOGPROBS = 20
DEFAULT_CHAT_MAX_TOKENS = 256


class RequestError(Exception):
    def __init__(self, status: HTTPStatus, message: str, code: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.code = status, code


class OpenAIServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], *, backend: LocalLMBackend, model_name: str):
        super().__init__(address, _Handler)
        self.backend = backend
        self.model_name = model_name
        self.model_lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = cast(tuple[str, int], self.server_address[:2])  # an AF_INET server's (host, port)
        return f"http://{host}:{port}/v1"


def openai_server_create(
    *, model_ref: str, host: str = "127.0.0.1", port: int = 8001, served_model_name: str | None = None, **backend_params
) -> OpenAIServer:
    """Load the model and bind the server (port 0: any free port; see .url); serve_forever runs it."""
    backend = LocalLMBackend(model_ref, **backend_params)
    return OpenAIServer((host, port), backend=backend, model_name=served_model_name or model_ref)


def chat_completion(server: OpenAIServer, body: dict) -> dict:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(HTTPStatus.BAD_REQUEST, "messages must be a non-empty list")
    messages = [{"role": m["role"], "content": _text_content(m.get("content"))} for m in messages]
    tokenizer = server.backend.tokenizer
    if body.get("continue_final_message"):
        if messages[-1]["role"] != "assistant":
            raise RequestError(HTTPStatus.BAD_REQUEST, "continue_final_message needs a final assistant message")
        prompt = chat_text(tokenizer, messages)
    else:
        add = body.get("add_generation_prompt", True)
        # With tokenize=False the template's text (transformers types every return form).
        prompt = cast(str, tokenizer.apply_chat_template(messages, add_generation_prompt=add, tokenize=False))
    top_n = _top_logprobs(body.get("top_logprobs") or 0) if body.get("logprobs") else None
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_CHAT_MAX_TOKENS
    completion = _complete(server, body, prompt, max_tokens, top_n or 0)
    logprobs = None
    if top_n is not None:
        logprobs = {
            "content": [
                {
                    **_token(token, logprob),
                    "top_logprobs": [_token(t, lp) for t, lp in top],
                }
                for token, logprob, top in zip(
                    completion.tokens, completion.logprobs, completion.top_logprobs, strict=True
                )
            ]
        }
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": completion.text},
        "logprobs": logprobs,
        "finish_reason": completion.finish_reason,
    }
    return _response(server, "chat.completion", "chatcmpl", choice, completion)


def text_completion(server: OpenAIServer, body: dict) -> dict:
    """/v1/completions: the prompt is sent as it is (already templated, special tokens included)."""
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise RequestError(HTTPStatus.BAD_REQUEST, "prompt must be one non-empty string")
    top_n = body.get("logprobs")
    top_n = None if top_n is None or top_n is False else _top_logprobs(top_n)
    completion = _complete(server, body, prompt, body.get("max_tokens") or 16, top_n or 0)
    logprobs = None
    if top_n is not None:
        offsets, offset = [], len(prompt)
        for token in completion.tokens:
            offsets.append(offset)
            offset += len(token)
        logprobs = {
            "tokens": completion.tokens,
            "token_logprobs": completion.logprobs,
            "top_logprobs": [dict(top) for top in completion.top_logprobs],
            "text_offset": offsets,
        }
    choice = {"index": 0, "text": completion.text, "logprobs": logprobs, "finish_reason": completion.finish_reason}
    return _response(server, "text_completion", "cmpl", choice, completion)


def _complete(server: OpenAIServer, body: dict, prompt: str, max_tokens: int, top_n: int) -> Completion:
    if body.get("stream"):
        raise RequestError(HTTPStatus.BAD_REQUEST, "streaming is not supported")
    if body.get("n", 1) != 1:
        raise RequestError(HTTPStatus.BAD_REQUEST, "only n = 1 is supported")
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise RequestError(HTTPStatus.BAD_REQUEST, "max_tokens must be a positive integer")
    temperature = body.get("temperature")
    with server.model_lock:
        return server.backend.complete(
            [prompt],
            max_new_tokens=max_tokens,
            temperature=1.0 if temperature is None else float(temperature),  # OpenAI's default
            top_p=float(body.get("top_p") or 1.0),
            seed=body.get("seed"),
            top_logprobs=top_n,
        )[0]


def _response(server: OpenAIServer, kind: str, prefix: str, choice: dict, completion: Completion) -> dict:
    completion_tokens = len(completion.token_ids)
    return {
        "id": f"{prefix}-{uuid.uuid4().hex}",
        "object": kind,
        "created": int(time.time()),
        "model": server.model_name,
        "choices": [choice],
        "usage": {
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": completion.prompt_tokens + completion_tokens,
        },
    }


def _token(token: str, logprob: float) -> dict:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode())}


def _top_logprobs(value) -> int:
    if not isinstance(value, int) or not 0 <= value <= MAX_TOP_LOGPROBS:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"top logprobs must be an integer from 0 to {MAX_TOP_LOGPROBS}")
    return value


def _text_content(content) -> str:
    """A message's text: a string, or OpenAI's list of {"type": "text", "text": ...} parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return "".join(part["text"] for part in content)
    raise RequestError(HTTPStatus.BAD_REQUEST, "message content must be text")


ROUTES = {"/v1/chat/completions": chat_completion, "/v1/completions": text_completion}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse their connections
    server: OpenAIServer

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/v1/models":
            return self._error(RequestError(HTTPStatus.NOT_FOUND, f"no route {self.path}", "not_found"))
        model = {"id": self.server.model_name, "object": "model", "created": 0, "owned_by": "assessor"}
        self._send(HTTPStatus.OK, {"object": "list", "data": [model]})

    def do_POST(self) -> None:
        try:
            handler = ROUTES.get(self.path.rstrip("/"))
            body = self._body()
            if handler is None:
                raise RequestError(HTTPStatus.NOT_FOUND, f"no route {self.path}", "not_found")
            if body.get("model", self.server.model_name) != self.server.model_name:
                raise RequestError(
                    HTTPStatus.NOT_FOUND, f"the model {body['model']!r} does not exist", "model_not_found"
                )
            self._send(HTTPStatus.OK, handler(self.server, body))
        except RequestError as exc:
            self._error(exc)
        except (KeyError, TypeError, ValueError) as exc:
            self._error(RequestError(HTTPStatus.BAD_REQUEST, f"malformed request: {exc}"))

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError as exc:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"the body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise RequestError(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        return body

    def _error(self, exc: RequestError) -> None:
        self._send(exc.status, {"error": {"message": str(exc), "type": exc.code, "code": exc.status.value}})

    def _send(self, status: HTTPStatus, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:
        logger.info("%s %s", self.address_string(), format % args)
