"""Pairs per second of the teacher (SmolLM2-135M, the grade-v1 prompt) and the cross-encoder
student (fp32, each optimised runtime, and torch-bf16 compiled) on the same DL19 pairs, side by side.

    .venv/bin/python benchmarks/throughput.py [--pairs N] [--teacher-pairs N] [--threads N] [--data PATH]

The student is MiniLM-L6 with a 4-way head fitted to the recorded Llama-3-70B grades of pairs
from other queries (dl19_pairs.student_fit), saved once as a normal model folder in MODEL_DIR. Each
runtime's grades are compared with fp32's on the same pairs (Krippendorff's alpha, ordinal, and
the share of identical grades), and each one's alpha against the recorded Llama-3 grades with
fp32's. Documents are the DL19 passages as they are (~90 tokens with the query), then the same
passages lengthened with their query's other passages so that every pair fills the window.
Timings are the best of --repeats runs of label() (tokenizing included), after a warm-up; the
student's runtimes take turns. The table is printed and written to
benchmarks/results/throughput.md, keeping the file's hand-written "## Notes" section.
"""

import argparse
import datetime as dt
import os
import shlex
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may download at run time
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import onnxruntime  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from django.conf import settings  # noqa: E402

from labeling.labelers.base import PairInput  # noqa: E402
from labeling.labelers.cross_encoder import (  # noqa: E402
    BATCH_SIZES,
    RUNTIMES,
    CrossEncoderBackend,
)
from labeling.labelers.local_lm import LocalLMBackend  # noqa: E402
from labeling.metrics import accuracy, krippendorff_alpha  # noqa: E402
from labeling.model_registry import model_path  # noqa: E402

from dl19_pairs import FIT_PAIRS, STUDENT_RECIPE, dl19_load, hashed, pairs_split, student_fit  # noqa: E402
from report import cpu_description, rates, results_write  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "throughput.md"
MAX_LENGTHS = (256, 192)
# Each runtime, and torch-bf16 through torch.compile (compiled in the warm-up, not timed).
STUDENT_SETTINGS: dict[str, dict[str, Any]] = {runtime: {"runtime": runtime} for runtime in RUNTIMES}
STUDENT_SETTINGS["torch-bf16 compiled"] = {"runtime": "torch-bf16", "compile": True}
SPEED_FLAGS = {"avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8"}


def window_filled(pairs: list[PairInput], passages_by_query: dict[str, list[str]]) -> list[PairInput]:
    """Each pair's passage followed by its query's other passages: longer than any window."""
    filled = []
    for pair in pairs:
        others = [p for p in passages_by_query[pair.query_id] if p != pair.text][:8]
        filled.append(PairInput(**{**pair.__dict__, "text": " ".join([pair.text, *others])}))
    return filled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "dl19")
    parser.add_argument("--pairs", type=int, default=1024, help="pairs the student grades")
    parser.add_argument("--teacher-pairs", type=int, default=256, help="the first of them the teacher grades too")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch's and ORT's intra-op threads")
    parser.add_argument("--batch-size", type=int, help="the student's; default: each runtime's own (BATCH_SIZES)")
    args = parser.parse_args()
    if not (args.data / "passages.jsonl").is_file():
        sys.exit(f"no DL19 data at {args.data} (give --data)")
    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    load_before = os.getloadavg()

    queries, passages, teacher = dl19_load(args.data)
    bench_keys, fit_keys = pairs_split(teacher)

    def pair(qid: str, docid: str) -> PairInput:
        return PairInput(query=queries[qid], text=passages[docid], query_id=qid, document_id=docid)

    fit_keys = fit_keys[:FIT_PAIRS]
    student = student_fit(
        Path(settings.MODEL_DIR) / "bench-students" / STUDENT_RECIPE,
        model_path("minilm-l6"),
        [pair(*k) for k in fit_keys],
        [teacher[k] for k in fit_keys],
    )
    bench_keys = bench_keys[: args.pairs]
    passages_by_query: dict[str, list[str]] = {}
    for qid, docid in sorted(teacher, key=lambda key: hashed(*key)):
        passages_by_query.setdefault(qid, []).append(passages[docid])
    recorded = [teacher[k] for k in bench_keys]
    plain = [pair(*k) for k in bench_keys]
    variants = {"DL19 passages": plain, "filled to the window": window_filled(plain, passages_by_query)}
    few = args.teacher_pairs

    rows = []
    for max_length in MAX_LENGTHS:
        # The teacher as it runs by default on a CPU (fp32), and in bf16.
        teacher_lm = {
            runtime: LocalLMBackend("smollm2-135m-instruct", max_doc_tokens=max_length, batch_size=8, device="cpu",
                                    dtype=dtype)
            for runtime, dtype in (("torch", "auto"), ("torch-bf16", "bfloat16"))
        }
        students = {
            name: CrossEncoderBackend(student, max_length=max_length, batch_size=args.batch_size, threads=args.threads,
                                      **setting)
            for name, setting in STUDENT_SETTINGS.items()
        }
        for docs, pairs in variants.items():
            teacher_rate, teacher_labels = rates(teacher_lm, pairs[:few], 1)
            teacher_fp32 = [lb.grade for lb in teacher_labels["torch"]]
            for runtime, labels in teacher_labels.items():
                grades = [lb.grade for lb in labels]
                rows.append({
                    "docs": docs, "max": max_length, "labeler": "teacher SmolLM2-135M (grade-v1)", "runtime": runtime,
                    "tokens": np.mean([lb.tokens_in for lb in labels]),
                    "rate_few": teacher_rate[runtime].pairs_per_s, "cores": teacher_rate[runtime].cores,
                    "agree_fp32": accuracy(teacher_fp32, grades),
                })
                print(_row(rows[-1]), flush=True)
            teacher_speed = teacher_rate["torch"].per_cpu_second
            rate, student_labels = rates(students, pairs, args.repeats)
            rate_few, _ = rates(students, pairs[:few], args.repeats)
            fp32 = [lb.grade for lb in student_labels["torch"]]
            for runtime in students:
                grades = [lb.grade for lb in student_labels[runtime]]
                rows.append({
                    "docs": docs, "max": max_length, "labeler": "student MiniLM-L6", "runtime": runtime,
                    "tokens": np.mean([lb.tokens_in for lb in student_labels[runtime]]),
                    "rate": rate[runtime].pairs_per_s, "cores": rate[runtime].cores,
                    "rate_few": rate_few[runtime].pairs_per_s,
                    "ratio_few": rate_few[runtime].per_cpu_second / teacher_speed,
                    "ratio": rate[runtime].per_cpu_second / teacher_speed,
                    "ratio_bf16_few": rate_few[runtime].per_cpu_second / teacher_rate["torch-bf16"].per_cpu_second,
                    "alpha_fp32": krippendorff_alpha([fp32, grades]),
                    "agree_fp32": accuracy(fp32, grades),
                    "alpha_llama": krippendorff_alpha([recorded, grades]),
                    "alpha_llama_fp32": krippendorff_alpha([recorded, fp32]),
                })
                print(_row(rows[-1]), flush=True)
    report = _report(rows, args, load_before, os.getloadavg())
    print(report)
    results_write(RESULTS, report)


COLUMNS = (
    "documents", "max tokens", "labeler", "runtime", "mean tokens in", "pairs/s (all)", "cores used",
    "pairs/s (teacher's pairs)", "x teacher (its pairs)", "x teacher (all pairs)", "x bf16 teacher (its pairs)",
    "alpha vs fp32", "same grade as fp32",
    "alpha vs Llama-3 (fp32's)",
)


def _batch_sizes() -> str:
    return ", ".join(f"{size} ({runtime})" for runtime, size in BATCH_SIZES.items())


def _row(r: dict) -> str:
    def num(key: str, fmt: str) -> str:
        value = r.get(key)
        return "" if value is None else format(value, fmt)

    vs_llama = f"{r['alpha_llama']:.3f} ({r['alpha_llama_fp32']:.3f})" if "alpha_llama" in r else ""
    cells = [
        r["docs"], str(r["max"]), r["labeler"], r["runtime"], f"{r['tokens']:.0f}", num("rate", ".1f"),
        num("cores", ".2f"), num("rate_few", ".1f"), num("ratio_few", ".0f"), num("ratio", ".0f"),
        num("ratio_bf16_few", ".0f"), num("alpha_fp32", ".4f"), num("agree_fp32", ".1%"), vs_llama,
    ]
    return "| " + " | ".join(cells) + " |"


def _report(rows: list[dict], args, load_before, load_after) -> str:
    command = shlex.join([".venv/bin/python", "benchmarks/throughput.py", *sys.argv[1:]])
    return "\n".join([
        "# Teacher and student throughput",
        "",
        f"- command: `{command}`",
        f"- date: {dt.datetime.now().isoformat(timespec='seconds')}",
        f"- CPU: {cpu_description(SPEED_FLAGS)}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after",
        f"- torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime {onnxruntime.__version__}"
        f" (intra-op {args.threads} threads, inter-op 1), transformers {transformers.__version__}",
        f"- {args.pairs} DL19 pairs for the student, the first {args.teacher_pairs} of them for the teacher too;"
        f" student batch size {args.batch_size or _batch_sizes()}, teacher 8; best of {args.repeats} runs (teacher: 1)",
        "- teacher: torch is its default on a CPU (fp32), torch-bf16 its dtype bfloat16; x teacher is against"
        " the default, x bf16 teacher against the bf16 one (equal precision for the bf16 students)",
        "- student: MiniLM-L6 with a head fitted on other queries' recorded Llama-3 grades;"
        " x teacher divides pairs per CPU-second (each run got its own share of the shared CPU), the"
        " student's on the teacher's pairs (the same pairs: the fair ratio) or on all pairs (more pairs"
        " sort into batches of more even length)",
        "- cores used: CPU seconds per wall second in the timed run. Under 2, other processes had"
        " the rest of this shared machine and pairs/s is below what the 2 cores give alone",
        "- torch-bf16 compiled: through torch.compile, compiled during the warm-up (not timed)",
        "- alpha: Krippendorff's, ordinal; vs fp32 compares each runtime's grades with fp32's on the"
        " same pairs, vs Llama-3 with the recorded teacher's (fp32's alpha in brackets); same grade as fp32"
        " is the share of identical grades (for the teacher, bf16's against fp32's)",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *(_row(r) for r in rows),
        "",
    ])


if __name__ == "__main__":
    main()
