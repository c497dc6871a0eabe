from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotate.models import Benchmark
from annotate.selectors import benchmark_consensus_rows
from labeling.models import Labeler
from labeling.services.exports import FORMATS, annotator_qrel_rows, labeler_qrel_rows, qrels_export


class Command(BaseCommand):
    help = "Export qrels: a person's judgments, a labeler's labels, or a benchmark's consensus grades."

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--annotator", help="Username whose judgments to export.")
        source.add_argument("--labeler", help="Labeler whose labels to export.")
        source.add_argument("--consensus", metavar="BENCHMARK",
                            help="Benchmark whose consensus grades to export (a reviewer's decision, else the median).")
        parser.add_argument("--out", required=True, help="Output file (written all or nothing).")
        parser.add_argument("--format", choices=FORMATS, default="trec")

    def handle(self, *args, annotator, labeler, consensus, out, format, **options):
        if annotator:
            source = f"annotator {annotator}"
            rows = annotator_qrel_rows(annotator=self._get(get_user_model(), username=annotator))
        elif labeler:
            source = f"labeler {labeler}"
            rows = labeler_qrel_rows(labeler=self._get(Labeler, name=labeler), extra=format != "trec")
        else:
            source = f"consensus of {consensus}"
            rows = benchmark_consensus_rows(benchmark=self._get(Benchmark, name=consensus))
        try:
            count = qrels_export(rows=rows, out=out, fmt=format)
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{count} qrels written to {out} ({source}, {format})")

    @staticmethod
    def _get(model, **lookup):
        try:
            return model.objects.get(**lookup)
        except model.DoesNotExist:
            (field, value), = lookup.items()
            raise CommandError(f"no {model._meta.verbose_name} with {field} {value!r}") from None
