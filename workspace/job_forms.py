"""The labeling job form: which labeler, on which pairs (a benchmark, a corpus's pairs, or a
file of pairs), parsed into a scope for labeling.services.labeling_jobs.

A file's pairs are read (and made) at the estimate; the page then carries their ids, signed,
so Launch needs no second upload and a changed id list is refused."""

from typing import cast

from django import forms
from django.core import signing
from django.http import QueryDict

from annotate.models import Benchmark
from labeling.importers.errors import ImportFileError
from labeling.models import Corpus, Labeler
from labeling.scopes import pair_scope_build
from labeling.services.pair_files import pair_file_read

MAX_PAIR_FILE_BYTES = 2 * 1024 * 1024
SALT = "workspace.labeling-job-pairs"
SOURCES = [("benchmark", "a benchmark's pairs"), ("corpus", "every pair of a corpus"),
           ("file", "the pairs in a file (qid docid, qrels or a TREC run)")]


class LabelingJobForm(forms.Form):
    labeler = forms.ModelChoiceField(
        Labeler.objects.exclude(role=Labeler.Role.GENERATOR), to_field_name="name",
        help_text="Who grades. A student labels only once an evaluation promoted it (or when you tick below).")
    source = forms.ChoiceField(choices=SOURCES, widget=forms.RadioSelect, initial="benchmark",
                               help_text="Pairs the labeler labeled already are skipped.")
    benchmark = forms.ModelChoiceField(Benchmark.objects.all(), to_field_name="name", required=False,
                                       help_text="With “a benchmark's pairs”.")
    corpus = forms.ModelChoiceField(Corpus.objects.all(), to_field_name="name", required=False,
                                    help_text="With “every pair of a corpus” or a file: the corpus its ids are in.")
    pair_file = forms.FileField(required=False, help_text="With “the pairs in a file”: one pair a line, at most "
                                                          "10,000; pairs the corpus lacks are made.")
    pairs_token = forms.CharField(required=False, widget=forms.HiddenInput)
    batch_size = forms.IntegerField(min_value=1, max_value=4096, required=False,
                                    help_text="Pairs per batch on the worker (blank: the labeler's own).")
    force = forms.BooleanField(required=False, label="Label anyway",
                               help_text="Label with a student that has not passed its promotion gate.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("benchmark", "corpus"):
            queryset = cast(forms.ModelChoiceField, self.fields[name]).queryset
            if not self.is_bound and queryset is not None and queryset.count() == 1:  # the one there is
                self.initial.setdefault(name, queryset.get().name)
        self.scope: dict = {}
        self.description = ""

    def clean_pair_file(self):
        upload = self.cleaned_data.get("pair_file")
        if upload and upload.size > MAX_PAIR_FILE_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_PAIR_FILE_BYTES // (1024 * 1024)} MiB.")
        return upload

    def clean(self):
        data = super().clean()
        source, labeler = data.get("source"), data.get("labeler")
        if not source or not labeler:
            return data
        if source == "benchmark" and not data.get("benchmark"):
            self.add_error("benchmark", "Pick the benchmark whose pairs are labeled.")
        elif source in ("corpus", "file") and not data.get("corpus"):
            self.add_error("corpus", "Pick the corpus.")
        elif source == "file":
            self._file_scope(data)
        else:
            self.scope, self.description = pair_scope_build(
                benchmark=data["benchmark"].name if source == "benchmark" else None,
                corpus=data["corpus"].name if source == "corpus" else None)
        return data

    def _file_scope(self, data: dict) -> None:
        corpus, upload = data["corpus"], data.get("pair_file")
        if upload:
            try:
                text = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                self.add_error("pair_file", f"{upload.name}: not UTF-8 text.")
                return
            try:
                ids = pair_file_read(corpus=corpus, name=upload.name, text=text)
            except ImportFileError as exc:
                self.add_error("pair_file", str(exc))
                return
            name = upload.name[:100]
            carried = cast(QueryDict, self.data).copy()  # the page carries the ids on, signed
            carried["pairs_token"] = signing.dumps({"ids": ids, "name": name, "corpus": corpus.name}, salt=SALT,
                                                   compress=True)
            self.data = carried
        elif data.get("pairs_token"):
            try:
                carried = signing.loads(data["pairs_token"], salt=SALT)
            except signing.BadSignature:
                self.add_error("pair_file", "The pairs read before were altered: upload the file again.")
                return
            if carried["corpus"] != corpus.name:
                self.add_error("pair_file", "The file was read for another corpus: upload it again.")
                return
            ids, name = carried["ids"], carried["name"]
        else:
            self.add_error("pair_file", "Upload the file of pairs.")
            return
        self.scope = {"query__corpus__name": corpus.name, "id__in": ids}
        self.description = f"{len(ids)} pairs of {name} in corpus {corpus.name}"
