"""The student trainer on a small slice of real DL19 pairs (the recorded Llama-3 judge's grades
as the teacher): the loss falls, early stopping stops, validation never shares a query with
training, and the saved folder serves through CrossEncoderBackend exactly as trained."""

import json
from collections import defaultdict

import numpy as np
import pytest

from distill.training import TrainExample, examples_split, student_loss, student_model_train
from labeling.calibration import grades_from_thresholds
from labeling.labelers.base import PairInput
from labeling.labelers.cross_encoder import CrossEncoderBackend
from labeling.labelers.student_format import STUDENT_FILE
from tests.conftest import dl19_pair_inputs

# Tiny and quick on 2 shared cores: short inputs, a few queries' first pairs.
FAST = {"max_length": 64, "batch_size": 16, "pairs_per_query": 8, "calibration_pairs": 64, "eval_batch_size": 32}
QUERIES = 5
PAIRS_PER_QUERY = 16


def dl19_teacher_examples(dl19_dir, *, queries: int, per_query: int) -> list[TrainExample]:
    """The first `per_query` teacher-graded pairs of the first `queries` judged queries."""
    by_query: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for line in (dl19_dir / "run-llama3-70b-4prompts.txt").read_text().splitlines():
        qid, _, docid, grade = line.split()
        by_query[qid].append((docid, int(grade)))
    chosen = {qid: rows[:per_query] for qid, rows in sorted(by_query.items())[:queries]}
    inputs = dl19_pair_inputs(dl19_dir, [(qid, docid) for qid, rows in chosen.items() for docid, _ in rows])
    return [TrainExample(pair=inputs[qid, docid], target=grade)
            for qid, rows in chosen.items() for docid, grade in rows]


@pytest.fixture(scope="module")
def examples(dl19_dir) -> list[TrainExample]:
    return dl19_teacher_examples(dl19_dir, queries=QUERIES, per_query=PAIRS_PER_QUERY)


@pytest.fixture(scope="module")
def split(examples):
    return examples_split(examples, fraction=0.2, seed=13)


@pytest.fixture(scope="module")
def trained(split, tmp_path_factory):
    train, validation = split
    out = tmp_path_factory.mktemp("students") / "trained"
    result = student_model_train(examples=train, validation=validation, base_model="minilm-l6", out_dir=out,
                           params={**FAST, "epochs": 4, "learning_rate": 1e-4, "eval_every": 2, "patience": 10})
    return result


def test_examples_split_keeps_every_query_on_one_side(examples):
    for fraction in (0.2, 0.5, 0.9):
        for seed in range(5):
            train, validation = examples_split(examples, fraction=fraction, seed=seed)
            assert {e.pair.query_id for e in train}.isdisjoint({e.pair.query_id for e in validation})
            assert len(train) + len(validation) == len(examples)
            assert train and validation
    one_query = [e for e in examples if e.pair.query_id == examples[0].pair.query_id]
    assert examples_split(one_query, fraction=0.5) == (one_query, [])


def test_training_refuses_a_validation_set_that_shares_a_query(split, tmp_path):
    train, validation = split
    with pytest.raises(ValueError, match="split by query"):
        student_model_train(examples=train, validation=validation + train[:1], base_model="minilm-l6",
                      out_dir=tmp_path / "s", params=FAST)


def test_targets_are_grades_or_distributions():
    pair = PairInput(query="q", text="d")
    assert TrainExample(pair=pair, target=2).distribution == [0.0, 0.0, 1.0, 0.0]
    assert TrainExample(pair=pair, target=[1, 1, 2, 0]).distribution == [0.25, 0.25, 0.5, 0.0]
    with pytest.raises(ValueError):
        _ = TrainExample(pair=pair, target=[1, 0]).distribution


@pytest.mark.slow
def test_calibration_on_validation_alone_gives_its_teacher_distribution(split, tmp_path):
    train, validation = split
    result = student_model_train(examples=train, validation=validation, base_model="minilm-l6", out_dir=tmp_path / "s",
                           params={**FAST, "epochs": 0, "calibrate_on": "validation"})
    teacher = [int(np.argmax(e.distribution)) for e in validation]
    counts = np.bincount(grades_from_thresholds(result.validation_expected, result.thresholds), minlength=4)
    np.testing.assert_array_equal(counts, np.bincount(teacher, minlength=4))


@pytest.mark.slow
def test_the_training_loss_falls(split, trained, tmp_path):
    train, _ = split
    untrained = student_model_train(examples=train, base_model="minilm-l6", out_dir=tmp_path / "untrained",
                              params={**FAST, "epochs": 0})
    assert untrained.steps == 0
    before = student_loss(model_dir=untrained.model_dir, examples=train, params=FAST)
    after = student_loss(model_dir=trained.model_dir, examples=train, params=FAST)
    assert after < before - 0.05, (before, after)
    assert trained.steps == trained.history[-1]["step"] > 0


@pytest.mark.slow
def test_the_saved_folder_serves_what_was_trained(split, trained):
    _, validation = split
    config = json.loads((trained.model_dir / STUDENT_FILE).read_text())
    assert config["head"] == "hybrid" and config["thresholds"] == trained.thresholds
    pairs = [e.pair for e in validation]
    first = CrossEncoderBackend(trained.model_dir, max_length=FAST["max_length"], batch_size=7).label(pairs)
    again = CrossEncoderBackend(trained.model_dir, max_length=FAST["max_length"], batch_size=32).label(pairs)
    expected = [label.expected_grade for label in first]
    # The backend reproduces the trainer's own outputs, and two loads batching differently give
    # the same labels (to float rounding: a matmul's kernel depends on its row count).
    np.testing.assert_allclose(expected, trained.validation_expected, atol=1e-5)
    assert [label.grade for label in first] == [label.grade for label in again]
    np.testing.assert_allclose([label.distribution for label in first], [label.distribution for label in again],
                               atol=1e-5)
    # Grades come from the calibrated thresholds on the expected grade.
    assert [label.grade for label in first] == grades_from_thresholds(expected, trained.thresholds).tolist()
    np.testing.assert_allclose([sum(label.distribution) for label in first], 1, atol=1e-5)


@pytest.mark.parametrize("runtime", ["onnx", "torch-bf16", "onnx-int8"])
def test_the_saved_folder_serves_on_every_runtime(split, trained, runtime, settings, tmp_path_factory):
    settings.MODEL_DIR = tmp_path_factory.getbasetemp() / "models"  # ONNX exports, shared by the runtimes
    _, validation = split
    pairs = [e.pair for e in validation]
    fast = CrossEncoderBackend(trained.model_dir, max_length=FAST["max_length"], runtime=runtime).label(pairs)
    expected = np.array([label.expected_grade for label in fast])
    error = np.abs(expected - trained.validation_expected)
    # fp32 ONNX is the same model; bf16 rounds; int8's per-batch scales move it most.
    assert error.max() < {"onnx": 1e-4, "torch-bf16": 0.05, "onnx-int8": 0.3}[runtime]
    assert [label.grade for label in fast] == grades_from_thresholds(expected, trained.thresholds).tolist()
    if runtime.startswith("onnx"):  # two graphs, the cross-encoder and the similarity encoder
        assert len(list((settings.MODEL_DIR / "onnx").glob("*/model.onnx"))) == 2

@pytest.mark.slow
def test_early_stopping_stops_and_keeps_the_best_state(split, tmp_path):
    train, validation = split
    # A learning rate far too high: the validation loss rises after the first steps.
    result = student_model_train(examples=train, validation=validation, base_model="minilm-l6", out_dir=tmp_path / "s",
                           params={**FAST, "epochs": 6, "learning_rate": 3e-3, "head_learning_rate": 0.3,
                                   "warmup_fraction": 0.0, "eval_every": 1, "patience": 2})
    per_query = defaultdict(int)
    for e in train:
        per_query[e.pair.query_id] += 1
    groups = sum(-(-n // FAST["pairs_per_query"]) for n in per_query.values())
    steps_per_epoch = -(-groups // (FAST["batch_size"] // FAST["pairs_per_query"]))
    assert result.stopped_early
    assert result.steps < 6 * steps_per_epoch
    losses = [entry["val_loss"] for entry in result.history]
    best = min(losses)
    assert result.history[losses.index(best)]["step"] == result.best_step
    # Stopped `patience` validations after the best, and the saved student is the best one.
    assert result.steps - result.best_step == 2
    assert student_loss(model_dir=result.model_dir, examples=validation, params=FAST) == pytest.approx(best, abs=1e-4)
