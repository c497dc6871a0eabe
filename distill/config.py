"""A run's configuration: defaults, merged with what the admin chose."""

from copy import deepcopy
from typing import Any

from .models import Run

DEFAULTS: dict[str, Any] = {
    "generator": "smollm2-generator",  # Labeler names
    "teacher": "smollm2-teacher",
    "student_base": "minilm-l6",  # model registry name or folder
    "seed": 13,
    "synthesize": {
        "seed_documents": 20,
        "queries_per_document": 2,
        "kinds": ["known_item", "informational", "metadata"],
        "min_words": 2,
        "max_words": 16,
        "batch_size": 8,
    },
    "mine": {"bm25_negatives": 4, "random_negatives": 1},
    "teach": {"batch_size": 8},
    "train": {"epochs": 2, "learning_rate": 3e-5, "batch_size": 16, "max_length": 192, "validation_fraction": 0.2},
    # The frontier on the benchmark and the promotion gate (distill.frontier): the student alone,
    # then anchored with about 5, 10 and 20% of each query's pairs graded by the teacher.
    "evaluate": {"anchors_per_query": [0], "anchor_shares": [0.05, 0.1, 0.2], "defer_shares": [0.0], "margin": 0.05,
                 "resamples": 1000},
}

STAGES: list[str] = [Run.Stage.SYNTHESIZE, Run.Stage.MINE, Run.Stage.TEACH, Run.Stage.TRAIN, Run.Stage.EVALUATE]
# Model stages go to GPU workers; mining is CPU work.
QUEUES: dict[str, str] = dict.fromkeys(STAGES, "gpu") | {Run.Stage.MINE: "default"}


def config_from_choices(*, generator: str, teacher: str, student_base: str, seed_documents: int,
                        queries_per_document: int, bm25_negatives: int, random_negatives: int, epochs: int,
                        learning_rate: float, batch_size: int, max_length: int, gate_margin: float) -> dict:
    """The overrides a launch form or command chose, shaped like DEFAULTS."""
    return {
        "generator": generator, "teacher": teacher, "student_base": student_base,
        "synthesize": {"seed_documents": seed_documents, "queries_per_document": queries_per_document},
        "mine": {"bm25_negatives": bm25_negatives, "random_negatives": random_negatives},
        "train": {"epochs": epochs, "learning_rate": learning_rate, "batch_size": batch_size, "max_length": max_length},
        "evaluate": {"margin": gate_margin},
    }


def config_merge(overrides: dict) -> dict:
    merged = deepcopy(DEFAULTS)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key].update(value)
        else:
            merged[key] = value
    return merged


def run_batch(run: Run) -> str:
    """The tag on the run's queries (Query.batch); their pairs are the run's training pairs."""
    return f"run-{run.id}"


def student_name(run_id: int) -> str:
    """The Labeler a run trains (and evaluates) as its student."""
    return f"student-run-{run_id}"
