"""The offline models load with the hub switched off and give real outputs."""

import pytest
import torch

from labeling.model_registry import UnknownModel, model_path

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def test_smollm2_converts_once_and_generates(settings, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    settings.MODEL_DIR = tmp_path
    folder = model_path("smollm2-135m-instruct")
    assert (folder / "config.json").exists()
    stamp = (folder / "config.json").stat().st_mtime_ns
    assert model_path("smollm2-135m-instruct") == folder
    assert (folder / "config.json").stat().st_mtime_ns == stamp  # not converted again

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    messages = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**prompt, max_new_tokens=8, do_sample=False)
    answer = tokenizer.decode(out[0, prompt["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer


def test_minilm_gives_similarity_that_tracks_meaning():
    from transformers import AutoModel, AutoTokenizer

    folder = model_path("minilm-l6")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    texts = ["How do I file a travel expense?", "Submitting travel expense reports", "Rotating TLS certificates"]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1)
    emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    assert emb.shape == (3, 384)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.2


def test_unknown_names_are_refused():
    with pytest.raises(UnknownModel, match="registered are"):
        model_path("gpt-17")
