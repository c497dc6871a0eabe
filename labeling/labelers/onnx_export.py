"""A cross-encoder folder as an ONNX Runtime graph for CPUs, exported once and cached.

Two kinds of graph: a sequence classifier (the logits), or, with `embedder=True`, a distilled
student's sentence encoder (its unit-length mean-pooled embedding, `sentence_embeddings`).

The graph is traced from the eager-attention model (ORT's BERT fusion recognises that pattern,
not SDPA's), a classifier's last layer computing its [CLS] row alone (`cls_only_last_layer`),
then fused: embeddings+LayerNorm, attention, skip+LayerNorm, bias+GELU. The int8
variant quantizes the fused graph's matmul weights per channel, with activation scales computed
per batch (dynamic quantization: no calibration set). Files live in MODEL_DIR/onnx/<key>/, the
key hashing the folder's config and weights, so a student retrained into the same folder gets
a new export and a copied folder reuses the old one.
"""

import fcntl
import hashlib
import inspect
import logging
import os
import shutil
import warnings
from pathlib import Path

from django.conf import settings

from .classifier import classifier_load, cls_only_last_layer
from .student_format import sentence_embeddings

RECIPE = "fused-v2"  # part of the key: a changed export recipe must not reuse old files
WEIGHT_SUFFIXES = (".safetensors", ".bin")


def onnx_model_file(folder: Path, *, int8: bool, embedder: bool = False) -> Path:
    """The fp32 or int8 ONNX file for a model folder, exporting it on first use."""
    target = Path(settings.MODEL_DIR) / "onnx" / _fingerprint(folder, embedder=embedder)
    if not (target / "model.int8.onnx").exists():
        _export(folder, target, embedder=embedder)
    return target / ("model.int8.onnx" if int8 else "model.onnx")


def _fingerprint(folder: Path, *, embedder: bool) -> str:
    import onnxruntime

    kind = "embedder" if embedder else "classifier"
    digest = hashlib.sha256(f"{RECIPE} {kind} onnxruntime {onnxruntime.__version__}".encode())
    files = [folder / "config.json", *sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES)]
    for path in files:
        digest.update(path.name.encode())
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def _export(folder: Path, target: Path, *, embedder: bool) -> None:
    """Export, fuse and quantize into a temporary folder, renamed into place: several workers
    may start at once, and a killed one leaves no half-written graph behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "model.int8.onnx").exists():  # another process exported it meanwhile
            return
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        logging.disable(logging.WARNING)  # the fusion and quantization tools log every node
        try:
            config = _trace(folder, tmp / "traced.onnx", embedder=embedder)
            _fuse(tmp / "traced.onnx", tmp / "model.onnx", config)
            _quantize(tmp / "model.onnx", tmp / "model.int8.onnx")
        finally:
            logging.disable(logging.NOTSET)
        (tmp / "traced.onnx").unlink()
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)


def _embedder(encoder):
    """A sentence encoder as a module whose output is its `sentence_embeddings`."""
    import torch

    class Embedder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask):
            return sentence_embeddings(self.encoder, {"input_ids": input_ids, "attention_mask": attention_mask})

    return Embedder().eval()


def _trace(folder: Path, out: Path, *, embedder: bool):
    import torch
    from transformers import AutoModel, AutoTokenizer

    if embedder:
        model = _embedder(AutoModel.from_pretrained(folder, attn_implementation="eager").eval())
        names, output = ["input_ids", "attention_mask"], "embedding"
        mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])  # shapes matter, not the ids; one row padded
        sample = {"input_ids": torch.ones_like(mask) * 100, "attention_mask": mask}
    else:
        model = cls_only_last_layer(classifier_load(folder, attn_implementation="eager"))
        tokenizer = AutoTokenizer.from_pretrained(folder)
        # Graph inputs take input_names in the order of forward's parameters, not the tokenizer's.
        names = [name for name in inspect.signature(model.forward).parameters if name in tokenizer.model_input_names]
        output = "logits"
        sample = tokenizer(["a query", "another query"], ["a document", "a longer document"], padding=True,
                           return_tensors="pt")
    axes = {name: {0: "batch", 1: "length"} for name in names}
    # The TorchScript exporter: the dynamo one needs onnxscript, which is not a dependency. Its
    # tracer warns that the mask's padding check becomes a constant: it is 0 for every input
    # here (the mask is as long as the ids), and the fused attention reads the mask itself.
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            model,
            (),
            str(out),
            kwargs={name: sample[name] for name in names},
            input_names=names,
            output_names=[output],
            dynamic_axes=axes | {output: {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    return (model.encoder if embedder else model).config


def _fuse(src: Path, out: Path, config) -> None:
    from onnxruntime.transformers.optimizer import optimize_model

    fused = optimize_model(
        str(src), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size
    )
    fused.save_model_to_file(str(out))


def _quantize(src: Path, out: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src),
        str(out),
        weight_type=QuantType.QInt8,
        per_channel=True,
        # Shape inference cannot type the fused ops' outputs; they are all float.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
