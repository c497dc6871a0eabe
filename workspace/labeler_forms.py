"""The labeler form, one per backend: the fields that backend is built from, each explained,
turned into a Labeler's model_ref and params (labeling.labelers says what each backend reads)."""

from typing import Any, cast

from django import forms
from django.core.validators import RegexValidator

from labeling.labelers.cross_encoder import RUNTIMES
from labeling.models import Labeler

# The backends an admin sets up here; an anchored student is made by `anchored_labeler` (it
# names a student and a teacher and is tuned by an evaluation).
FORM_BACKENDS = [Labeler.Backend.OPENAI, Labeler.Backend.LOCAL_LM, Labeler.Backend.VLLM, Labeler.Backend.CROSS_ENCODER,
                 Labeler.Backend.ENSEMBLE, Labeler.Backend.RECORDED]
# Backends that write text as well as grade: the only ones a generator can be.
MEMBER_BACKENDS = [Labeler.Backend.OPENAI, Labeler.Backend.LOCAL_LM, Labeler.Backend.VLLM,
                   Labeler.Backend.CROSS_ENCODER]
GENERATES = {Labeler.Backend.OPENAI, Labeler.Backend.LOCAL_LM, Labeler.Backend.VLLM}
ENV_NAME = RegexValidator(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$",
                          "The name of an environment variable (letters, digits, _), not the key itself.")

PRICES = {
    "price_per_million_input_tokens": "Price per million input tokens (any currency; blank: free).",
    "price_per_million_output_tokens": "Price per million output tokens.",
    "price_per_gpu_hour": "Price per GPU-hour, for a model you run yourself.",
}
# Per backend: the params fields it shows (model_ref is asked where the backend needs it).
BACKEND_PARAMS: dict[str, list[str]] = {
    Labeler.Backend.OPENAI: ["base_url", "api_key_env", "api", "timeout_s", "max_concurrency", "requests_per_second"],
    Labeler.Backend.LOCAL_LM: ["device", "batch_size", "max_doc_tokens"],
    Labeler.Backend.VLLM: ["max_doc_tokens"],
    Labeler.Backend.CROSS_ENCODER: ["runtime", "device", "batch_size", "max_length"],
    Labeler.Backend.ENSEMBLE: ["members", "combine"],
    Labeler.Backend.RECORDED: [],
}
NEEDS_MODEL = {Labeler.Backend.OPENAI, Labeler.Backend.LOCAL_LM, Labeler.Backend.VLLM, Labeler.Backend.CROSS_ENCODER}
MODEL_HELP: dict[str, str] = {
    Labeler.Backend.OPENAI: "The endpoint's model id, as its /v1/models lists it.",
    Labeler.Backend.LOCAL_LM: "A registry name (smollm2-135m-instruct) or a model folder on the workers.",
    Labeler.Backend.VLLM: "A model folder or registry name the GPU worker's vLLM loads.",
    Labeler.Backend.CROSS_ENCODER: "A registry name (minilm-l6) or a trained student's folder on the workers.",
}


def _fields() -> dict[str, forms.Field]:
    return {
        "base_url": forms.URLField(max_length=500, assume_scheme="https",
                                   help_text="The OpenAI-compatible endpoint, ending in /v1."),
        "api_key_env": forms.CharField(
            max_length=100, required=False, validators=[ENV_NAME],
            help_text="The NAME of the environment variable on the workers that holds the API key (e.g. "
                      "OPENAI_API_KEY). The key itself is never stored here. Blank: no key."),
        "api": forms.ChoiceField(choices=[("chat", "chat completions"), ("completions", "completions")],
                                 initial="chat", help_text="Chat suits most servers; completions needs a tokenizer."),
        "timeout_s": forms.FloatField(min_value=1, max_value=600, required=False,
                                      help_text="Seconds a request may take before it is retried (default 60)."),
        "max_concurrency": forms.IntegerField(min_value=1, max_value=64, required=False,
                                              help_text="Requests in flight at once (default 4)."),
        "requests_per_second": forms.FloatField(min_value=0.01, max_value=1000, required=False,
                                                help_text="A rate limit the endpoint imposes (blank: none)."),
        "device": forms.ChoiceField(choices=[("auto", "auto (a GPU where there is one)"), ("cpu", "cpu"),
                                             ("cuda", "cuda")], initial="auto", help_text="Where the model runs."),
        "runtime": forms.ChoiceField(choices=[("auto", "auto"), *[(r, r) for r in RUNTIMES]], initial="auto",
                                     help_text="torch, or ONNX Runtime (int8 is fastest on CPUs)."),
        "batch_size": forms.IntegerField(min_value=1, max_value=4096, required=False,
                                         help_text="Pairs graded per batch (blank: the backend's default)."),
        "max_doc_tokens": forms.IntegerField(min_value=16, max_value=32768, required=False,
                                             help_text="A document is cut to this many tokens in the prompt."),
        "max_length": forms.IntegerField(min_value=32, max_value=512, required=False,
                                         help_text="Query and document tokens the cross-encoder reads (default 192)."),
        "members": forms.ModelMultipleChoiceField(
            Labeler.objects.filter(backend__in=MEMBER_BACKENDS), to_field_name="name",
            help_text="The teachers whose grades are combined (two or more)."),
        "combine": forms.ChoiceField(choices=[("mean", "mean of their distributions"), ("majority", "majority"),
                                              ("expected", "mean of their expected grades")],
                                     initial="mean", help_text="How the members' grades become one."),
    }


class LabelerForm(forms.Form):
    name = forms.SlugField(max_length=100, help_text="Letters, digits, - and _; labels and jobs name it.")
    role = forms.ChoiceField(choices=Labeler.Role.choices,
                             help_text="Generator writes queries; teacher grades training pairs; student labels at "
                                       "scale once promoted; recorded replays imported grades.")
    model_ref = forms.CharField(max_length=500)
    max_error_share = forms.FloatField(
        min_value=0, max_value=1, required=False,
        help_text="A job fails once more than this share of its pairs cannot be graded (default 0.05).")

    def __init__(self, data=None, *, backend: str, labeler: Labeler | None = None):
        self.backend, self.labeler = backend, labeler
        initial = ({"name": labeler.name, "role": labeler.role, "model_ref": labeler.model_ref, **labeler.params}
                   if labeler else None)
        super().__init__(data, initial=initial)
        extra = _fields()
        for name in BACKEND_PARAMS[backend]:
            self.fields[name] = extra[name]
        for name, help_text in PRICES.items():
            self.fields[name] = forms.FloatField(min_value=0, max_value=1_000_000, required=False, help_text=help_text)
        self.fields["max_error_share"] = self.fields.pop("max_error_share")  # after the backend's own
        if backend in NEEDS_MODEL:
            self.fields["model_ref"].help_text = MODEL_HELP[backend]
        else:
            del self.fields["model_ref"]
        if labeler is not None:
            self.fields["name"].disabled = True
            self.fields["name"].help_text = "A labeler keeps its name: its labels and jobs carry it."
            if "members" in self.fields:
                members = cast(forms.ModelMultipleChoiceField, self.fields["members"])
                members.queryset = Labeler.objects.filter(backend__in=MEMBER_BACKENDS).exclude(id=labeler.id)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if name == "new":  # /labelers/new/ is the form
            raise forms.ValidationError("'new' is taken by the page that makes labelers: pick another name.")
        return name

    def clean_role(self) -> str:
        role = self.cleaned_data["role"]
        if role == Labeler.Role.GENERATOR and self.backend not in GENERATES:
            raise forms.ValidationError("Only a language model (OpenAI-compatible, local LM or vLLM) writes queries.")
        if self.backend == Labeler.Backend.RECORDED and role != Labeler.Role.RECORDED:
            raise forms.ValidationError("A recorded run's labeler has the role 'recorded run'.")
        return role

    def clean_members(self):
        members = self.cleaned_data["members"]
        if len(members) < 2:
            raise forms.ValidationError("An ensemble needs two or more members.")
        return members

    def params(self) -> dict[str, Any]:
        """The labeler's params: what the form asked, over what it did not (kept from before)."""
        asked = [*BACKEND_PARAMS[self.backend], *PRICES, "max_error_share"]
        params = {k: v for k, v in (self.labeler.params if self.labeler else {}).items() if k not in asked}
        for name in asked:
            value = self.cleaned_data.get(name)
            if name == "members":
                params[name] = [m.name for m in value or []]
            elif value not in (None, ""):
                params[name] = value
        return params
