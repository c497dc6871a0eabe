import inspect

from django import forms

from annotate.models import Benchmark
from labeling.models import Corpus, Labeler

from .config import DEFAULTS, config_from_choices


class RunLaunchForm(forms.Form):
    name = forms.CharField(max_length=200)
    corpus = forms.ModelChoiceField(Corpus.objects.all())
    benchmark = forms.ModelChoiceField(Benchmark.objects.all(), required=False,
                                       help_text="The human benchmark the student is checked against.")
    generator = forms.ModelChoiceField(Labeler.objects.filter(role=Labeler.Role.GENERATOR), to_field_name="name")
    teacher = forms.ModelChoiceField(Labeler.objects.filter(role__in=[Labeler.Role.TEACHER]), to_field_name="name")
    student_base = forms.CharField(initial=DEFAULTS["student_base"], help_text="A registry name or a model folder.")
    seed_documents = forms.IntegerField(min_value=1, initial=DEFAULTS["synthesize"]["seed_documents"])
    queries_per_document = forms.IntegerField(min_value=1, max_value=10,
                                              initial=DEFAULTS["synthesize"]["queries_per_document"])
    bm25_negatives = forms.IntegerField(min_value=0, max_value=50, initial=DEFAULTS["mine"]["bm25_negatives"])
    random_negatives = forms.IntegerField(min_value=0, max_value=20, initial=DEFAULTS["mine"]["random_negatives"])
    epochs = forms.IntegerField(min_value=1, max_value=20, initial=DEFAULTS["train"]["epochs"])
    learning_rate = forms.FloatField(min_value=1e-7, max_value=1e-2, initial=DEFAULTS["train"]["learning_rate"])
    batch_size = forms.IntegerField(min_value=1, max_value=256, initial=DEFAULTS["train"]["batch_size"])
    max_length = forms.IntegerField(min_value=32, max_value=512, initial=DEFAULTS["train"]["max_length"])
    gate_margin = forms.FloatField(
        min_value=0, max_value=1, initial=DEFAULTS["evaluate"]["margin"],
        help_text="The promotion gate passes a student whose α and quadratic κ against the people are not worse "
                  "than the teacher's by more than this (at the 95% level).")

    def config(self) -> dict:
        data = self.cleaned_data
        choices = {key: data[key] for key in inspect.signature(config_from_choices).parameters}
        return config_from_choices(**{**choices, "generator": data["generator"].name, "teacher": data["teacher"].name})
