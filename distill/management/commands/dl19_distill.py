import argparse
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from distill.dl19 import Dl19Config, dl19_distill
from distill.frontier import FrontierConfig
from labeling.metrics import json_finite

HEADLINE = ["accuracy", "kappa", "quadratic_kappa", "alpha_ordinal", "ndcg@10", "pairwise_accuracy"]


class Command(BaseCommand):
    help = ("The DL19 reproduction: train the MiniLM student on a recorded judge's grades of the training "
            "queries, then score judge and student against NIST on the held-out queries' pairs.")

    def add_arguments(self, parser):
        parser.add_argument("--data", required=True, type=Path, help="The DL19 folder (../shared/data/dl19).")
        parser.add_argument("--teacher-run", required=True, action="append",
                            help="The judge's run file, in --data or a path; twice or more: their ensemble teaches.")
        parser.add_argument("--test-queries", type=Path,
                            help="Held-out query ids, one per line; without it, 2-fold cross-validation by query id.")
        parser.add_argument("--json", type=Path, help="Write the report here.")
        parser.add_argument("--corpus", default="dl19")
        parser.add_argument("--annotator", default="nist")
        parser.add_argument("--base-model", default="minilm-l6")
        parser.add_argument("--params", default="{}", help="Training parameters over the defaults, as JSON.")
        frontier = parser.add_argument_group("the frontier and the promotion gate (distill.frontier)")
        frontier.add_argument("--anchors-per-query", type=_counts, action="extend",
                              help="Teacher-graded anchors per test query, repeatable or a list (0: the student "
                                   "alone); default 0,5,10.")
        frontier.add_argument("--defer-share", type=_shares, action="extend",
                              help="Also send this share of each query's pairs, nearest a threshold, to the teacher: "
                                   "repeatable or a list, each with every anchor budget; default 0.")
        frontier.add_argument("--gate-margin", type=float, default=FrontierConfig.margin,
                              help="The gate passes a budget not worse than the teacher by more than this.")
        frontier.add_argument("--teacher-pairs-per-s", type=float,
                              help="The teacher's rate, for the effective throughput (a recorded run has none).")
        reduced = parser.add_argument_group("reduced configurations (tests, CI)")
        reduced.add_argument("--max-train-queries", type=int)
        reduced.add_argument("--max-train-pairs-per-query", type=int)
        reduced.add_argument("--max-test-queries", type=int)
        reduced.add_argument("--max-test-pairs-per-query", type=int)

    def handle(self, **o):
        try:
            params = json.loads(o["params"])
            test_queries = None
            if o["test_queries"]:
                test_queries = [line.strip() for line in o["test_queries"].read_text().splitlines() if line.strip()]
            config = Dl19Config(
                data=o["data"], teacher_run=o["teacher_run"], test_queries=test_queries, corpus=o["corpus"],
                annotator=o["annotator"], base_model=o["base_model"], params=params,
                max_train_queries=o["max_train_queries"], max_train_pairs_per_query=o["max_train_pairs_per_query"],
                max_test_queries=o["max_test_queries"], max_test_pairs_per_query=o["max_test_pairs_per_query"],
                frontier=FrontierConfig.from_dict({
                    "anchors_per_query": o["anchors_per_query"] or FrontierConfig.anchors_per_query,
                    "defer_shares": o["defer_share"] or [0.0], "margin": o["gate_margin"]}),
                teacher_pairs_per_s=o["teacher_pairs_per_s"],
            )
            report = dl19_distill(config=config, log=lambda line: self.stdout.write(line))
        except (ValueError, OSError, json.JSONDecodeError) as exc:
            raise CommandError(str(exc)) from None
        for fold in report.get("folds", []):
            self._table(fold, f"{fold['split']} ({fold['test_pairs']} test pairs)")
        self._table(report, "mean over folds" if "folds" in report else f"{report['test_pairs']} test pairs")
        if o["json"]:
            o["json"].write_text(json.dumps(json_finite(report), indent=2, allow_nan=False) + "\n")
            self.stdout.write(f"written to {o['json']}")

    def _table(self, report: dict, title: str) -> None:
        self.stdout.write(f"\n{title}\n{'':>18}  {'teacher':>8}  {'student':>8}")
        for key in HEADLINE:
            self.stdout.write(f"{key:>18}  {report['teacher'][key]:8.3f}  {report['student'][key]:8.3f}")
        self.stdout.write(f"student {report['student_pairs_per_s']:.1f} pairs/s,"
                          f" trained in {report['train_seconds']:.0f} s")


def _shares(text: str) -> list[float]:
    """"0.05", or "0,0.05": shares of each query's pairs."""
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"shares are numbers in [0, 1), not {text!r}") from None


def _counts(text: str) -> list[int]:
    """"5", or "0,5,10": anchors per query."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"anchors per query are whole numbers, not {text!r}") from None
