import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotate.services import benchmark_import, benchmark_sample_stratified
from labeling.models import Labeler


class Command(BaseCommand):
    help = ("Make a benchmark: from the pairs of a qrels file (--corpus, --qrels), or by a sample of a labeler's "
            "graded pairs stratified by its grade (--labeler, --n, --scope).")

    def add_arguments(self, parser):
        parser.add_argument("name", help="Benchmark name (a slug).")
        parser.add_argument("--title", default="")
        parser.add_argument("--guidelines", type=Path, help="A Markdown file shown to annotators.")
        parser.add_argument("--required", type=int, default=3, help="Judgments per pair.")
        parser.add_argument("--gold-rate", type=float, default=None, help="Share of gold pairs in a queue (0-1).")
        parser.add_argument("--seed", type=int, default=0)
        qrels = parser.add_argument_group("from a qrels file")
        qrels.add_argument("--corpus")
        qrels.add_argument("--qrels", type=Path)
        qrels.add_argument("--gold", type=int, default=0, help="Pairs kept as gold, with the file's grades.")
        qrels.add_argument("--calibration", type=int, default=0, help="Pairs everyone grades first.")
        sample = parser.add_argument_group("stratified sample of a run")
        sample.add_argument("--labeler")
        sample.add_argument("--n", type=int)
        sample.add_argument("--scope", default="{}",
                            help='Pair filter lookups as JSON, e.g. {"query__corpus__name": "acme"}.')

    def handle(self, *, name, title, guidelines, required, gold_rate, seed, corpus, qrels, gold, calibration,
               labeler, n, scope, **options):
        text = guidelines.read_text(encoding="utf-8") if guidelines else ""
        try:
            if qrels and corpus and not labeler:
                benchmark = benchmark_import(
                    name=name, corpus_name=corpus, qrels_path=qrels, title=title, guidelines=text,
                    judgments_required=required, gold_rate=0.1 if gold_rate is None else gold_rate,
                    gold=gold, calibration=calibration, seed=seed,
                )
            elif labeler and n and not qrels:
                benchmark = benchmark_sample_stratified(
                    name=name, labeler=Labeler.objects.get(name=labeler), scope=json.loads(scope), n=n,
                    judgments_required=required, title=title, guidelines=text,
                    gold_rate=0.0 if gold_rate is None else gold_rate, seed=seed,
                )
            else:
                raise CommandError("give --corpus and --qrels, or --labeler and --n")
        except Labeler.DoesNotExist:
            raise CommandError(f"no labeler named {labeler!r}") from None
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Benchmark {benchmark.name!r}: {benchmark.regular_count} pairs, {benchmark.gold_count} gold, "
            f"{benchmark.calibration_count} calibration; {benchmark.judgments_required} judgments each."
        )
