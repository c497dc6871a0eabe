"""The cross-encoder student: batching that keeps input order, well-formed labels, truncation,
fine-tuned folders that reload as saved, a bare encoder's reproducible head, optimised runtimes
(bf16, ONNX fp32 and int8, torch.compile) that grade like fp32, and where each runtime runs."""

import numpy as np
import pytest
import torch

from labeling.labelers import backend_for, cross_encoder
from labeling.labelers.base import PairInput
from labeling.labelers.classifier import classifier_load, cls_only_last_layer
from labeling.labelers.cross_encoder import (
    CrossEncoderBackend,
    batch_tensors,
    bf16_matmuls,
    document_segment,
    grade_probabilities,
    runtime_resolve,
)
from labeling.metrics import accuracy, krippendorff_alpha
from labeling.model_registry import model_path
from labeling.models import Labeler
from tests.factories import seeded_student_save

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    """A "fine-tuned" student folder (see seeded_student_save)."""
    return seeded_student_save(tmp_path_factory.mktemp("student"))


@pytest.fixture(scope="module")
def backend(student_dir):
    return CrossEncoderBackend(student_dir, batch_size=8)


@pytest.fixture(scope="module")
def pairs(dl19_sample_pairs) -> list[PairInput]:
    return dl19_sample_pairs[:32]  # enough to batch and reorder; quick on 2 cores


@pytest.fixture(scope="module")
def reference(backend, pairs):
    """The fp32 labels every other runtime is held to."""
    return backend.label(pairs)


def distributions(labels) -> np.ndarray:
    return np.array([label.distribution for label in labels])


def test_batched_labels_come_back_in_input_order(backend, pairs, reference):
    lengths = [len(ids["input_ids"]) for ids in backend.encode(pairs)]
    assert lengths != sorted(lengths)  # so batching by length really reorders them
    batched = reference
    one_by_one = [backend.label([pair])[0] for pair in pairs]
    np.testing.assert_allclose(distributions(batched), distributions(one_by_one), atol=1e-4)
    assert [label.tokens_in for label in batched] == lengths
    assert len({label.grade for label in batched}) > 1  # the head really tells pairs apart


def test_labels_are_distributions_over_the_four_grades(backend, pairs, reference):
    labels = reference
    probs = distributions(labels)
    assert probs.shape == (len(pairs), 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert [label.grade for label in labels] == probs.argmax(axis=1).tolist()
    np.testing.assert_allclose([label.expected_grade for label in labels], probs @ [0, 1, 2, 3], atol=1e-5)
    assert all(label.latency_ms > 0 and label.tokens_out == 0 for label in labels)
    assert backend.label([]) == []


def test_only_the_document_is_truncated_to_max_length(student_dir):
    short = CrossEncoderBackend(student_dir, max_length=32)
    query = "travel expense policy"
    pairs = [
        PairInput(query=query, text="receipts " * 200, title="Travel policy", author="Finance"),
        PairInput(query=query, text="Short."),
        PairInput(query="very long query " * 40, text="a document"),  # the query alone overflows
    ]
    encoded = short.encode(pairs)
    assert [len(e["input_ids"]) for e in encoded] == [32, len(encoded[1]["input_ids"]), 32]
    query_ids = short.tokenizer(query, add_special_tokens=False)["input_ids"]
    assert encoded[0]["input_ids"][1 : 1 + len(query_ids)] == query_ids  # the query is whole
    assert [label.tokens_in for label in short.label(pairs)] == [32, len(encoded[1]["input_ids"]), 32]


def test_document_segment_carries_metadata_in_fixed_slots():
    pair = PairInput(query="q", text="Body.", title="Q3 budget", author="Priya", modified="2024-09-30")
    assert document_segment(pair) == "Q3 budget | Priya | 2024-09-30 | \nBody."
    assert document_segment(PairInput(query="q", text="Body.")) == "Body."


def test_regression_head_interpolates_between_adjacent_grades():
    probs = grade_probabilities(np.array([[1.3], [-0.5], [3.7], [2.0]]))
    np.testing.assert_allclose(
        probs, [[0, 0.7, 0.3, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], atol=1e-9
    )


def test_a_saved_fine_tuned_folder_reloads_with_its_own_head(backend, student_dir, pairs):
    """The folder's head is used as saved, not re-initialised like a bare encoder's."""
    model = classifier_load(student_dir)
    pairs = pairs[:6]
    with torch.inference_mode():
        batch = backend._pad(backend.encode(pairs))
        logits = model(**batch_tensors(batch)).logits.numpy()
    np.testing.assert_allclose(distributions(backend.label(pairs)), grade_probabilities(logits), atol=1e-5)
    again = CrossEncoderBackend(student_dir, batch_size=8)
    assert distributions(again.label(pairs)).tolist() == distributions(backend.label(pairs)).tolist()


@pytest.mark.parametrize("attention", ["sdpa", "eager"])  # what the torch runtimes load; what ONNX traces
def test_the_last_layer_computes_the_cls_row_alone_and_the_logits_stay_the_same(student_dir, backend, pairs, attention):
    full = classifier_load(student_dir, attn_implementation=attention)
    pruned = cls_only_last_layer(classifier_load(student_dir, attn_implementation=attention))
    batch = batch_tensors(backend._pad(backend.encode(pairs[:8])))
    assert not batch["attention_mask"].all()  # rows of several lengths: the mask must be read
    rows = []
    pruned.bert.encoder.layer[-1].register_forward_hook(lambda module, args, out: rows.append(tuple(out.shape)))
    with torch.inference_mode():
        expected, logits = full(**batch).logits, pruned(**batch).logits
    assert rows == [(8, 1, full.config.hidden_size)]
    assert expected.std() > 0.1  # logits a head could not tell apart would prove nothing
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)


def test_a_bare_encoder_gets_the_same_fresh_head_every_time(pairs):
    """The head is seeded, so two loads (or a load and its ONNX export) are one model."""
    first = CrossEncoderBackend(model_path("minilm-l6")).label(pairs[:4])
    second = CrossEncoderBackend(model_path("minilm-l6")).label(pairs[:4])
    assert distributions(first).tolist() == distributions(second).tolist()


def test_onnx_runtimes_grade_like_fp32(settings, tmp_path, student_dir, pairs, reference):
    settings.MODEL_DIR = tmp_path  # export afresh, into a throwaway cache
    fp32 = CrossEncoderBackend(student_dir, runtime="onnx").label(pairs)
    np.testing.assert_allclose(distributions(fp32), distributions(reference), atol=1e-4)

    # Dynamic int8 is lossy on MiniLM (per-batch activation scales meet its outlier channels):
    # here about 1 grade in 8 moves, ~0.05 mean shift per grade's probability. The bound holds
    # it to "the same model, quantized", which swapped inputs or a re-initialised head are not.
    int8 = CrossEncoderBackend(student_dir, runtime="onnx-int8").label(pairs)
    assert np.abs(distributions(int8) - distributions(reference)).mean() < 0.1
    assert accuracy([lb.grade for lb in reference], [lb.grade for lb in int8]) >= 0.75
    assert len(list(tmp_path.glob("onnx/*/model*.onnx"))) == 2  # one export, reused


def test_bf16_grades_like_fp32(student_dir, pairs, reference):
    bf16 = CrossEncoderBackend(student_dir, runtime="torch-bf16").label(pairs)
    grades, bf16_grades = [lb.grade for lb in reference], [lb.grade for lb in bf16]
    assert accuracy(grades, bf16_grades) >= 0.95
    assert krippendorff_alpha([grades, bf16_grades]) >= 0.95

    # Mixed precision stays closer to fp32 than the same model all in bf16.
    all_bf16 = CrossEncoderBackend(student_dir, runtime="torch")
    model = classifier_load(student_dir, dtype=torch.bfloat16)
    all_bf16.run = lambda batch: model(**batch_tensors(batch)).logits.float().detach().numpy()
    error = np.abs(distributions(bf16) - distributions(reference)).mean()
    assert 0 < error < np.abs(distributions(all_bf16.label(pairs)) - distributions(reference)).mean()


def test_bf16_matmuls_keeps_the_residual_stream_layernorms_and_head_in_fp32(student_dir):
    model = bf16_matmuls(classifier_load(student_dir))
    dtypes = {name: param.dtype for name, param in model.named_parameters()}
    assert dtypes["bert.encoder.layer.0.attention.self.query.weight"] == torch.bfloat16
    assert dtypes["bert.encoder.layer.5.output.dense.weight"] == torch.bfloat16
    for name in ("bert.embeddings.word_embeddings.weight", "bert.encoder.layer.0.output.LayerNorm.weight",
                 "bert.pooler.dense.weight", "classifier.weight"):
        assert dtypes[name] == torch.float32, name
    states = []
    model.bert.encoder.layer[0].output.LayerNorm.register_forward_hook(lambda m, args, out: states.append(args[0]))
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([[101, 2054, 102, 2003, 102]])).logits
    assert states[0].dtype == torch.float32  # the residual sum: bf16 branch + fp32 stream
    assert logits.dtype == torch.float32


def test_a_labeler_row_builds_the_backend_from_model_ref_and_params(student_dir):
    labeler = Labeler(
        name="student",
        backend=Labeler.Backend.CROSS_ENCODER,
        model_ref=str(student_dir),
        params={"max_length": 64, "batch_size": 4},
    )
    backend = backend_for(labeler)
    assert isinstance(backend, CrossEncoderBackend)
    assert (backend.max_length, backend.batch_size, backend.runtime) == (64, 4, "torch")
    assert backend.prompt_version == "cross-encoder-v1"
    labeler.model_ref = ""
    with pytest.raises(ValueError, match="model_ref"):
        backend_for(labeler)


def test_the_auto_runtime_is_bf16_only_where_the_cpu_computes_it(monkeypatch, settings, tmp_path, student_dir):
    settings.MODEL_DIR = tmp_path  # the onnx runtime exports there
    monkeypatch.setattr(cross_encoder, "native_bf16", lambda: True)
    assert CrossEncoderBackend(student_dir, runtime="auto").runtime == "torch-bf16"
    monkeypatch.setattr(cross_encoder, "native_bf16", lambda: False)
    assert CrossEncoderBackend(student_dir, runtime="auto").runtime == "onnx"
    with pytest.raises(ValueError, match="unknown runtime 'fp16': auto or one of torch"):
        CrossEncoderBackend(student_dir, runtime="fp16")


def test_torch_runtimes_go_to_the_gpu_where_there_is_one_and_onnx_stays_on_the_cpu(monkeypatch):
    monkeypatch.setattr(cross_encoder, "native_bf16", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime_resolve("auto") == ("torch-bf16", "cuda")
    assert runtime_resolve("torch") == ("torch", "cuda")
    assert runtime_resolve("onnx-int8") == ("onnx-int8", "cpu")
    assert runtime_resolve("auto", "cpu") == ("onnx", "cpu")
    with pytest.raises(ValueError, match="runtime 'onnx' runs on the CPU, not 'cuda'"):
        runtime_resolve("onnx", "cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime_resolve("torch-bf16") == ("torch-bf16", "cpu")


def test_attention_runs_without_cudnn_while_the_backend_grades(monkeypatch, backend, pairs):
    """cuDNN's attention plans every new shape anew: slow on the mostly new shapes of padded batches."""
    seen = []
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def recording(*args, **kwargs):
        seen.append(torch.backends.cuda.cudnn_sdp_enabled())
        return sdpa(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", recording)
    backend.label(pairs[:4])
    assert seen and not any(seen)
    assert torch.backends.cuda.cudnn_sdp_enabled()  # restored after the call


def test_compiling_without_a_cpp_compiler_fails_when_the_labeler_loads(monkeypatch, student_dir):
    monkeypatch.setenv("CXX", "no-such-compiler")
    with pytest.raises(ValueError, match="needs a C\\+\\+ compiler: no 'no-such-compiler' on PATH"):
        CrossEncoderBackend(student_dir, runtime="torch-bf16", device="cpu", compile=True)


def test_a_compiled_model_grades_like_the_eager_one_and_a_lone_pair_does_not_recompile(monkeypatch, student_dir, pairs):
    import torch._inductor.freezing

    frozen = []
    freeze = torch._inductor.freezing.freeze
    monkeypatch.setattr(torch._inductor.freezing, "freeze", lambda *a, **k: frozen.append(1) or freeze(*a, **k))
    eager = CrossEncoderBackend(student_dir, runtime="torch-bf16").label(pairs)
    compiled = CrossEncoderBackend(student_dir, runtime="torch-bf16", compile=True)
    labels = compiled.label(pairs)
    assert frozen  # on a CPU the weights are compiled in as constants
    np.testing.assert_allclose(distributions(labels), distributions(eager), atol=0.02)
    assert accuracy([lb.grade for lb in eager], [lb.grade for lb in labels]) >= 0.95

    torch._dynamo.utils.counters.clear()
    lone = compiled.label(pairs[:1])
    assert lone[0].grade == labels[0].grade
    assert not torch._dynamo.utils.counters["stats"]["unique_graphs"]  # no new graph was compiled
