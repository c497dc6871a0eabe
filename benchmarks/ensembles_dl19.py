"""The two recorded DL19 judges alone and as ensembles (labeling.labelers.ensemble), against the
NIST assessors, on all judged pairs and on each fold of dl19_distill's 2-fold split.

    .venv/bin/python benchmarks/ensembles_dl19.py [--data PATH]

The judges are replayed through RecordedBackend and combined by EnsembleBackend, the code a
run's ensemble teacher uses; no database is needed. The table is printed and written to
benchmarks/results/ensembles.md, keeping its "## Notes".
"""

import argparse
import datetime as dt
import os
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from distill.dl19 import dl19_splits  # noqa: E402
from labeling.labelers.base import LabelerBackend, PairInput  # noqa: E402
from labeling.labelers.ensemble import COMBINE, TIES, EnsembleBackend  # noqa: E402
from labeling.labelers.recorded import RecordedBackend  # noqa: E402
from labeling.metrics import agreement_report  # noqa: E402

from report import results_write  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "ensembles.md"
JUDGES = {"Llama-3-70B": "run-llama3-70b-4prompts.txt", "Flan-T5-large": "run-flant5-large-4prompts.txt"}
FIGURES = ("accuracy", "quadratic_kappa", "alpha_ordinal", "ndcg@10", "pairwise_accuracy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "dl19")
    args = parser.parse_args()
    if not (args.data / "qrels-nist.txt").is_file():
        sys.exit(f"no DL19 data at {args.data} (give --data)")
    nist = RecordedBackend.from_file(args.data / "qrels-nist.txt").grades
    keys = sorted(nist)
    pairs = [PairInput(query="", text="", query_id=q, document_id=d) for q, d in keys]
    judges: dict[str, LabelerBackend] = {name: RecordedBackend.from_file(args.data / file)
                                         for name, file in JUDGES.items()}
    labelers: dict = dict(judges)
    for combine in COMBINE:
        for tie in TIES:
            labelers[f"ensemble: {combine}, ties to the {tie}"] = EnsembleBackend(judges, combine=combine, tie=tie)
    labels = {name: backend.label(pairs) for name, backend in labelers.items()}
    folds = {split.name: set(split.test) for split in dl19_splits(judged=sorted({q for q, _ in keys}))}
    parts = {"all 9,260 pairs": set(range(len(keys)))} | {
        f"{name} test queries": {i for i, (q, _) in enumerate(keys) if q in test} for name, test in folds.items()}

    lines = [
        "# DL19: the recorded judges alone and as ensembles, against NIST",
        "",
        f"- command: `{shlex.join(['.venv/bin/python', 'benchmarks/ensembles_dl19.py', *sys.argv[1:]])}`",
        f"- date: {dt.datetime.now().isoformat(timespec='seconds')}",
        "- judges: the recorded four-prompts runs of Llama-3-70B-Instruct and Flan-T5-large; ensembles through"
        " labeling.labelers.ensemble (mean of the distributions or majority, a tie to the lower or the higher grade;"
        " or the mean expected grade rounded down or up);"
        " ranked by expected grade for NDCG@10 and pairwise accuracy",
        "",
    ]
    for part, indices in parts.items():
        order = sorted(indices)
        lines += [f"## {part}", "", "| labeler | " + " | ".join(FIGURES) + " |", "|---|" + "---|" * len(FIGURES)]
        for name, rows in labels.items():
            report = agreement_report(query_ids=[keys[i][0] for i in order], reference=[nist[keys[i]] for i in order],
                                      predicted=[rows[i].grade for i in order],
                                      expected=[rows[i].expected_grade for i in order])
            lines.append(f"| {name} | " + " | ".join(f"{report[f]:.3f}" for f in FIGURES) + " |")
        lines.append("")
    report_text = "\n".join(lines)
    print(report_text)
    results_write(RESULTS, report_text)


if __name__ == "__main__":
    main()
