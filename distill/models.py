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
