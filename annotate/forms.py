from django import forms

from labeling.grades import Grade
from labeling.models import Judgment

from .models import ReviewDecision, Skip
from .selectors.review import ANY, CANT_JUDGE, CONSENSUS, PEOPLE, SPOT, SPREADS

INPUT_METHODS = [(m, m) for m in (Judgment.InputMethod.KEY, Judgment.InputMethod.CLICK)]
ID_MAX = 2**63 - 1  # the largest id a database row can have (a bigint): a larger one is a bad request


def id_field(**kwargs) -> forms.IntegerField:
    """A row id from a form: a whole number from 1 to ID_MAX, so no query is made with a number
    the database cannot hold (10**25 raised OverflowError on SQLite)."""
    return forms.IntegerField(min_value=1, max_value=ID_MAX, **kwargs)


def id_errors(form: forms.Form, *fields: str) -> str | None:
    """The message for a bound, invalid form whose id fields are wrong (`field: error`), or None
    when they are fine. A page never sends a bad id: such a request is answered 400."""
    errors = [f"{field}: {error}" for field in fields for error in form.errors.get(field, [])]
    return " ".join(errors) or None


class GradeForm(forms.Form):
    """One pair's grade, or a skip (action=skip)."""

    item = id_field()
    grade = forms.TypedChoiceField(choices=Grade.choices, coerce=int, required=False, empty_value=None)
    action = forms.ChoiceField(choices=[("grade", "grade"), ("skip", "skip"), ("cant_judge", "can't judge")],
                               required=False)
    reason = forms.ChoiceField(choices=Skip.Reason.choices, required=False)  # why they cannot judge it
    comment = forms.CharField(required=False, max_length=4000)
    input_method = forms.ChoiceField(choices=INPUT_METHODS, required=False)

    def clean(self):
        data = super().clean()
        # A reason button of the "can't judge" panel posts only its reason.
        data["action"] = data.get("action") or ("cant_judge" if data.get("reason") else "grade")
        data["input_method"] = data.get("input_method") or Judgment.InputMethod.CLICK
        if data["action"] == "grade" and data.get("grade") is None and "grade" not in self.errors:
            raise forms.ValidationError("Pick a grade (0-3).")
        if data["action"] == "cant_judge" and not data.get("reason") and "reason" not in self.errors:
            raise forms.ValidationError("Say why you cannot judge this pair.")
        return data


class RegradeForm(forms.Form):
    grade = forms.TypedChoiceField(choices=Grade.choices, coerce=int)
    input_method = forms.ChoiceField(choices=INPUT_METHODS, required=False)


class LeaseForm(forms.Form):
    item = id_field()


class ReviewFilterForm(forms.Form):
    """The review queue's choices, from the query string (they stay in the page's URL)."""

    labeler = forms.CharField(required=False)
    mode = forms.ChoiceField(choices=[(CONSENSUS, "differs from the people's median"),
                                      (ANY, "differs from any annotator"),
                                      (PEOPLE, "annotators disagree among themselves"),
                                      (CANT_JUDGE, "an annotator could not judge it"),
                                      (SPOT, "spot-checks of agreed pairs")], required=False)
    spread = forms.ChoiceField(choices=[(s, s) for s in SPREADS], required=False)
    query = forms.CharField(required=False, max_length=200)
    grade = forms.TypedChoiceField(choices=[("", "any"), *Grade.choices], coerce=int, required=False,
                                   empty_value=None)
    model_grade = forms.TypedChoiceField(choices=[("", "any"), *Grade.choices], coerce=int, required=False,
                                         empty_value=None)
    annotator = forms.CharField(required=False, max_length=150)
    pair = id_field(required=False)  # show this pair first (after an undo)


class DecisionForm(forms.Form):
    """One decision: action keep_human, take_model or ambiguous, or a grade button (set_grade)."""

    pair = id_field()
    action = forms.ChoiceField(
        choices=[(a.value, a.label) for a in ReviewDecision.Action if a != ReviewDecision.Action.UNDO], required=False)
    grade = forms.TypedChoiceField(choices=Grade.choices, coerce=int, required=False, empty_value=None)
    comment = forms.CharField(required=False, max_length=4000)

    def clean(self):
        data = super().clean()
        if not data.get("action"):
            data["action"] = "set_grade"
        if data["action"] == "set_grade" and data.get("grade") is None and "grade" not in self.errors:
            raise forms.ValidationError("Pick an action or a grade (0-3).")
        return data


class SpotDrawForm(forms.Form):
    share = forms.FloatField(min_value=0.0, max_value=1.0, required=False)  # empty: the benchmark's
