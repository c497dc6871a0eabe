"""The human workflow's records: benchmarks, their items, who belongs to them, and the queue's
leases and skips.

Sized for a million pairs per benchmark: the queue reads one partial index
(`benchmarkitem_queue`) ordered the way it serves pairs, and a per-item judgment count kept in
the same transaction as each judgment, so no request counts judgments over the whole benchmark.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from labeling.grades import Grade
from labeling.models import Pair


class CountersMixin:
    """Counter columns change only through `F()` updates in the services; a plain `save()` of a
    row that exists (the admin's, for one) leaves them alone instead of writing a stale value."""

    counter_fields: tuple[str, ...] = ()

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                f.name for f in self._meta.concrete_fields if not f.primary_key and f.name not in self.counter_fields
            ]
        super().save(*args, **kwargs)


class Benchmark(CountersMixin, models.Model):
    """A named set of pairs that people grade, several annotators per pair."""

    name = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200, blank=True)
    guidelines = models.TextField(blank=True, help_text="Markdown, shown before the first pair.")
    judgments_required = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1)], help_text="Judgments per pair (overlap)."
    )
    gold_rate = models.FloatField(
        default=0.1,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of an annotator's pairs drawn from the gold pairs "
                  "(each annotator grades each gold pair once).",
    )
    # The gold gate: below this accuracy on gold pairs (once they graded gold_min_items of them)
    # an annotator gets no more regular pairs. None: no gate.
    class GoldMeasure(models.TextChoices):
        EXACT = "exact", "Exact grade"
        WITHIN_ONE = "within_one", "Within one grade"

    gold_min_accuracy = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Minimum share of gold pairs graded right (empty: no gate).")
    gold_min_items = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1)], help_text="Gold pairs graded before the gate applies.")
    gold_measure = models.CharField(max_length=20, choices=GoldMeasure.choices, default=GoldMeasure.EXACT,
                                    help_text="What counts as right on a gold pair.")
    spot_check_share = models.FloatField(
        default=0.05, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of the pairs where the model and the people agree (or the people all agree) drawn "
                  "for reviewers to check, stratified by grade.")
    exclude_gated = models.BooleanField(
        default=False, help_text="Leave gated annotators' judgments out of the consensus and the agreement figures.")
    pairs = models.ManyToManyField(Pair, through="BenchmarkItem", related_name="benchmarks")
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="member_benchmarks", blank=True
    )
    # Item counts by kind, kept by benchmark_counts_refresh (items change rarely; the progress
    # bars read these instead of counting a million rows).
    regular_count = models.PositiveIntegerField(default=0, editable=False)
    gold_count = models.PositiveIntegerField(default=0, editable=False)
    calibration_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    counter_fields = ("regular_count", "gold_count", "calibration_count")

    class Meta:
        ordering = ["name"]
        permissions = [
            ("grade_benchmark", "Can grade the benchmarks they belong to"),
            ("view_all_benchmarks", "Can see and grade every benchmark"),
            ("view_agreement", "Can see agreement dashboards"),
            ("review_pair", "Can adjudicate disagreements"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(gold_rate__gte=0) & Q(gold_rate__lte=1),
                                   name="benchmark_gold_rate_range"),
            models.CheckConstraint(condition=Q(gold_min_accuracy__isnull=True)
                                   | (Q(gold_min_accuracy__gte=0) & Q(gold_min_accuracy__lte=1)),
                                   name="benchmark_gold_min_accuracy_range"),
        ]

    def __str__(self) -> str:
        return self.title or self.name


class BenchmarkItem(CountersMixin, models.Model):
    class Kind(models.TextChoices):
        REGULAR = "regular", "Regular"
        GOLD = "gold", "Gold"
        CALIBRATION = "calibration", "Calibration"

    benchmark = models.ForeignKey(Benchmark, on_delete=models.CASCADE, related_name="items", db_index=False)
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="benchmark_items")
    # Gold items carry a known grade and are mixed into annotators' queues to check them.
    gold_grade = models.PositiveSmallIntegerField(choices=Grade.choices, null=True, blank=True)
    # Calibration items: every annotator grades all of them, before any other pair.
    is_calibration = models.BooleanField(default=False)
    # Why the gold grade is what it is: shown to the annotator after a calibration pair.
    note = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)
    # Judgments of the pair, kept in the transaction of each judgment and undo (and corrected
    # under the row lock whenever the queue leases the item): the queue's hint, never its proof.
    judgment_count = models.PositiveIntegerField(default=0, editable=False)

    counter_fields = ("judgment_count",)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["benchmark", "pair"], name="benchmarkitem_unique_pair"),
        ]
        indexes = [
            # The queue: regular items of a benchmark, those with most judgments first (finish
            # pairs in progress), then in position order; the scan stops at the first free one.
            models.Index(
                fields=["benchmark", "-judgment_count", "position", "id"],
                name="benchmarkitem_queue",
                condition=Q(is_calibration=False, gold_grade__isnull=True),
            ),
            models.Index(
                fields=["benchmark", "position", "id"],
                name="benchmarkitem_gold",
                condition=Q(is_calibration=False, gold_grade__isnull=False),
            ),
            models.Index(
                fields=["benchmark", "position", "id"],
                name="benchmarkitem_calibration",
                condition=Q(is_calibration=True),
            ),
        ]
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.benchmark_id}:{self.pair_id}"

    @property
    def kind(self) -> "BenchmarkItem.Kind":
        if self.is_calibration:
            return self.Kind.CALIBRATION
        return self.Kind.REGULAR if self.gold_grade is None else self.Kind.GOLD


class Membership(CountersMixin, models.Model):
    """A person who may grade a benchmark, with their running counts (the progress bar and the
    gold rate read these; they change in the transaction of each judgment and undo)."""

    benchmark = models.ForeignKey(Benchmark, on_delete=models.CASCADE, related_name="memberships", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="benchmark_memberships")
    guidelines_seen_at = models.DateTimeField(null=True, blank=True)
    judged_regular = models.PositiveIntegerField(default=0, editable=False)
    judged_gold = models.PositiveIntegerField(default=0, editable=False)
    judged_calibration = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    counter_fields = ("judged_regular", "judged_gold", "judged_calibration")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["benchmark", "user"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.benchmark}"

    @property
    def judged(self) -> int:
        return self.judged_regular + self.judged_gold + self.judged_calibration


class Lease(models.Model):
    """An item held for one annotator while they grade it; it lapses at `expires_at`.

    For a regular item, judgments plus leases that have not lapsed never exceed the benchmark's
    judgments_required: every lease is written while holding the item's row lock.
    """

    item = models.ForeignKey(BenchmarkItem, on_delete=models.CASCADE, related_name="leases", db_index=False)
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="leases")
    created_at = models.DateTimeField(help_text="When the pair was first shown (time spent counts from here).")
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator"], name="lease_unique_annotator"),
        ]

    def __str__(self) -> str:
        return f"{self.annotator} holds {self.item} until {self.expires_at:%H:%M:%S}"


class Skip(models.Model):
    """An annotator passed on an item; it comes back to them only when nothing else is left.

    With a `reason`, they cannot judge it ("can't judge": a broken document, a language they do
    not read, expertise they lack): it never comes back to them, is counted apart from skips and
    goes to the reviewers' "can't judge" queue (annotate.selectors.review)."""

    class Reason(models.TextChoices):
        BROKEN = "broken", "Broken document"
        LANGUAGE = "language", "Unknown language"
        EXPERTISE = "expertise", "Needs expertise"
        OTHER = "other", "Other"

    item = models.ForeignKey(BenchmarkItem, on_delete=models.CASCADE, related_name="skips", db_index=False)
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="skips")
    created_at = models.DateTimeField()
    reason = models.CharField(max_length=20, choices=Reason.choices, blank=True,
                              help_text="Set: the annotator cannot judge the pair (blank: a plain skip).")
    note = models.TextField(blank=True)

    @property
    def cant_judge(self) -> bool:
        return bool(self.reason)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator"], name="skip_unique_annotator"),
        ]


class BenchmarkStats(models.Model):
    """The agreement dashboard's figures for one benchmark, as last computed in the background
    (annotate.services.dashboard): the page reads this row, never the judgments."""

    benchmark = models.OneToOneField(Benchmark, on_delete=models.CASCADE, related_name="stats")
    payload = models.JSONField(default=dict)
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"stats of {self.benchmark_id} at {self.computed_at:%Y-%m-%d %H:%M:%S}"


# --- review: adjudicated grades and their audit log -------------------------------------------

class ReviewDecisionQuerySet(models.QuerySet):
    """The audit log only grows: bulk updates and deletes are refused like the rows' own."""

    def update(self, **kwargs):
        raise PermissionError("the review audit log is append-only")

    def delete(self):
        raise PermissionError("the review audit log is append-only")


class ReviewDecision(models.Model):
    """One entry of the review audit log: who decided what about a pair, when, and the pair's
    grade before and after. Written once, never edited or deleted (annotate.services.review)."""

    class Action(models.TextChoices):
        KEEP_HUMAN = "keep_human", "Keep the human grade"
        TAKE_MODEL = "take_model", "Take the model's grade"
        SET_GRADE = "set_grade", "Set another grade"
        AMBIGUOUS = "ambiguous", "Flag as ambiguous"
        UNDO = "undo", "Undo"

    # PROTECT everywhere: what the log points at cannot vanish from under it.
    benchmark = models.ForeignKey(Benchmark, on_delete=models.PROTECT, related_name="review_decisions", db_index=False)
    pair = models.ForeignKey(Pair, on_delete=models.PROTECT, related_name="review_decisions")
    labeler = models.ForeignKey("labeling.Labeler", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="review_decisions", help_text="The model whose disagreement was reviewed.")
    action = models.CharField(max_length=20, choices=Action.choices)
    human_grade = models.PositiveSmallIntegerField(choices=Grade.choices, null=True, blank=True,
                                                   help_text="The people's median grade at the time.")
    model_grade = models.PositiveSmallIntegerField(choices=Grade.choices, null=True, blank=True)
    # The pair's consensus before and after: a grade, or ambiguous (no grade).
    before_grade = models.PositiveSmallIntegerField(choices=Grade.choices, null=True, blank=True)
    before_ambiguous = models.BooleanField(default=False)
    before_adjudicated = models.BooleanField(default=False, help_text="Whether an earlier decision stood before.")
    after_grade = models.PositiveSmallIntegerField(choices=Grade.choices, null=True, blank=True)
    after_ambiguous = models.BooleanField(default=False)
    # The decision that stood before this one (an undo restores it), and for an undo, the undone one.
    replaces = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    undoes = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="undone_by")
    comment = models.TextField(blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_decisions")
    decided_at = models.DateTimeField()

    objects = ReviewDecisionQuerySet.as_manager()

    class Meta:
        ordering = ["-decided_at", "-id"]
        indexes = [
            models.Index(fields=["benchmark", "-decided_at", "-id"], name="reviewdecision_log"),
            models.Index(fields=["decided_by", "benchmark", "-id"], name="reviewdecision_reviewer"),
        ]

    def __str__(self) -> str:
        return f"{self.decided_by} {self.action} {self.pair_id} at {self.decided_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("a review decision is never edited")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("a review decision is never deleted")

    @property
    def before_label(self) -> str:
        return _grade_label(self.before_grade, self.before_ambiguous)

    @property
    def after_label(self) -> str:
        return _grade_label(self.after_grade, self.after_ambiguous)


def _grade_label(grade: int | None, ambiguous: bool) -> str:
    return "ambiguous" if ambiguous else "—" if grade is None else str(grade)


class Adjudication(models.Model):
    """A benchmark pair's current reviewed grade, which takes precedence over the people's
    median everywhere (annotate.selectors' consensus); or the pair is ambiguous and leaves
    scoring and training. Kept by annotate.services.review alongside the audit log."""

    benchmark = models.ForeignKey(Benchmark, on_delete=models.CASCADE, related_name="adjudications", db_index=False)
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="adjudications")
    grade = models.PositiveSmallIntegerField(choices=Grade.choices, null=True, blank=True)
    ambiguous = models.BooleanField(default=False)
    decision = models.ForeignKey(ReviewDecision, on_delete=models.PROTECT, related_name="+")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="adjudications")
    decided_at = models.DateTimeField()
    comment = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["benchmark", "pair"], name="adjudication_unique_pair"),
            models.CheckConstraint(
                condition=Q(ambiguous=True, grade__isnull=True) | Q(ambiguous=False, grade__gte=0, grade__lte=3),
                name="adjudication_grade_or_ambiguous",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.benchmark_id}:{self.pair_id} = {'ambiguous' if self.ambiguous else self.grade}"


class SpotCheck(models.Model):
    """A pair drawn for review although its graders agreed: the model and the people's median
    (`labeler` set), or every annotator (`labeler` null). Drawn per grade stratum; the reviewer's
    decision on it is its verdict (`wrong`: the agreed grade did not stand), and the verdicts
    estimate how often agreed pairs are wrong (annotate.selectors.review.spot_check_estimates)."""

    benchmark = models.ForeignKey(Benchmark, on_delete=models.CASCADE, related_name="spot_checks", db_index=False)
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="spot_checks")
    labeler = models.ForeignKey("labeling.Labeler", on_delete=models.CASCADE, null=True, blank=True,
                                related_name="spot_checks", help_text="The model that agreed; empty: the people did.")
    agreed_grade = models.PositiveSmallIntegerField(choices=Grade.choices)
    stratum_size = models.PositiveIntegerField(help_text="Agreed pairs of this grade when it was drawn.")
    drawn_at = models.DateTimeField()
    drawn_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="+")
    decision = models.ForeignKey(ReviewDecision, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    wrong = models.BooleanField(null=True, blank=True, help_text="The reviewer did not keep the agreed grade.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["benchmark", "pair"], name="spotcheck_unique_pair"),
        ]

    def __str__(self) -> str:
        return f"spot-check {self.benchmark_id}:{self.pair_id} ({self.agreed_grade})"


class AnnotatorPreference(models.Model):
    """What a person chose for how pages show documents, kept across benchmarks and sessions."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotate_preference")
    highlight_terms = models.BooleanField(default=True, help_text="Mark the query's terms in documents.")

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"
