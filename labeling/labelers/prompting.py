"""What every generative backend shares: the grade prompt's messages for a pair, the chat text a
model continues, the grade tokens, and reading a grade back from logprobs or from a reply.

Convention: a message list whose last message is the assistant's is *continued* from that
message ("Grade: "), never answered anew, so the grade digit is the very next token.
"""

import math
import re
from collections.abc import Iterable

from ..grades import GRADES
from ..prompts import Prompt, prompt_load
from .base import PairInput

GRADE_PROMPT = "grade-v1"
QUERY_PROMPT = "generate-query-v1"
# Sent once after a reply that gave no grade, before the pair is set aside (openai_http).
REPAIR_MESSAGE = "Your reply gave no grade. Reply with the grade only: a single digit, 0, 1, 2 or 3."


class UnparseableReply(ValueError):
    """A model's reply gave no grade: no grade token among its top logprobs, no score in its text.
    Raised rather than guessing a grade that would be stored as the model's."""


def doc_truncate(text: str, *, tokenizer=None, max_tokens: int | None = None, max_chars: int | None = None) -> str:
    """The document text cut to a token budget (with the labeler's tokenizer) and/or a
    character budget (on a word boundary where there is one)."""
    if tokenizer is not None and max_tokens is not None:
        ids = tokenizer.encode(text, add_special_tokens=False)
        if len(ids) > max_tokens:
            text = tokenizer.decode(ids[:max_tokens])
    if max_chars is not None and len(text) > max_chars:
        cut = text[:max_chars]
        space = cut.rfind(" ")
        text = cut[:space] if space > max_chars // 2 else cut
    return text


def grade_fields(pair: PairInput, **budget) -> dict[str, str]:
    return {
        "query": pair.query,
        "title": pair.title,
        "path": pair.path,
        "author": pair.author,
        "modified": pair.modified,
        "text": doc_truncate(pair.text, **budget),
    }


def continued_messages(prompt: Prompt, **fields) -> list[dict]:
    """The prompt's system and user messages, then its assistant prefix to continue."""
    return [*prompt.messages(**fields), {"role": "assistant", "content": prompt.assistant_prefix}]


def grade_messages(pair: PairInput, *, prompt: Prompt | None = None, **budget) -> list[dict]:
    return continued_messages(prompt or prompt_load(GRADE_PROMPT), **grade_fields(pair, **budget))


def chat_text(tokenizer, messages: list[dict]) -> str:
    """The model's chat template applied to messages; a final assistant message is continued.

    The prefix is appended to the generation prompt verbatim rather than through the template's
    continue_final_message, which some transformers versions strip of its trailing space.
    """
    if messages and messages[-1]["role"] == "assistant":
        head, prefix = messages[:-1], messages[-1]["content"]
    else:
        head, prefix = messages, ""
    return tokenizer.apply_chat_template(head, add_generation_prompt=True, tokenize=False) + prefix


def grade_of_token(token: str) -> int | None:
    """The grade a token stands for ("2", " 2", "Ġ2"-decoded), or None."""
    token = token.strip()
    return int(token) if len(token) == 1 and token.isdigit() and int(token) in GRADES else None


def grade_token_ids(tokenizer) -> list[list[int]]:
    """Per grade, every token id that spells it: "2" and " 2" can be distinct tokens, and a
    sentencepiece tokenizer may spell "2" as a prefix piece then the digit (keep the digit)."""
    ids: list[set[int]] = [set() for _ in GRADES]
    for grade in GRADES:
        for variant in (str(grade), f" {grade}"):
            last = tokenizer.encode(variant, add_special_tokens=False)[-1]
            if grade_of_token(tokenizer.decode([last])) == grade:
                ids[grade].add(last)
    if not all(ids):
        raise ValueError("the tokenizer has no single token for every grade digit")
    return [sorted(s) for s in ids]


def grade_probs_from_logprobs(top: Iterable[tuple[str, float]]) -> list[float] | None:
    """Unnormalised grade probabilities from (token, logprob) pairs; None when no grade token
    is among them."""
    probs = [0.0 for _ in GRADES]
    found = False
    for token, logprob in top:
        grade = grade_of_token(token)
        if grade is not None:
            probs[grade] += math.exp(logprob)
            found = True
    return probs if found else None


_SCORE_LINE = re.compile(r"(?:score|grade|relevance)\W{0,5}([0-3])(?!\d)", re.I)
_LONE_DIGIT = re.compile(r"^\W*([0-3])\W*$")  # "2", "**2**", "(2)", "2."


def parse_grade(text: str) -> int | None:
    """The grade a free-text reply gives: its last "Grade: 2" / "Final score: 2", else a lone
    digit as the reply's first line (a continuation of "Grade: ") or its last."""
    scored = _SCORE_LINE.findall(text)
    if scored:
        return int(scored[-1])
    lines = [line for line in text.splitlines() if line.strip()]
    match = lines and (_LONE_DIGIT.match(lines[0]) or _LONE_DIGIT.match(lines[-1]))
    return int(match.group(1)) if match else None


def first_line(text: str) -> str:
    """A generated query: the reply's first non-empty line, stripped."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
