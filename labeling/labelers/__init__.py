"""Labeler backends behind one interface (base.LabelerBackend), built from a Labeler row.

Backends import their heavy libraries lazily, so picking one never loads the others.
"""

from importlib import import_module

from ..models import Labeler
from .base import Label, LabelerBackend, PairInput

BACKENDS: dict[str, str] = {
    Labeler.Backend.LOCAL_LM: "labeling.labelers.local_lm.LocalLMBackend",
    Labeler.Backend.OPENAI: "labeling.labelers.openai_http.OpenAIBackend",
    Labeler.Backend.VLLM: "labeling.labelers.vllm_engine.VLLMBackend",
    Labeler.Backend.CROSS_ENCODER: "labeling.labelers.cross_encoder.CrossEncoderBackend",
    Labeler.Backend.RECORDED: "labeling.labelers.recorded.RecordedBackend",
    Labeler.Backend.ENSEMBLE: "labeling.labelers.ensemble.EnsembleBackend",
}


def backend_for(labeler: Labeler) -> LabelerBackend:
    module, _, name = BACKENDS[labeler.backend].rpartition(".")
    return getattr(import_module(module), name).from_labeler(labeler)


__all__ = ["Label", "LabelerBackend", "PairInput", "backend_for"]
