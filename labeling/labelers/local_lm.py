"""A causal LM in this process (transformers): grades from the next-token probabilities of the
grade digits after "Grade: ", and greedy or sampled generation (queries; the OpenAI server)."""

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
from transformers.modeling_outputs import CausalLMOutputWithPast

from ..model_registry import model_path
from ..prompts import prompt_load
from .base import Label, PairInput, backend_params, device_resolve, label_from_distribution, sdpa_without_cudnn
from .prompting import GRADE_PROMPT, chat_text, first_line, grade_messages, grade_token_ids

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# transformers 5.2x calls the KV cache `cache` (argument and output); earlier releases, which GPU
# images and vLLM's environment may hold, call it `past_key_values`.
CACHE = "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"


def dtype_resolve(dtype: str, device: torch.device) -> torch.dtype:
    """bf16 on a GPU that has it; fp32 on CPU, the reference numerics (dtype="bfloat16" is faster
    on CPUs with AVX512-BF16 or AMX, at some cost in agreement with fp32 grades)."""
    if dtype == "auto":
        bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if bf16 else torch.float32
    return DTYPES[dtype]


@dataclass
class Completion:
    """One generated reply, token by token, with what OpenAI's logprobs report."""

    text: str
    token_ids: list[int]
    tokens: list[str]
    logprobs: list[float]
    top_logprobs: list[list[tuple[str, float]]]  # per token, best first; empty lists if not asked
    prompt_tokens: int
    finish_reason: str  # "stop" (end of turn) or "length"


class LocalLMBackend:
    """Labels pairs with a local causal LM; `generate` writes queries with it."""

    def __init__(
        self,
        model_ref: str,
        *,
        prompt: str = GRADE_PROMPT,
        batch_size: int = 8,
        max_doc_tokens: int | None = 512,
        max_doc_chars: int | None = None,
        device: str = "auto",
        dtype: str = "auto",
    ):
        from transformers import AutoModelForCausalLM, AutoTokenizer  # heavy: only when used

        self.device = device_resolve(device)
        self.dtype = dtype_resolve(dtype, self.device)
        folder = model_path(model_ref)
        self.tokenizer = AutoTokenizer.from_pretrained(folder, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=self.dtype).to(self.device).eval()
        self.prompt = prompt_load(prompt)
        self.prompt_version = self.prompt.version
        self.batch_size = batch_size
        self.budget = {"tokenizer": self.tokenizer, "max_tokens": max_doc_tokens, "max_chars": max_doc_chars}
        self.grade_ids = grade_token_ids(self.tokenizer)
        eos = self.model.generation_config.eos_token_id
        self.eos_ids = {*(eos if isinstance(eos, list) else [eos]), self.tokenizer.eos_token_id} - {None}
        self._head_ids: list[int] | None = None  # see _head; not thread-safe (callers serialise)
        self._head_cache: Any = None  # the head's KV cache (a transformers Cache)

    @classmethod
    def from_labeler(cls, labeler) -> "LocalLMBackend":
        """From a Labeler row: model_ref names the model, params hold the keyword arguments."""
        return cls(labeler.model_ref, **backend_params(labeler.params))

    def prompt_text(self, pair: PairInput) -> str:
        """The exact text the model continues for a pair (ends with the assistant prefix)."""
        return chat_text(self.tokenizer, grade_messages(pair, prompt=self.prompt, **self.budget))

    def encode(self, text: str) -> list[int]:
        # The chat template already holds the special tokens.
        return self.tokenizer.encode(text, add_special_tokens=False)

    def label(self, pairs: Sequence[PairInput]) -> list[Label]:
        if not pairs:
            return []
        started = time.perf_counter()
        encoded = [self.encode(self.prompt_text(pair)) for pair in pairs]
        probs: list[list[float]] = [[] for _ in pairs]
        with torch.inference_mode(), sdpa_without_cudnn():
            head = self._head(encoded)
            for chunk in self._length_batches(encoded):
                for index, row in zip(chunk, self._grade_probs([encoded[i] for i in chunk], head), strict=True):
                    probs[index] = row
        share = (time.perf_counter() - started) * 1000 / len(pairs)
        return [
            label_from_distribution(
                row,
                latency_ms=share,
                tokens_in=len(ids),
                tokens_out=1,
                extra={"grade_mass": round(sum(row), 6)},  # how much the model wanted to answer a digit
            )
            for row, ids in zip(probs, encoded, strict=True)
        ]

    def generate(
        self,
        prompts: Sequence[list[dict] | str],
        *,
        max_new_tokens: int = 32,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> list[str]:
        """Replies' first lines. A prompt is a message list (a final assistant message, such as
        "Query:", is continued) or already templated text. temperature 0 is greedy."""
        texts = [p if isinstance(p, str) else chat_text(self.tokenizer, p) for p in prompts]
        completions = self.complete(
            texts, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed
        )
        return [first_line(c.text) for c in completions]

    def complete(
        self,
        texts: Sequence[str],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        top_logprobs: int = 0,
    ) -> list[Completion]:
        """Continue each templated text, with the raw model logprob of every generated token.
        temperature 0 is greedy; a seed makes sampling repeatable without touching global RNGs."""
        if not texts:
            return []
        generator = None if seed is None else torch.Generator(self.device).manual_seed(seed)
        encoded = [self.encode(text) for text in texts]
        results: dict[int, Completion] = {}  # by the text's index
        with torch.inference_mode(), sdpa_without_cudnn():
            head = self._head(encoded)
            for chunk in self._length_batches(encoded):
                decoding = _Decoding(self, [encoded[i] for i in chunk], head)
                picked, chosen, tops = [], [], []
                for step in range(max_new_tokens):
                    logprobs = decoding.logits.float().log_softmax(-1)
                    ids = _pick(logprobs, temperature, top_p, generator)
                    picked.append(ids)
                    chosen.append(logprobs.gather(1, ids[:, None])[:, 0])
                    if top_logprobs:
                        tops.append(logprobs.topk(top_logprobs, dim=-1))
                    decoding.finished |= torch.isin(ids, decoding.eos)
                    if decoding.finished.all() or step == max_new_tokens - 1:
                        break
                    decoding.step(ids)
                for row, index in enumerate(chunk):
                    results[index] = self._completion(
                        [int(ids[row]) for ids in picked],
                        [float(lp[row]) for lp in chosen],
                        [list(zip(v[row].tolist(), t[row].tolist(), strict=True)) for v, t in tops],
                        prompt_tokens=len(encoded[index]),
                    )
        return [results[i] for i in range(len(texts))]

    def _completion(
        self, ids: list[int], logprobs: list[float], tops: list[list[tuple[float, int]]], prompt_tokens: int
    ) -> Completion:
        end = next((i for i, t in enumerate(ids) if t in self.eos_ids), None)
        keep = len(ids) if end is None else end  # the end-of-turn token is not part of the reply

        def decode(token_ids: list[int], skip_special_tokens: bool = False) -> str:
            # Typed str | list[str] by transformers: one sequence of ids decodes to one str.
            return cast(str, self.tokenizer.decode(token_ids, skip_special_tokens=skip_special_tokens))

        return Completion(
            text=decode(ids[:keep], skip_special_tokens=True),
            token_ids=ids[:keep],
            tokens=[decode([t]) for t in ids[:keep]],
            logprobs=logprobs[:keep],
            top_logprobs=[[(decode([t]), lp) for lp, t in top] for top in tops[:keep]] or [[] for _ in ids[:keep]],
            prompt_tokens=prompt_tokens,
            finish_reason="length" if end is None else "stop",
        )

    def _length_batches(self, encoded: list[list[int]]) -> list[list[int]]:
        """Indices in batches of similar length, so little of each batch is padding."""
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def _head(self, rows: list[list[int]]) -> int:
        """How many leading tokens every row shares with the cached head, computing the head's
        KV cache when it changes. Every grade prompt opens with the same ~200 tokens (system
        message, instructions), so each batch then runs only its own tail: a one-entry prefix
        cache that settles on the shared head after two calls (the server sends one at a time).
        """
        limit = max(0, min(_common_prefix_len(rows), min(len(r) for r in rows) - 1))  # a row keeps a token
        candidate = rows[0][:limit]
        if self._head_ids is not None:
            shared = _common_prefix_len([self._head_ids, candidate])
            if shared == len(self._head_ids):
                return shared
            if shared >= MIN_HEAD:
                candidate = candidate[:shared]
        self._head_ids, self._head_cache = candidate, None
        if candidate:
            ids = torch.tensor([candidate], device=self.device)
            self._head_cache = getattr(self.model(input_ids=ids, use_cache=True), CACHE)
        return len(candidate)

    def _grade_probs(self, rows: list[list[int]], head: int) -> list[list[float]]:
        """P(each grade) as the next token: the softmax over the whole vocabulary, summed over
        each grade's token variants (normalised over the grades by label_from_distribution)."""
        probs = _Decoding(self, rows, head).logits.float().softmax(-1)
        return [[float(probs[row, ids].sum()) for ids in self.grade_ids] for row in range(len(rows))]


MIN_HEAD = 16  # a shorter shared head is not worth keeping between calls


def _common_prefix_len(rows: list[list[int]]) -> int:
    length = min(len(r) for r in rows)
    for i in range(length):
        token = rows[0][i]
        if any(r[i] != token for r in rows):
            return i
    return length


def _pick(logprobs: torch.Tensor, temperature: float, top_p: float, generator) -> torch.Tensor:
    if temperature <= 0:
        return logprobs.argmax(-1)
    probs = (logprobs / temperature).softmax(-1)
    if top_p < 1:
        sorted_probs, order = probs.sort(-1, descending=True)
        cut = sorted_probs.cumsum(-1) - sorted_probs >= top_p  # keeps at least the best token
        probs = probs.scatter(-1, order, sorted_probs.masked_fill(cut, 0))
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


class _Decoding:
    """A batch being decoded: its rows' tails run after a copy of the shared head's KV cache,
    left-padded, with positions that count real tokens only, so a padded row computes what it
    would alone. `logits` are the next-token logits of every row."""

    def __init__(self, backend: LocalLMBackend, rows: list[list[int]], head: int):
        self.model = backend.model
        tails = backend.tokenizer.pad({"input_ids": [r[head:] for r in rows]}, padding=True, return_tensors="pt")
        ids, tail_mask = tails["input_ids"].to(backend.device), tails["attention_mask"].to(backend.device)
        cache = None
        if head:
            cache = copy.deepcopy(backend._head_cache)
            cache.batch_repeat_interleave(len(rows))
        self.mask = torch.cat([tail_mask.new_ones(len(rows), head), tail_mask], dim=1)
        positions = (head + tail_mask.cumsum(-1) - 1).clamp(min=0)
        self.next_position = positions[:, -1:] + 1
        self.eos = torch.tensor(sorted(backend.eos_ids), device=backend.device)
        self.finished = torch.zeros(len(rows), dtype=torch.bool, device=backend.device)
        self.logits = self._forward(ids, positions, cache)

    def step(self, ids: torch.Tensor) -> None:
        self.mask = torch.cat([self.mask, self.mask.new_ones(len(ids), 1)], dim=1)
        positions, self.next_position = self.next_position, self.next_position + 1
        self.logits = self._forward(ids[:, None], positions, self.cache)

    def _forward(self, ids: torch.Tensor, positions: torch.Tensor, cache) -> torch.Tensor:
        out = self.model(
            input_ids=ids,
            attention_mask=self.mask,
            position_ids=positions,
            use_cache=True,
            **{CACHE: cache},
            logits_to_keep=1,  # the vocabulary projection for the last position only
        )
        self.cache = getattr(out, CACHE)
        return out.logits[:, -1]
