"""The set-up pages' forms: each field bounded, each message saying what to fix."""

from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from annotate.models import Benchmark
from distill.models import BenchmarkBuild
from distill.services.benchmark_builds import MAX_DEPTH
from labeling.models import Corpus, ImportJob, Labeler
from labeling.scopes import MAX_QUERY_IDS
from labeling.services.import_jobs import import_path_resolve

SLUG = r"^[-a-zA-Z0-9_]+$"
SLUG_ERRORS = {"invalid": "Use only letters, digits, - and _."}
DOCUMENT_SUFFIXES = (".jsonl", ".ndjson", ".csv", ".tsv", ".zip", ".txt", ".md", ".markdown", ".html", ".htm")
# What each importer reads by the name's suffix; queries (TSV unless JSONL) and qrels take any name.
SUFFIXES: dict[str, tuple[str, ...]] = {"documents": DOCUMENT_SUFFIXES, "queries": (), "qrels": ()}
MAX_RUN_FILES = 20


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field (Django's documented pattern): a list of uploads."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, (list, tuple)) else [data]
        return [super(MultipleFileField, self).clean(f, initial) for f in files if f]


def _upload_checked(upload, suffixes: tuple[str, ...] = ()) -> None:
    if upload.size > settings.API_UPLOAD_MAX_BYTES:
        raise forms.ValidationError(f"{upload.name}: over the upload limit of {settings.API_UPLOAD_MAX_BYTES:,} bytes")
    if suffixes and Path(upload.name).suffix.lower() not in suffixes:
        kinds = ", ".join(suffixes)
        raise forms.ValidationError(f"{upload.name}: not a file this import reads (use {kinds}).")


class ImportForm(forms.Form):
    """One import into a corpus: an uploaded file, or (admins) a path inside the import root."""

    kind = forms.ChoiceField(choices=ImportJob.Kind.choices, initial="documents")
    file = forms.FileField(required=False, help_text="JSONL, CSV or TSV; a zip of a folder of .md, .txt and .html "
                                                     "files; queries as TSV (qid, text) or JSONL; qrels as TREC.")
    path = forms.CharField(required=False, max_length=1000,
                           help_text="Or a file or folder on the server, inside the import root (admins).")
    annotator = forms.CharField(required=False, max_length=150, help_text="Qrels: whose judgments they are.")
    labeler = forms.CharField(required=False, max_length=100, help_text="Qrels: or the recorded run they are.")

    def __init__(self, *args, may_use_path: bool = False, kinds: tuple[str, ...] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.may_use_path = may_use_path
        if kinds:
            kind = self.fields["kind"]
            assert isinstance(kind, forms.ChoiceField)
            kind.choices = [c for c in ImportJob.Kind.choices if c[0] in kinds]
        if not may_use_path:
            del self.fields["path"]

    def clean(self):
        data = super().clean()
        kind, upload, path = data.get("kind"), data.get("file"), (data.get("path") or "").strip()
        if kind is None:
            return data
        if bool(upload) == bool(path):
            raise forms.ValidationError("Upload a file or name a server path (one of them)." if self.may_use_path
                                        else "Choose a file to upload.")
        if upload:
            try:
                _upload_checked(upload, SUFFIXES[kind])
            except forms.ValidationError as exc:
                self.add_error("file", exc)
        if path:
            try:
                data["resolved"] = import_path_resolve(path=path)
            except ValueError as exc:
                self.add_error("path", str(exc))
        annotator, labeler = data.get("annotator", ""), data.get("labeler", "")
        if kind == "qrels" and bool(annotator) == bool(labeler):
            self.add_error("annotator", "Qrels are a person's judgments or a recorded run's labels: name one of them.")
        if kind != "qrels" and (annotator or labeler):
            self.add_error("annotator", "An annotator or labeler is for qrels only.")
        return data


class CorpusForm(forms.Form):
    name = forms.RegexField(regex=SLUG, max_length=100, error_messages=SLUG_ERRORS,
                            help_text="Letters, digits, - and _ (used in URLs and exports).")
    description = forms.CharField(required=False, max_length=10_000, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if Corpus.objects.filter(name=name).exists():
            raise forms.ValidationError(f"A corpus named {name!r} exists already: import into it from its page.")
        return name


class DocumentSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")


def _lines(text: str, *, limit: int, what: str) -> list[str]:
    items = list(dict.fromkeys(line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()))
    if len(items) > limit:
        raise forms.ValidationError(f"At most {limit} {what}.")
    if too_long := [i for i in items if len(i) > 255]:
        raise forms.ValidationError(f"An id is at most 255 characters: {too_long[0][:40]}…")
    return items


class BenchmarkForm(forms.Form):
    name = forms.RegexField(regex=SLUG, max_length=100, error_messages=SLUG_ERRORS,
                            help_text="Letters, digits, - and _.")
    title = forms.CharField(required=False, max_length=200)
    corpus = forms.ModelChoiceField(queryset=Corpus.objects.order_by("name"), to_field_name="name")
    query_ids = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=3_000_000,
                                help_text="Only these query ids (one a line); empty: every query of the corpus.")
    method = forms.ChoiceField(choices=BenchmarkBuild.Method.choices, widget=forms.RadioSelect, initial="all",
                               label="How pairs are chosen")
    k = forms.IntegerField(min_value=1, max_value=MAX_DEPTH, initial=10, required=False,
                           help_text="BM25 or runs: the top k documents per query.")
    runs = MultipleFileField(required=False,
                           help_text="Runs: TREC run files (qid Q0 docid rank score tag); their top k are pooled.")
    labeler = forms.ModelChoiceField(queryset=Labeler.objects.order_by("name"), to_field_name="name", required=False,
                                     help_text="Stratified: sample across this labeler's grades.")
    n = forms.IntegerField(min_value=1, max_value=100_000, initial=100, required=False,
                           help_text="Stratified: how many pairs.")
    judgments_required = forms.IntegerField(min_value=1, max_value=100, initial=3, label="Judgments per pair")
    gold_share = forms.FloatField(min_value=0, max_value=1, initial=0, label="Gold share",
                                  help_text="Share of the pairs with a known grade, to measure annotators (0 to 1).")
    calibration = forms.IntegerField(min_value=0, max_value=1000, initial=0, label="Calibration items",
                                     help_text="Pairs everyone grades first, to align on the scale.")
    reference = forms.ModelChoiceField(queryset=Labeler.objects.order_by("name"), to_field_name="name", required=False,
                                       label="Known grades from",
                                       help_text="Gold and calibration grades: this labeler's (a recorded run, say).")
    guidelines = forms.CharField(required=False, max_length=100_000, widget=forms.Textarea(attrs={"rows": 8}),
                                 help_text="Markdown, shown to annotators before their first pair.")

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if Benchmark.objects.filter(name=name).exists():  # before its run files are kept for the worker
            raise forms.ValidationError(f"A benchmark named {name!r} exists already.")
        return name

    def clean_query_ids(self) -> list[str]:
        return _lines(self.cleaned_data.get("query_ids", ""), limit=MAX_QUERY_IDS, what="query ids")

    def clean(self):
        data = super().clean()
        method = data.get("method")
        uploads = data.get("runs") or []
        if method in ("bm25", "runs") and not data.get("k"):
            self.add_error("k", "Give k, the documents per query.")
        if method == "runs":
            if not uploads:
                self.add_error("runs", "Upload at least one run file.")
            elif len(uploads) > MAX_RUN_FILES:
                self.add_error("runs", f"At most {MAX_RUN_FILES} run files.")
            for upload in uploads:
                try:
                    _upload_checked(upload)
                except forms.ValidationError as exc:
                    self.add_error("runs", exc)
        if method == "stratified":
            if not data.get("labeler"):
                self.add_error("labeler", "Choose the labeler whose grades the sample is stratified by.")
            if not data.get("n"):
                self.add_error("n", "Give the number of pairs.")
        if data.get("gold_share") and not data.get("reference"):
            self.add_error("reference", "Gold pairs need known grades: choose the labeler whose grades they are.")
        return data


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    create = forms.BooleanField(required=False, label="Create this user (as an annotator)")
    password = forms.CharField(required=False, max_length=128, widget=forms.PasswordInput,
                               help_text="For a user created here.")

    def __init__(self, *args, may_create: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not may_create:
            del self.fields["create"], self.fields["password"]

    def clean(self):
        data = super().clean()
        username = data.get("username", "")
        exists = get_user_model().objects.filter(username=username).exists()
        if data.get("create"):
            if exists:
                self.add_error("username", f"A user named {username!r} exists already: untick create to add them.")
            if len(data.get("password") or "") < 8:
                self.add_error("password", "A new user needs a password of at least 8 characters.")
            try:
                get_user_model().username_validator(username)
            except ValidationError:
                self.add_error("username", "Letters, digits and @/./+/-/_ only.")
        elif username and not exists:
            self.add_error("username", f"No user named {username!r}." + (" Tick create to make one." if "create"
                                                                          in self.fields else ""))
        return data
