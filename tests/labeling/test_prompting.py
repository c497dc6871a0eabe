"""The grade prompt's messages and text, the grade tokens, and reading grades back."""

import pytest

from labeling.labelers.base import PairInput
from labeling.labelers.prompting import (
    chat_text,
    continued_messages,
    doc_truncate,
    first_line,
    grade_messages,
    grade_probs_from_logprobs,
    grade_token_ids,
    parse_grade,
)
from labeling.model_registry import model_path
from labeling.prompts import prompt_load


@pytest.mark.parametrize(
    "reply, grade",
    [
        ("2", 2),
        (" 3\n\nThe passage answers the query.", 3),
        ("Grade: 1", 1),
        ("The passage is on topic but does not say how long.\nFinal score: 1", 1),
        ("Relevance: 0", 0),
        ("Score: **2**", 2),
        ("First I thought grade 1 fits.\nGrade: 3", 3),  # the last score wins
        ("It mentions the query.\n\n**2**", 2),
        ("1. The query asks about blood flow.\n2. The passage is about cars.", None),  # a list, not a grade
        ("Grade: 7", None),
        ("10", None),
        ("", None),
    ],
)
def test_parse_grade(reply, grade):
    assert parse_grade(reply) == grade


def test_grade_probs_sum_token_variants_and_skip_other_tokens():
    probs = grade_probs_from_logprobs([("2", -0.5), (" 2", -2.0), ("3", -1.0), ("20", -0.1), ("\n", -0.2), ("4", -3)])
    assert probs == pytest.approx([0, 0, 0.60653 + 0.135335, 0.367879], abs=1e-5)
    assert grade_probs_from_logprobs([("\n", -0.1), ("The", -1.0)]) is None


def test_char_budget_cuts_on_a_word_boundary():
    text = "alpha beta gamma delta"
    assert doc_truncate(text, max_chars=13) == "alpha beta"
    assert doc_truncate(text, max_chars=100) == text
    assert doc_truncate("x" * 50, max_chars=10) == "x" * 10


def test_grade_messages_hold_the_pair_and_end_with_the_prefix_to_continue():
    text = "Parents get 20 days. " * 50
    pair = PairInput(query="parental leave days", text=text, title="Leave policy", author="Grace")
    messages = grade_messages(pair, max_chars=60)
    prompt = prompt_load("grade-v1")
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert messages[-1]["content"] == prompt.assistant_prefix == "Grade: "
    user = messages[1]["content"]
    assert "Query: parental leave days" in user and "Title: Leave policy" in user and "Author: Grace" in user
    assert "Parents get 20 days." in user and user.count("Parents get") == 3  # cut to 60 characters


def test_generation_messages_continue_the_query_prefix():
    prompt = prompt_load("generate-query-v1")
    messages = continued_messages(prompt, title="T", author="A", modified="2025-01-01", text="Body", kind="metadata")
    assert messages[-1] == {"role": "assistant", "content": "Query:"}
    assert "Kind: metadata" in messages[1]["content"]


def test_first_line():
    assert first_line("\n  remote work policy 2024  \nExample 2") == "remote work policy 2024"
    assert first_line("  ") == ""


@pytest.mark.slow
def test_smollm2_template_grade_tokens_and_token_budget():
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path("smollm2-135m-instruct"))
    assert grade_token_ids(tokenizer) == [[tokenizer.convert_tokens_to_ids(str(g))] for g in range(4)]

    text = chat_text(tokenizer, [{"role": "user", "content": "U"}, {"role": "assistant", "content": "Grade: "}])
    assert text.endswith("<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\nGrade: ")  # trailing space kept

    long_text = " ".join(f"word{i}" for i in range(2000))
    cut = doc_truncate(long_text, tokenizer=tokenizer, max_tokens=100)
    assert long_text.startswith(cut)
    assert len(tokenizer.encode(cut, add_special_tokens=False)) <= 101
