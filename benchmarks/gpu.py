"""On a GPU: pairs/s of the teacher (SmolLM2-135M, the grade-v1 prompt, bf16) and of the student
(MiniLM-L6 cross-encoder: fp32, mixed bf16, compiled) on the same DL19 pairs, side by side, and
how fast the student trains there and on this machine's CPU.

    python benchmarks/gpu.py [--pairs N] [--data PATH] [--minilm FOLDER] [--smollm FOLDER]
                             [--random-teacher] [--results PATH]

It needs torch with CUDA, transformers, scikit-learn, Django and krippendorff, and no database:
Django is configured bare, for the labelers' imports, so a GPU box without Assessor's services
runs it. The student is throughput.py's (MiniLM-L6 with a head fitted on other queries' Llama-3
grades); each GPU runtime's grades are compared with fp32's on the CPU (Krippendorff's alpha).
--random-teacher gives the teacher's architecture random weights, for a machine the weights
cannot reach (its speed, not its grades: a grading pass is one forward pass whatever the weights).
Training: the train stage's student_model_train (hybrid head) on recorded Llama-3 grades, one
epoch, pairs per second over the steps after the first.
"""

import argparse
import datetime as dt
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may download at run time
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
WORK = Path(tempfile.mkdtemp(prefix="assessor-gpu-"))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

# MODEL_DIR as config.settings has it: the registry's converted SmolLM2 is reused from there.
settings.configure(INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "labeling"],
                   MODEL_DIR=Path(os.environ.get("ASSESSOR_MODEL_DIR", REPO / "var" / "models")))
django.setup()

import torch  # noqa: E402
import transformers  # noqa: E402

from distill.training import TrainExample, student_model_train  # noqa: E402
from labeling.labelers.base import PairInput  # noqa: E402
from labeling.labelers.cross_encoder import CrossEncoderBackend  # noqa: E402
from labeling.labelers.local_lm import LocalLMBackend  # noqa: E402
from labeling.metrics import accuracy, krippendorff_alpha  # noqa: E402
from labeling.model_registry import model_path  # noqa: E402

from dl19_pairs import FIT_PAIRS, dl19_load, pairs_split, student_fit  # noqa: E402
from report import rates  # noqa: E402

MAX_LENGTH = 192


def teacher_folder(folder: Path, random_weights: bool) -> Path:
    if not random_weights:
        return folder
    out = WORK / "teacher-random"
    shutil.copytree(folder, out, ignore=shutil.ignore_patterns("*.safetensors", "*.bin", "*.gguf"))
    config = transformers.AutoConfig.from_pretrained(out)
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(config).save_pretrained(out)
    return out


def training_rate(examples: list[TrainExample], base: Path, device: str, max_seconds: float | None) -> dict:
    stamps: list[float] = []
    totals: list[int] = []

    def progress(step: int, total: int) -> None:
        stamps.append(time.perf_counter())
        totals.append(total)

    result = student_model_train(
        examples=examples, base_model=str(base), out_dir=WORK / f"trained-{device}",
        params={"epochs": 1, "device": device, "max_seconds": max_seconds, "calibration_pairs": 64},
        on_progress=progress,
    )
    # An epoch's steps hold all the examples; a step holds pairs_per_query-sized groups of a query.
    pairs_per_step = len(examples) / totals[-1]
    seconds = stamps[-1] - stamps[0]
    return {"steps": len(stamps), "pairs_per_s": (len(stamps) - 1) * pairs_per_step / seconds if seconds else 0.0,
            "train_loss": result.history[-1]["train_loss"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "dl19")
    parser.add_argument("--pairs", type=int, default=1024)
    parser.add_argument("--train-pairs", type=int, default=2048)
    parser.add_argument("--minilm", type=Path, help="the MiniLM-L6 folder (default: the registry's)")
    parser.add_argument("--smollm", type=Path, help="the SmolLM2-135M folder (default: the registry's)")
    parser.add_argument("--random-teacher", action="store_true")
    parser.add_argument("--device", default="cuda", help="cpu: a dry run of the script")
    parser.add_argument("--cpu-train-seconds", type=float, default=60)
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "gpu.md")
    args = parser.parse_args()
    transformers.logging.set_verbosity_error()
    minilm = args.minilm or model_path("minilm-l6")
    smollm = args.smollm or model_path("smollm2-135m-instruct")
    device = args.device

    queries, passages, recorded = dl19_load(args.data)
    bench_keys, fit_keys = pairs_split(recorded)

    def pair(qid: str, docid: str) -> PairInput:
        return PairInput(query=queries[qid], text=passages[docid], query_id=qid, document_id=docid)

    student = student_fit(WORK / "student", minilm, [pair(*k) for k in fit_keys[:FIT_PAIRS]],
                          [recorded[k] for k in fit_keys[:FIT_PAIRS]])
    pairs = [pair(*k) for k in bench_keys[: args.pairs]]
    cpu_fp32 = [lb.grade for lb in CrossEncoderBackend(student, max_length=MAX_LENGTH, device="cpu").label(pairs)]

    rows = []

    def row(labeler: str, setting: str, rate: float, labels=None) -> None:
        entry = {"labeler": labeler, "setting": setting, "rate": rate}
        if labels is not None:
            grades = [lb.grade for lb in labels]
            entry |= {"alpha": krippendorff_alpha([cpu_fp32, grades]), "same": accuracy(cpu_fp32, grades)}
        rows.append(entry)
        print(_row(entry), flush=True)

    teacher = teacher_folder(smollm, args.random_teacher)
    for batch in (16, 64, 256):
        lm = LocalLMBackend(str(teacher), max_doc_tokens=MAX_LENGTH, batch_size=batch, device=device)
        row(f"teacher SmolLM2-135M{' (random weights)' if args.random_teacher else ''}",
            f"{lm.dtype}, batch {batch}".replace("torch.", ""), rates({"lm": lm}, pairs, 2)[0]["lm"].pairs_per_s)
        del lm
    for runtime, batch, compile_ in (("torch", 64, False), ("torch", 256, False), ("torch-bf16", 64, False),
                                     ("torch-bf16", 256, False), ("torch-bf16", 256, True)):
        started = time.perf_counter()
        ce = CrossEncoderBackend(student, max_length=MAX_LENGTH, batch_size=batch, runtime=runtime,
                                 device=device, compile=compile_)
        ce.label(pairs[:batch])
        warm = time.perf_counter() - started
        rate, labels = rates({"ce": ce}, pairs, 2)
        setting = f"{runtime}{' compiled' if compile_ else ''}, batch {batch} (ready in {warm:.0f} s)"
        row("student MiniLM-L6", setting, rate["ce"].pairs_per_s, labels["ce"])

    examples = [TrainExample(pair=pair(*k), target=recorded[k]) for k in fit_keys[: args.train_pairs]]
    trained = {device: training_rate(examples, minilm, device, None)}
    if device != "cpu":
        trained["cpu"] = training_rate(examples, minilm, "cpu", args.cpu_train_seconds)
    report = _report(rows, trained, args)
    print(report)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(report)


def _row(r: dict) -> str:
    alpha = f"{r['alpha']:.4f} | {r['same']:.1%}" if "alpha" in r else " | "
    return f"| {r['labeler']} | {r['setting']} | {r['rate']:.1f} | {alpha} |"


def _report(rows: list[dict], trained: dict, args) -> str:
    teacher = max(r["rate"] for r in rows if r["labeler"].startswith("teacher"))
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    lines = [
        "# Teacher and student on a GPU",
        "",
        f"- command: `{shlex.join(['python', 'benchmarks/gpu.py', *sys.argv[1:]])}`",
        f"- date: {dt.datetime.now().isoformat(timespec='seconds')}",
        f"- GPU: {gpu}; CPU: {os.cpu_count()} cores; torch {torch.__version__},"
        f" transformers {transformers.__version__}",
        f"- {args.pairs} DL19 pairs at up to {MAX_LENGTH} tokens, the same for every labeler; best of 2 runs",
        "- alpha: Krippendorff's, ordinal, of each runtime's grades against fp32's on the CPU",
        "",
        "| labeler | setting | pairs/s | alpha vs CPU fp32 | same grade |",
        "|---|---|---|---|---|",
        *(_row(r) for r in rows),
        "",
        f"Best student against the best teacher: {max(r['rate'] for r in rows if 'alpha' in r) / teacher:.0f}x.",
        "",
        "| student training | steps | pairs/s | last train loss |",
        "|---|---|---|---|",
        *(f"| {where} | {t['steps']} | {t['pairs_per_s']:.1f} | {t['train_loss']:.3f} |"
          for where, t in trained.items()),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
