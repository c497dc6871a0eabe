"""Several teachers as one: each member grades the batch through its own backend and their
labels are combined pair by pair.

- "mean": the mean of the members' distributions; the grade is its most likely one.
- "majority": the grade most members gave.
- "expected": the members' mean expected grade, rounded down ("lower") or up ("higher").
In the first two a tie goes to the lower grade (`tie`: "lower") or the higher ("higher"). The
distribution is the members' mean and the expected grade its mean. Two judges that disagree
always tie, so with "lower" the ensemble grades the lower of the two: an over-grading judge
(Llama-3-70B on DL19) is held back by a stricter one (benchmarks/results/ensembles.md).
"""

from collections.abc import Sequence

import numpy as np

from ..grades import GRADES
from ..models import Labeler
from . import backend_for
from .base import Label, LabelerBackend, PairInput, PairsSetAside, SetAside, labels_or_set_aside

COMBINE = ("mean", "majority", "expected")
TIES = ("lower", "higher")
NOT_MEMBERS = (Labeler.Backend.ENSEMBLE, Labeler.Backend.ANCHORED)


class EnsembleBackend:
    def __init__(self, members: dict[str, LabelerBackend], *, combine: str = "mean", tie: str = "lower"):
        if len(members) < 2:
            raise ValueError("an ensemble needs two members or more")
        if combine not in COMBINE:
            raise ValueError(f"combine is one of {', '.join(COMBINE)}, not {combine!r}")
        if tie not in TIES:
            raise ValueError(f"tie is one of {', '.join(TIES)}, not {tie!r}")
        self.members, self.combine, self.tie = members, combine, tie
        members_versions = ",".join(f"{name}={backend.prompt_version}" for name, backend in members.items())
        self.prompt_version = f"ensemble-{combine}-{tie}:{members_versions}"[:100]  # ModelLabel.prompt_version

    @classmethod
    def from_labeler(cls, labeler: Labeler) -> "EnsembleBackend":
        """params: {"members": [labeler names], "combine": ..., "tie": ...}."""
        names = labeler.params.get("members")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"ensemble {labeler.name!r} needs params.members: a list of labeler names")
        found = {m.name: m for m in Labeler.objects.filter(name__in=names)}
        for name in names:
            if name not in found:
                raise ValueError(f"ensemble {labeler.name!r}: no labeler named {name!r}")
            if found[name].backend in NOT_MEMBERS:
                raise ValueError(f"ensemble {labeler.name!r}: {name!r} is {found[name].backend}, not a teacher")
        return cls({name: backend_for(found[name]) for name in names},
                   combine=labeler.params.get("combine", "mean"), tie=labeler.params.get("tie", "lower"))

    def label(self, pairs: Sequence[PairInput]) -> list[Label]:
        """A pair any member set aside is set aside (its reason named after the member)."""
        per_member: list[list[Label | SetAside]] = []
        for name, backend in self.members.items():
            try:
                per_member.append(list(backend.label(pairs)))
            except PairsSetAside as partial:
                per_member.append([label if label is not None else
                                   SetAside(partial.set_aside[i].reason, f"{name}: {partial.set_aside[i].detail}")
                                   for i, label in enumerate(partial.labels)])
        results: list[Label | SetAside] = []
        for labels in zip(*per_member, strict=True):
            aside = next((r for r in labels if isinstance(r, SetAside)), None)
            results.append(aside or self._combined([r for r in labels if isinstance(r, Label)]))
        return labels_or_set_aside(results)

    def _combined(self, labels: list[Label]) -> Label:
        distribution = np.mean([label.distribution for label in labels], axis=0)
        expected = float(np.dot(distribution, GRADES))
        if self.combine == "expected":
            grade = int(np.floor(expected + 1e-9) if self.tie == "lower" else np.ceil(expected - 1e-9))
        else:
            votes = distribution if self.combine == "mean" else np.bincount([label.grade for label in labels],
                                                                            minlength=len(GRADES))
            best = np.flatnonzero(np.isclose(votes, votes.max()))
            grade = int(best[0] if self.tie == "lower" else best[-1])
        return Label(grade=grade, distribution=[round(float(p), 6) for p in distribution], expected_grade=expected,
                     latency_ms=sum(label.latency_ms for label in labels),
                     tokens_in=sum(label.tokens_in for label in labels),
                     tokens_out=sum(label.tokens_out for label in labels),
                     extra={"members": [label.grade for label in labels]})
