from django.core.management.base import BaseCommand, CommandError

from labeling.importers import qrels_import


class Command(BaseCommand):
    help = "Import TREC qrels (qid Q0 docid grade) as a person's judgments or a recorded run's labels (all or nothing)."

    def add_arguments(self, parser):
        parser.add_argument("path", metavar="FILE")
        parser.add_argument("--corpus", required=True, help="Corpus holding the queries and documents.")
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--annotator", help="Username of the judgments (created without a password if missing).")
        who.add_argument("--labeler", help="Name of the recorded-run labeler (created if missing).")

    def handle(self, *args, path, corpus, annotator, labeler, **options):
        if not (annotator or labeler):  # the service would quietly import pairs only
            raise CommandError("--annotator or --labeler needs a name")
        try:
            summary = qrels_import(path=path, corpus_name=corpus, annotator=annotator, labeler=labeler)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(summary))
        for line in summary.warning_lines():  # counted, with the first few named
            self.stderr.write(line, style_func=self.style.WARNING)
