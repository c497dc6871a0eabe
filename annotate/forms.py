from django import forms

from labeling.grades import Grade
from labeling.models import Judgment

INPUT_METHODS = [(m, m) for m in (Judgment.InputMethod.KEY, Judgment.InputMethod.CLICK)]


class GradeForm(forms.Form):
    """One pair's grade, or a skip (action=skip)."""

    item = forms.IntegerField(min_value=1)
    grade = forms.TypedChoiceField(choices=Grade.choices, coerce=int, required=False, empty_value=None)
    action = forms.ChoiceField(choices=[("grade", "grade"), ("skip", "skip")], required=False)
    comment = forms.CharField(required=False, max_length=4000)
    input_method = forms.ChoiceField(choices=INPUT_METHODS, required=False)

    def clean(self):
        data = super().clean()
        data["action"] = data.get("action") or "grade"
        data["input_method"] = data.get("input_method") or Judgment.InputMethod.CLICK
        if data["action"] == "grade" and data.get("grade") is None and "grade" not in self.errors:
            raise forms.ValidationError("Pick a grade (0-3).")
        return data


class RegradeForm(forms.Form):
    grade = forms.TypedChoiceField(choices=Grade.choices, coerce=int)
    input_method = forms.ChoiceField(choices=INPUT_METHODS, required=False)


class LeaseForm(forms.Form):
    item = forms.IntegerField(min_value=1)
