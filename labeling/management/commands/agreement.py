import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labeling.management.scope import pair_scope
from labeling.services.agreement import agreement_compute, annotator_get, labeler_get

HEADLINE = ["n_pairs", "accuracy", "kappa", "linear_kappa", "quadratic_kappa", "alpha_ordinal", "ndcg@10",
            "pairwise_accuracy"]


class Command(BaseCommand):
    help = "Agreement of a labeler with an annotator (or another labeler) on the pairs both graded."

    def add_arguments(self, parser):
        parser.add_argument("--labeler", required=True)
        reference = parser.add_mutually_exclusive_group(required=True)
        reference.add_argument("--annotator")
        reference.add_argument("--against-labeler", help="Compare with another labeler instead of a person.")
        parser.add_argument("--queries", help="Only these query ids (a file, one per line).")
        parser.add_argument("--prompt-version", help="Only the labeler's labels made with this prompt version.")
        parser.add_argument("--json", help="Write every figure to this file.")

    def handle(self, *, labeler, annotator, against_labeler, queries, prompt_version, **options):
        out = options["json"]  # the option's name shadows the module
        try:
            report = agreement_compute(
                labeler=labeler_get(name=labeler),
                annotator=annotator_get(username=annotator) if annotator else None,
                reference_labeler=labeler_get(name=against_labeler) if against_labeler else None,
                scope=pair_scope(queries=queries)[0] if queries else None,
                prompt_version=prompt_version,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        for key in HEADLINE:
            value = report[key]
            self.stdout.write(f"{key:>18}  {value:.3f}" if isinstance(value, float) else f"{key:>18}  {value}")
        if out:
            Path(out).write_text(json.dumps(report, indent=2) + "\n")
            self.stdout.write(f"written to {out}")
