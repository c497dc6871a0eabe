from django.core.management.base import BaseCommand, CommandError

from labeling.importers import queries_import


class Command(BaseCommand):
    help = "Import queries from a TSV file (qid<TAB>text, no header) or JSONL (all or nothing)."

    def add_arguments(self, parser):
        parser.add_argument("path", metavar="FILE")
        parser.add_argument("--corpus", required=True, help="Corpus name; created if missing.")

    def handle(self, *args, path, corpus, **options):
        try:
            summary = queries_import(path=path, corpus_name=corpus)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(summary))
        for line in summary.warning_lines():  # counted, with the first few named
            self.stderr.write(line, style_func=self.style.WARNING)
