"""The core records: documents, queries, pairs, and labels from any source.

Sized for a million pairs: every lookup the app makes by external id, by pair or by
labeler is backed by a unique constraint or an index.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from .grades import MAX_GRADE, MIN_GRADE, Grade

GRADE_RANGE = Q(grade__gte=MIN_GRADE) & Q(grade__lte=MAX_GRADE)


class Corpus(models.Model):
    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "corpora"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Document(models.Model):
    # db_index off where a unique constraint already leads with the column.
    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="documents", db_index=False)
    external_id = models.CharField(max_length=255)
    title = models.CharField(max_length=500, blank=True)
    text = models.TextField()
    # Enterprise metadata: queries name them ("Q3 budget deck from Priya").
    path = models.CharField(max_length=1000, blank=True)
    author = models.CharField(max_length=200, blank=True)
    modified_at = models.DateTimeField(null=True, blank=True)
    url = models.URLField(max_length=1000, blank=True)
    source = models.CharField(max_length=100, blank=True)
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["corpus", "external_id"], name="document_unique_external_id"),
        ]

    def __str__(self) -> str:
        return self.title or self.external_id


class Query(models.Model):
    class Kind(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        KNOWN_ITEM = "known_item", "Known item"
        INFORMATIONAL = "informational", "Informational"
        METADATA = "metadata", "Metadata"

    class Origin(models.TextChoices):
        IMPORTED = "imported", "Imported"
        HUMAN = "human", "Written by a person"
        SYNTHETIC = "synthetic", "Synthetic"

    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="queries", db_index=False)
    external_id = models.CharField(max_length=255)
    text = models.TextField()
    # The searcher's intent in words (a TREC "narrative"): shown to graders above the document.
    narrative = models.TextField(blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.UNKNOWN)
    origin = models.CharField(max_length=20, choices=Origin.choices, default=Origin.IMPORTED)
    seed_document = models.ForeignKey(
        Document, null=True, blank=True, on_delete=models.SET_NULL, related_name="seeded_queries"
    )
    generator = models.ForeignKey(
        "Labeler", null=True, blank=True, on_delete=models.SET_NULL, related_name="generated_queries"
    )
    # What produced the query ("run-12"): a distillation run finds its queries and pairs by it.
    batch = models.CharField(max_length=100, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "queries"
        constraints = [
            models.UniqueConstraint(fields=["corpus", "external_id"], name="query_unique_external_id"),
        ]

    def __str__(self) -> str:
        return self.text[:80]


class Pair(models.Model):
    class Origin(models.TextChoices):
        IMPORTED = "imported", "Imported"
        POSITIVE = "positive", "Positive (seed document)"
        BM25_NEGATIVE = "bm25_negative", "BM25 hard negative"
        RANDOM_NEGATIVE = "random_negative", "Random negative"

    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="pairs", db_index=False)
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="pairs")
    origin = models.CharField(max_length=20, choices=Origin.choices, default=Origin.IMPORTED)
    bm25_rank = models.PositiveIntegerField(null=True, blank=True)
    bm25_score = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["query", "document"], name="pair_unique_query_document"),
        ]

    def __str__(self) -> str:
        return f"{self.query.external_id} / {self.document.external_id}"


class Judgment(models.Model):
    """One person's grade of a pair."""

    class InputMethod(models.TextChoices):
        KEY = "key", "Keyboard"
        CLICK = "click", "Click"
        IMPORT = "import", "Imported"

    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="judgments", db_index=False)
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="judgments")
    grade = models.PositiveSmallIntegerField(choices=Grade.choices)
    seconds = models.FloatField(null=True, blank=True)
    input_method = models.CharField(max_length=10, choices=InputMethod.choices, default=InputMethod.CLICK)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pair", "annotator"], name="judgment_unique_pair_annotator"),
            models.CheckConstraint(condition=GRADE_RANGE, name="judgment_grade_range"),
        ]
        indexes = [
            # An annotator's recent grades (undo, "my progress").
            models.Index(fields=["annotator", "-updated_at"], name="judgment_annotator_recent"),
        ]


class Labeler(models.Model):
    """A model (or an imported run) that writes queries or grades pairs."""

    class Role(models.TextChoices):
        GENERATOR = "generator", "Generator"
        TEACHER = "teacher", "Teacher"
        STUDENT = "student", "Student"
        RECORDED = "recorded", "Recorded run"

    class Backend(models.TextChoices):
        LOCAL_LM = "local_lm", "Local causal LM (transformers)"
        OPENAI = "openai", "OpenAI-compatible HTTP"
        VLLM = "vllm", "vLLM engine"
        CROSS_ENCODER = "cross_encoder", "Cross-encoder"
        RECORDED = "recorded", "Recorded run"
        ANCHORED = "anchored", "Anchored student (a student's order, a teacher's scale per query)"
        ENSEMBLE = "ensemble", "Ensemble of teachers"

    name = models.SlugField(max_length=100, unique=True)
    role = models.CharField(max_length=20, choices=Role.choices)
    backend = models.CharField(max_length=20, choices=Backend.choices)
    model_ref = models.CharField(max_length=500, blank=True, help_text="Registry name, folder or endpoint model id.")
    prompt_version = models.CharField(max_length=100, blank=True)
    params = models.JSONField(default=dict, blank=True)
    # A student's promotion gate: {"passed", "reason", "by", "decided_at", ...} (labeling.services.promotion).
    promotion = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AnchorSet(models.Model):
    """The teacher's grades of a few pairs of one query that set an anchored labeler's scale
    there: per-query thresholds on the student's score (labeling.calibration)."""

    labeler = models.ForeignKey("Labeler", on_delete=models.CASCADE, related_name="anchor_sets", db_index=False)
    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="anchor_sets")
    student = models.ForeignKey("Labeler", on_delete=models.CASCADE, related_name="+")
    teacher = models.ForeignKey("Labeler", on_delete=models.CASCADE, related_name="+")
    # [[pair id, student score, teacher grade], ...] for the anchors, and the same for deferred pairs.
    anchors = models.JSONField(default=list)
    deferred = models.JSONField(default=list, blank=True)
    thresholds = models.JSONField(default=list, help_text="Thresholds on the student's score for grades 1, 2, 3.")
    pairs = models.PositiveIntegerField(default=0, help_text="The query's pairs the thresholds were placed among.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["labeler", "query"], name="anchorset_unique_labeler_query"),
        ]


class ModelLabel(models.Model):
    """A labeler's grade of a pair, with its whole distribution over the grades."""

    class Source(models.TextChoices):
        MODEL = "model", "The labeler's model"
        ANCHOR = "anchor", "Anchor (the teacher's grade)"
        DEFERRED = "deferred", "Deferred to the teacher"

    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="model_labels")
    labeler = models.ForeignKey(Labeler, on_delete=models.CASCADE, related_name="labels", db_index=False)
    grade = models.PositiveSmallIntegerField(choices=Grade.choices)
    distribution = models.JSONField(default=list, blank=True, help_text="P(grade) for grades 0..3.")
    expected_grade = models.FloatField()
    prompt_version = models.CharField(max_length=100, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    # An anchored labeler's labels: whose grade it is, and the anchors that set its query's scale.
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MODEL)
    anchor_set = models.ForeignKey(AnchorSet, null=True, blank=True, on_delete=models.CASCADE, related_name="labels")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # (labeler, pair) order: the prefix serves "every label of this labeler".
            models.UniqueConstraint(fields=["labeler", "pair"], name="modellabel_unique_labeler_pair"),
            models.CheckConstraint(condition=GRADE_RANGE, name="modellabel_grade_range"),
        ]


class JobStatus(models.TextChoices):
    """The life of a background job: labeling jobs here, distillation runs in distill."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class LeasedJob(models.Model):
    """A background job's lease and times, the same on every kind of job (LabelingJob, ImportJob,
    distill's Run): the worker executing it and when it last made progress (labeling.workers)."""

    Status = JobStatus
    ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)  # what a worker has yet to finish
    status: str  # each kind declares its own field (Run's is indexed)

    owner = models.CharField(max_length=300, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class LabelingJob(LeasedJob):
    """A labeler grading a set of pairs, in batches, on a worker; its progress and its cost."""

    labeler = models.ForeignKey(Labeler, on_delete=models.CASCADE, related_name="jobs")
    # The pairs, as Pair filter lookups ({"benchmarks__name": "demo"}), so labeling need not
    # know the apps that group pairs.
    scope = models.JSONField(default=dict)
    description = models.CharField(max_length=300, blank=True)
    batch_size = models.PositiveIntegerField(default=32)
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    tokens_in = models.BigIntegerField(default=0)
    tokens_out = models.BigIntegerField(default=0)
    seconds = models.FloatField(default=0.0, help_text="Time spent labeling (model calls and writes).")
    # An anchored job's two labelers apart: {"student": {...}, "teacher": {...}}, each with its
    # labeler's name, pairs, seconds, tokens_in, tokens_out (labeling.services.anchored).
    parts = models.JSONField(default=dict, blank=True)
    # Pairs the labeler could not grade (SetAsidePair); the job fails once they pass the
    # labeler's params["max_error_share"] of its pairs (labeling.services.grading).
    set_aside = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.labeler} on {self.description or self.scope}"

    @property
    def pairs_per_second(self) -> float | None:
        return self.done / self.seconds if self.seconds else None

    @property
    def cost(self) -> float:
        """Estimated from the labelers' prices: per million tokens, or per GPU-hour."""
        if not self.parts:
            return labeling_cost(self.labeler.params, tokens_in=self.tokens_in, tokens_out=self.tokens_out,
                                 seconds=self.seconds)
        prices = dict(Labeler.objects.filter(name__in=[p["labeler"] for p in self.parts.values()])
                      .values_list("name", "params"))
        return sum(labeling_cost(prices.get(p["labeler"], {}), tokens_in=p["tokens_in"], tokens_out=p["tokens_out"],
                                 seconds=p["seconds"]) for p in self.parts.values())


class SetAsidePair(models.Model):
    """A pair a labeling job's labeler could not grade, and why; the job went on without it."""

    class Reason(models.TextChoices):  # labelers.base.SET_ASIDE_REASONS
        UNPARSEABLE = "unparseable", "no grade in the reply"
        REFUSAL = "refusal", "the model refused"
        CONTENT_FILTER = "content_filter", "blocked by a content filter"
        TIMEOUT = "timeout", "timed out after the retries"
        SERVER_ERROR = "server_error", "server error after the retries"

    job = models.ForeignKey(LabelingJob, on_delete=models.CASCADE, related_name="set_aside_pairs", db_index=False)
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["job", "pair"], name="set_aside_once_per_job")]

    def __str__(self) -> str:
        return f"pair {self.pair_id} set aside by job {self.job_id}: {self.reason}"


def labeling_cost(prices: dict, *, tokens_in: int, tokens_out: int, seconds: float) -> float:
    return (
        tokens_in / 1e6 * prices.get("price_per_million_input_tokens", 0.0)
        + tokens_out / 1e6 * prices.get("price_per_million_output_tokens", 0.0)
        + seconds / 3600 * prices.get("price_per_gpu_hour", 0.0)
    )


class ImportJob(LeasedJob):
    """An import (documents, queries or qrels) run on a worker (labeling.services.import_jobs): its file,
    its outcome, and the summary or the located error. Holds a lease like a LabelingJob."""

    class Kind(models.TextChoices):
        DOCUMENTS = "documents", "Documents"
        QUERIES = "queries", "Queries"
        QRELS = "qrels", "Qrels"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    corpus_name = models.CharField(max_length=100)
    path = models.CharField(max_length=1000,
                            help_text="The file or folder read (an upload's copy, or inside the import root).")
    uploaded = models.BooleanField(default=False, help_text="The file is an upload's copy, removed once imported.")
    annotator = models.CharField(max_length=150, blank=True, help_text="Qrels: whose judgments.")
    labeler = models.CharField(max_length=100, blank=True, help_text="Qrels: which recorded run's labels.")
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED)
    summary = models.JSONField(default=dict, blank=True)
    # A refused file: {"message", "file", "line", "field"} (labeling.importers.ImportFileError).
    error = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} into {self.corpus_name}"
