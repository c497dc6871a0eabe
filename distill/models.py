from django.conf import settings
from django.db import models

from annotate.models import Benchmark
from labeling.models import Corpus, JobStatus, LeasedJob


class Run(LeasedJob):
    """A distillation run: synthesize, mine, teach, train, evaluate."""

    class Stage(models.TextChoices):
        SYNTHESIZE = "synthesize", "Synthesize queries"
        MINE = "mine", "Mine hard negatives"
        TEACH = "teach", "Teach"
        TRAIN = "train", "Train the student"
        EVALUATE = "evaluate", "Evaluate"

    name = models.CharField(max_length=200)
    corpus = models.ForeignKey(Corpus, on_delete=models.PROTECT, related_name="runs")
    benchmark = models.ForeignKey(Benchmark, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    config = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    stage = models.CharField(max_length=20, choices=Stage.choices, blank=True)
    # Per stage: {"done": n, "total": n, "started_at": iso, "finished_at": iso}.
    progress = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    log = models.TextField(blank=True)
    # owner and heartbeat_at (LeasedJob): the worker executing the current stage.
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class BenchmarkBuild(LeasedJob):
    """A benchmark made from a corpus on a worker (distill.services.benchmark_builds): how its
    pairs are chosen (BM25 is mining's index, so it lives here), its settings, its progress, and
    the benchmark made or the located error; its lease and times are LeasedJob's."""

    class Method(models.TextChoices):
        ALL = "all", "All the imported pairs of the queries"
        BM25 = "bm25", "BM25's top k documents per query"
        RUNS = "runs", "The top k of TREC run files, pooled"
        STRATIFIED = "stratified", "A sample stratified by a labeler's grade"

    name = models.SlugField(max_length=100, help_text="The benchmark's name.")
    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="benchmark_builds")
    method = models.CharField(max_length=20, choices=Method.choices)
    # k, seed, query_ids, run_paths, labeler, n, reference, gold_share, calibration, and the
    # benchmark's own settings (title, guidelines, judgments_required).
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    error = models.JSONField(default=dict, blank=True)  # {"message", "file", "line", "field"}
    benchmark = models.ForeignKey(Benchmark, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"benchmark {self.name}"

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.done / self.total)) if self.total else 0
