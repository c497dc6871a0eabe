from django.core.management.base import BaseCommand, CommandError

from labeling.importers import documents_import


class Command(BaseCommand):
    help = "Import documents from JSONL, CSV, TSV, or a folder of .txt/.md/.html files (all or nothing)."

    def add_arguments(self, parser):
        parser.add_argument("path", metavar="FILE_OR_FOLDER")
        parser.add_argument("--corpus", required=True, help="Corpus name; created if missing.")

    def handle(self, *args, path, corpus, **options):
        try:
            summary = documents_import(path=path, corpus_name=corpus)
        except ValueError as exc:  # ImportFileError included: it names file, line and field
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(summary))
        for line in summary.warning_lines():  # counted, with the first few named
            self.stderr.write(line, style_func=self.style.WARNING)
