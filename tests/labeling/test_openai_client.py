"""The official `openai` package against Assessor's own server (serve_openai, SmolLM2 in a
subprocess): the protocol as clients really use it, its typed responses parsed by the client
itself. Chat (continued from "Grade: " through extra_body, as vLLM is asked), completions, and
logprobs in both, the same as the local LM's; errors as the client's exceptions."""

import openai
import pytest

from labeling.labelers.prompting import chat_text, grade_messages, grade_probs_from_logprobs

from .conftest import SMOLLM2
from .test_labeler_openai import serve_openai  # noqa: F401  (the server fixture)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(serve_openai):  # noqa: F811
    with openai.OpenAI(base_url=serve_openai, api_key="unused", max_retries=0, timeout=120) as client:
        yield client


def _normalised(probs: list[float]) -> list[float]:
    return [p / sum(probs) for p in probs]


def test_lists_the_served_model(client):
    assert [model.id for model in client.models.list()] == [SMOLLM2]


def test_chat_with_logprobs_gives_the_local_lms_distribution(client, local_lm, local_lm_labels, dl19_sample_pairs):
    for pair, local in list(zip(dl19_sample_pairs, local_lm_labels, strict=True))[:4]:
        messages = grade_messages(pair, **local_lm.budget)
        reply = client.chat.completions.create(
            model=SMOLLM2, messages=messages, max_tokens=1, temperature=0, logprobs=True, top_logprobs=20,
            extra_body={"continue_final_message": True, "add_generation_prompt": False},
        )
        choice = reply.choices[0]
        assert reply.object == "chat.completion" and choice.message.role == "assistant"
        assert choice.finish_reason == "length" and reply.usage.completion_tokens == 1
        assert reply.usage.prompt_tokens == local.tokens_in
        assert choice.logprobs is not None and choice.logprobs.content is not None
        top = choice.logprobs.content[0].top_logprobs
        assert len(top) == 20 and all(t.bytes == list(t.token.encode()) for t in top)
        probs = grade_probs_from_logprobs((t.token, t.logprob) for t in top)
        assert probs is not None
        assert _normalised(probs) == pytest.approx(local.distribution, abs=2e-3)


def test_completions_with_logprobs_give_the_local_lms_distribution(client, local_lm, local_lm_labels,
                                                                   dl19_sample_pairs):
    pair, local = dl19_sample_pairs[5], local_lm_labels[5]
    prompt = chat_text(local_lm.tokenizer, grade_messages(pair, **local_lm.budget))
    reply = client.completions.create(model=SMOLLM2, prompt=prompt, max_tokens=1, temperature=0, logprobs=20)
    choice = reply.choices[0]
    assert reply.object == "text_completion" and reply.usage.prompt_tokens == local.tokens_in
    assert choice.logprobs is not None and choice.logprobs.top_logprobs is not None
    assert choice.logprobs.tokens == [choice.text] and choice.logprobs.text_offset == [len(prompt)]
    probs = grade_probs_from_logprobs(choice.logprobs.top_logprobs[0].items())
    assert probs is not None
    assert _normalised(probs) == pytest.approx(local.distribution, abs=2e-3)


def test_a_plain_chat_reply_and_the_clients_errors(client):
    reply = client.chat.completions.create(
        model=SMOLLM2, messages=[{"role": "user", "content": "Say hello."}], max_tokens=8, temperature=0)
    assert isinstance(reply.choices[0].message.content, str) and reply.choices[0].message.content
    assert reply.choices[0].logprobs is None and reply.usage.total_tokens > 8
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.chat.completions.create(model="gpt-none", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="top logprobs"):
        client.chat.completions.create(model=SMOLLM2, messages=[{"role": "user", "content": "hi"}], max_tokens=1,
                                       logprobs=True, top_logprobs=50)
