"""A sequence classifier from a cross-encoder folder, shared by the cross-encoder's torch
runtimes and its ONNX export (labeling.labelers.cross_encoder, .onnx_export): the model is
loaded, and its last layer pruned to [CLS], the same way in both."""

from pathlib import Path

from ..grades import GRADES

HEAD_SEED = 0  # a bare encoder's fresh head: every load of it, and its export, is the same model


def classifier_load(folder: Path, **kwargs):
    """The sequence classifier in a folder; a bare encoder gets a seeded 4-way head."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    architectures = AutoConfig.from_pretrained(folder).architectures or []
    if any(name.endswith("ForSequenceClassification") for name in architectures):
        return AutoModelForSequenceClassification.from_pretrained(folder, **kwargs).eval()
    with torch.random.fork_rng():  # the head's init draws from the global generator
        torch.manual_seed(HEAD_SEED)
        return AutoModelForSequenceClassification.from_pretrained(folder, num_labels=len(GRADES), **kwargs).eval()


def cls_only_last_layer(model):
    """A BERT sequence classifier's head reads the last layer at [CLS] alone, so that layer
    computes the [CLS] row alone; its keys and values still come from every token. The logits
    are the same and a sixth of MiniLM-L6's work is gone: 1.10x eager bf16's pairs/s, 1.14x
    compiled, 1.11-1.17x on ONNX (benchmarks/results/throughput.md). Other architectures are left
    as they are."""
    import torch

    if model.config.model_type != "bert" or model.config.is_decoder:
        return model

    class ClsOnly(torch.nn.Module):
        def __init__(self, layer):
            super().__init__()
            self.layer = layer

        def forward(self, states, attention_mask=None, *args, **kwargs):
            layer, attention = self.layer, self.layer.attention.self
            rows = states.shape[0]
            cls = states[:, :1]

            def heads(x):  # rows x tokens x hidden -> rows x heads x tokens x head size
                return x.view(rows, x.shape[1], -1, attention.attention_head_size).transpose(1, 2)

            query = heads(attention.query(cls))
            key, value = heads(attention.key(states)), heads(attention.value(states))
            mask = attention_mask  # None, or rows x 1 x (1 or length) x length: bool (keep) or additive
            if mask is not None:
                mask = mask[..., :1, :]  # the [CLS] query's row
                mask = mask if mask.dtype == torch.bool else mask.to(query.dtype)
            context = torch.nn.functional.scaled_dot_product_attention(
                query, key, value, attn_mask=mask, scale=attention.scaling
            )
            attended = layer.attention.output(context.transpose(1, 2).reshape(rows, 1, -1), cls)
            return layer.output(layer.intermediate(attended), attended)

    layers = model.base_model.encoder.layer
    layers[-1] = ClsOnly(layers[-1])
    return model
