import inspect
from typing import cast

from django import forms

from annotate.models import Benchmark
from labeling.models import Corpus, Labeler

from .config import DEFAULTS, config_from_choices


class RunLaunchForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="What the runs page lists it as, e.g. “intranet, round 1”.")
    corpus = forms.ModelChoiceField(Corpus.objects.all(), help_text="The documents queries are written from and "
                                                                    "hard negatives are mined in.")
    benchmark = forms.ModelChoiceField(Benchmark.objects.all(), required=False,
                                       help_text="The human benchmark the student is checked against (blank: no "
                                                 "evaluation, no promotion).")
    generator = forms.ModelChoiceField(Labeler.objects.filter(role=Labeler.Role.GENERATOR), to_field_name="name",
                                       help_text="The language model that writes queries from seed documents.")
    teacher = forms.ModelChoiceField(Labeler.objects.filter(role__in=[Labeler.Role.TEACHER]), to_field_name="name",
                                     help_text="Grades every mined pair; the student learns from its grades.")
    student_base = forms.CharField(initial=DEFAULTS["student_base"],
                                   help_text="The model the student is trained from: a registry name or a folder.")
    seed_documents = forms.IntegerField(min_value=1, max_value=100_000,
                                        initial=DEFAULTS["synthesize"]["seed_documents"],
                                        help_text="Documents picked at random to write queries from.")
    queries_per_document = forms.IntegerField(min_value=1, max_value=10,
                                              initial=DEFAULTS["synthesize"]["queries_per_document"],
                                              help_text="Queries the generator writes for each seed document.")
    bm25_negatives = forms.IntegerField(min_value=0, max_value=50, initial=DEFAULTS["mine"]["bm25_negatives"],
                                        help_text="Per query, top BM25 hits other than the seed: hard negatives.")
    random_negatives = forms.IntegerField(min_value=0, max_value=20, initial=DEFAULTS["mine"]["random_negatives"],
                                          help_text="Per query, random documents: easy negatives.")
    epochs = forms.IntegerField(min_value=1, max_value=20, initial=DEFAULTS["train"]["epochs"],
                                help_text="Passes over the teacher's grades while training the student.")
    learning_rate = forms.FloatField(min_value=1e-7, max_value=1e-2, initial=DEFAULTS["train"]["learning_rate"],
                                     help_text="The student's step size (3e-5 suits a small cross-encoder).")
    batch_size = forms.IntegerField(min_value=1, max_value=256, initial=DEFAULTS["train"]["batch_size"],
                                    help_text="Training pairs per step.")
    max_length = forms.IntegerField(min_value=32, max_value=512, initial=DEFAULTS["train"]["max_length"],
                                    help_text="Query and document tokens the student reads.")
    gate_margin = forms.FloatField(
        min_value=0, max_value=1, initial=DEFAULTS["evaluate"]["margin"],
        help_text="The promotion gate passes a student whose α and quadratic κ against the people are not worse "
                  "than the teacher's by more than this (at the 95% level).")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            for name, default in (("corpus", None), ("benchmark", None), ("generator", DEFAULTS["generator"]),
                                  ("teacher", DEFAULTS["teacher"])):
                self.initial.setdefault(name, self._only(name, default))

    def _only(self, name: str, default: str | None):
        """What to preselect: the one there is, else the default labeler where it exists."""
        queryset = cast(forms.ModelChoiceField, self.fields[name]).queryset
        assert queryset is not None
        choices = list(queryset[:2])
        if len(choices) == 1:
            return choices[0] if name in ("corpus", "benchmark") else choices[0].name
        return default if default and queryset.filter(name=default).exists() else None

    def choices(self) -> dict:
        """The values the estimate reads: the bound ones where valid, else the initial ones."""
        if self.is_bound:
            return self.cleaned_data if self.is_valid() else {}
        values = {name: self.initial.get(name, field.initial) for name, field in self.fields.items()}
        for name in ("generator", "teacher"):
            values[name] = Labeler.objects.filter(name=values[name]).first() if values[name] else None
        return values

    def config(self) -> dict:
        data = self.cleaned_data
        choices = {key: data[key] for key in inspect.signature(config_from_choices).parameters}
        return config_from_choices(**{**choices, "generator": data["generator"].name, "teacher": data["teacher"].name})
