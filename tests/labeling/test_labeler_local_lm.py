"""The local causal LM labeler on real DL19 pairs with SmolLM2 (a poor judge: these tests check
the mechanics, not the quality)."""

import numpy as np
import pytest
import torch

from labeling.labelers.base import PairInput
from labeling.labelers.local_lm import LocalLMBackend
from labeling.labelers.prompting import continued_messages
from labeling.models import Labeler
from labeling.prompts import prompt_load

from .conftest import assert_valid_labels

pytestmark = pytest.mark.slow


def test_labels_the_dl19_sample(local_lm, local_lm_labels, dl19_sample_pairs):
    assert_valid_labels(local_lm_labels, 50)
    assert local_lm.prompt_version == prompt_load("grade-v1").version
    for pair, label in zip(dl19_sample_pairs, local_lm_labels, strict=True):
        assert label.tokens_in == len(local_lm.encode(local_lm.prompt_text(pair)))
        assert label.latency_ms > 0
        assert 0 < label.extra["grade_mass"] <= 1
    # Not a constant: the distributions follow the pairs.
    assert np.ptp([label.expected_grade for label in local_lm_labels]) > 0.05


def test_a_pair_gets_the_same_distribution_alone_as_in_a_padded_batch(local_lm, local_lm_labels, dl19_sample_pairs):
    lengths = [label.tokens_in for label in local_lm_labels]
    shortest, longest = int(np.argmin(lengths)), int(np.argmax(lengths))
    for index in (shortest, longest):
        alone = local_lm.label([dl19_sample_pairs[index]])[0]
        assert alone.distribution == pytest.approx(local_lm_labels[index].distribution, abs=1e-4)


def test_long_documents_are_cut_to_the_token_budget(local_lm):
    pair = PairInput(query="history of the bicycle", text="The first bicycle had no pedals. " * 400)
    text = local_lm.prompt_text(pair)
    assert "The first bicycle had no pedals." in text
    label = local_lm.label([pair])[0]
    overhead = len(local_lm.encode(local_lm.prompt_text(PairInput(query=pair.query, text=""))))
    assert overhead < label.tokens_in <= overhead + 256 + 2


def test_generates_queries_greedy_and_seeded(local_lm, dl19_sample_pairs):
    prompt = prompt_load("generate-query-v1")
    messages = [
        continued_messages(prompt, title="", author="", modified="", text=pair.text, kind="informational")
        for pair in dl19_sample_pairs[:2]
    ]
    greedy = local_lm.generate(messages, max_new_tokens=8)
    assert len(greedy) == 2 and all(q and "\n" not in q for q in greedy)
    sampled = local_lm.generate(messages, max_new_tokens=8, temperature=1.0, seed=7)
    assert local_lm.generate(messages, max_new_tokens=8, temperature=1.0, seed=7) == sampled


def test_built_from_a_labeler_row():
    labeler = Labeler(
        name="smollm2-judge",
        role=Labeler.Role.TEACHER,
        backend=Labeler.Backend.LOCAL_LM,
        model_ref="smollm2-135m-instruct",
        params={"batch_size": 4, "max_doc_tokens": 64, "device": "cpu", "dtype": "float32"},
    )
    backend = LocalLMBackend.from_labeler(labeler)
    assert backend.batch_size == 4 and backend.budget["max_tokens"] == 64
    assert str(backend.device) == "cpu" and next(backend.model.parameters()).dtype == torch.float32
    with pytest.raises(TypeError):
        LocalLMBackend("smollm2-135m-instruct", batch_sise=4)  # a typo in params fails loudly
