"""Batched offline inference on a GPU worker with vLLM: the local LM's prompt text, graded from
the top logprobs of the first token; prefix caching shares the prompt's common head (system
message and instructions) across every pair."""

import math
import time
from collections.abc import Sequence

from ..model_registry import model_path
from ..prompts import prompt_load
from .base import Label, PairInput, SetAside, backend_params, label_from_distribution, labels_or_set_aside
from .prompting import GRADE_PROMPT, chat_text, first_line, grade_messages, grade_token_ids


class VLLMBackend:
    """Labels pairs with a vLLM engine in this process (needs vllm and a GPU)."""

    def __init__(
        self,
        model_ref: str,
        *,
        prompt: str = GRADE_PROMPT,
        max_doc_tokens: int | None = 512,
        max_doc_chars: int | None = None,
        top_logprobs: int = 20,
        dtype: str = "auto",
        gpu_memory_utilization: float = 0.85,
        max_model_len: int | None = None,
        engine_args: dict | None = None,
    ):
        from vllm import LLM, SamplingParams  # GPU workers only: requirements-gpu.txt

        self._sampling = SamplingParams
        self.llm = LLM(
            model=str(model_path(model_ref)),
            enable_prefix_caching=True,
            dtype=dtype,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            max_logprobs=max(top_logprobs, 20),
            **(engine_args or {}),
        )
        self.tokenizer = self.llm.get_tokenizer()
        self.prompt = prompt_load(prompt)
        self.prompt_version = self.prompt.version
        self.top_logprobs = top_logprobs
        self.budget = {"tokenizer": self.tokenizer, "max_tokens": max_doc_tokens, "max_chars": max_doc_chars}
        self.grade_ids = grade_token_ids(self.tokenizer)

    @classmethod
    def from_labeler(cls, labeler) -> "VLLMBackend":
        return cls(labeler.model_ref, **backend_params(labeler.params))

    def prompt_text(self, pair: PairInput) -> str:
        return chat_text(self.tokenizer, grade_messages(pair, prompt=self.prompt, **self.budget))

    def label(self, pairs: Sequence[PairInput]) -> list[Label]:
        if not pairs:
            return []
        started = time.perf_counter()
        params = self._sampling(max_tokens=1, logprobs=self.top_logprobs, temperature=0)
        outputs = self.llm.generate([self._tokens(self.prompt_text(p)) for p in pairs], params, use_tqdm=False)
        share = (time.perf_counter() - started) * 1000 / len(pairs)
        labels: list[Label | SetAside] = []
        for output in outputs:
            top = output.outputs[0].logprobs[0]  # token id -> Logprob, the first generated position
            probs = [sum(math.exp(top[i].logprob) for i in ids if i in top) for ids in self.grade_ids]
            if not any(probs):
                labels.append(SetAside("unparseable", f"no grade token among the top {self.top_logprobs}"))
                continue
            labels.append(
                label_from_distribution(
                    probs,
                    latency_ms=share,
                    tokens_in=len(output.prompt_token_ids),
                    tokens_out=len(output.outputs[0].token_ids),
                    extra={"grade_mass": round(sum(probs), 6)},
                )
            )
        return labels_or_set_aside(labels)

    def generate(
        self,
        prompts: Sequence[list[dict] | str],
        *,
        max_new_tokens: int = 32,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> list[str]:
        """Replies' first lines; message lists are templated (a final assistant message is continued)."""
        params = self._sampling(max_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed)
        texts = [p if isinstance(p, str) else chat_text(self.tokenizer, p) for p in prompts]
        outputs = self.llm.generate([self._tokens(t) for t in texts], params, use_tqdm=False)
        return [first_line(output.outputs[0].text) for output in outputs]

    def _tokens(self, text: str) -> dict:
        # Token ids, not text: vLLM would add special tokens the chat template already holds.
        return {"prompt_token_ids": self.tokenizer.encode(text, add_special_tokens=False)}
