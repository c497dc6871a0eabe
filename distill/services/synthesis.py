"""Stage 1: a generator LLM writes queries from seed documents, of varied kinds.

Seeds are processed in batches; a batch's queries and the checkpoint move together in one
transaction, so a restarted stage continues with the next batch.
"""

import random
import re
from typing import cast

from django.db import transaction

from labeling.labelers import backend_for
from labeling.labelers.base import GeneratorBackend
from labeling.labelers.prompting import QUERY_PROMPT, continued_messages, doc_truncate
from labeling.models import Document, Labeler, Query
from labeling.prompts import prompt_load

from ..config import run_batch
from ..models import Run
from .runs import run_cancelled_check, stage_progress

KIND_LABELS = {"known_item": "known-item", "informational": "informational", "metadata": "metadata"}
WORD = re.compile(r"[a-z0-9]+")
COPY_NGRAM = 6  # a query sharing a run of 6 words with its document copied it


def seed_documents(run: Run) -> list[int]:
    """A deterministic sample of the corpus: the same run always gets the same seeds."""
    ids = list(Document.objects.filter(corpus=run.corpus).order_by("id").values_list("id", flat=True))
    n = min(run.config["synthesize"]["seed_documents"], len(ids))
    return sorted(random.Random(run.config["seed"]).sample(ids, n))


def query_clean(text: str) -> str:
    text = re.sub(r"^\s*(query|search)\s*:\s*", "", text, flags=re.IGNORECASE)
    return text.strip().rstrip(".").strip("\"'`“” ").strip()


def query_rejection(query: str, document_text: str, *, seen: set[str], min_words: int, max_words: int) -> str | None:
    """Why a generated query is dropped, or None to keep it."""
    words = WORD.findall(query.lower())
    if not (min_words <= len(words) <= max_words):
        return "length"
    key = " ".join(words)
    if key in seen:
        return "duplicate"
    if len(words) >= COPY_NGRAM:
        doc = " ".join(WORD.findall(document_text.lower()))
        if any(" ".join(words[i : i + COPY_NGRAM]) in doc for i in range(len(words) - COPY_NGRAM + 1)):
            return "copy"
    return None


def queries_synthesize(run: Run) -> None:
    cfg = run.config["synthesize"]
    generator = Labeler.objects.get(name=run.config["generator"])
    seeds = seed_documents(run)
    kinds = cfg["kinds"]
    per_doc = cfg["queries_per_document"]
    entry = run.progress.get(Run.Stage.SYNTHESIZE, {})
    done, dropped = entry.get("done", 0), entry.get("dropped", {})
    run_cancelled_check(run_id=run.id)
    stage_progress(run_id=run.id, stage=Run.Stage.SYNTHESIZE, done=done, total=len(seeds))
    if done >= len(seeds):
        return
    backend = cast(GeneratorBackend, backend_for(generator))  # a generator's backend writes text
    prompt = prompt_load(QUERY_PROMPT)
    batch_tag = run_batch(run)
    seen = {" ".join(WORD.findall(t.lower()))
            for t in Query.objects.filter(batch=batch_tag).values_list("text", flat=True)}
    while done < len(seeds):
        docs = list(Document.objects.filter(id__in=seeds[done : done + cfg["batch_size"]]).order_by("id"))
        # Kinds rotate over the whole run, so every kind is asked for even with one query per seed.
        slots = [(doc, k, kinds[((done + pos) * per_doc + k) % len(kinds)])
                 for pos, doc in enumerate(docs) for k in range(per_doc)]
        prompts = [
            continued_messages(
                prompt,
                title=doc.title, author=doc.author, kind=KIND_LABELS.get(kind, kind),
                modified=doc.modified_at.date().isoformat() if doc.modified_at else "",
                text=doc_truncate(doc.text, max_chars=1200),
            )
            for doc, _, kind in slots
        ]
        replies = backend.generate(prompts, max_new_tokens=24, temperature=0.0)
        queries = []
        for (doc, k, kind), reply in zip(slots, replies, strict=True):
            text = query_clean(reply)
            reason = query_rejection(text, doc.text, seen=seen, min_words=cfg["min_words"], max_words=cfg["max_words"])
            if reason:
                dropped[reason] = dropped.get(reason, 0) + 1
                continue
            seen.add(" ".join(WORD.findall(text.lower())))
            queries.append(Query(
                corpus=run.corpus, external_id=f"{batch_tag}-d{doc.id}-{k}", text=text, kind=kind,
                origin=Query.Origin.SYNTHETIC, seed_document=doc, generator=generator, batch=batch_tag,
            ))
        with transaction.atomic():
            Query.objects.bulk_create(queries, ignore_conflicts=True)
            done += len(docs)
            run_cancelled_check(run_id=run.id)
            stage_progress(run_id=run.id, stage=Run.Stage.SYNTHESIZE, done=done, total=len(seeds),
                           extra={"dropped": dropped})
