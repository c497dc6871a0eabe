import json
from collections.abc import Iterable
from pathlib import Path

import pytest
from django.conf import settings

from labeling.labelers.base import PairInput


@pytest.fixture
def import_root(settings, tmp_path):
    """Server-path imports read under tmp_path/root; uploads are kept under tmp_path/uploads."""
    settings.IMPORT_ROOT = tmp_path / "root"
    settings.UPLOAD_DIR = tmp_path / "uploads"
    settings.IMPORT_ROOT.mkdir()
    return settings.IMPORT_ROOT


@pytest.fixture(scope="session")
def dl19_dir() -> Path:
    """The real TREC DL 2019 files, kept beside the repository (never inside it: MS MARCO
    text is for research only)."""
    path = settings.BASE_DIR.parent / "shared" / "data" / "dl19"
    if not (path / "qrels-nist.txt").is_file():
        pytest.skip(f"DL19 data not found at {path} (expected ../shared/data/dl19 beside the repository)")
    return path


def dl19_pair_inputs(dl19_dir: Path, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], PairInput]:
    """(qid, docid) -> the pair's query and passage, read from the DL19 files (only the
    passages asked for are kept)."""
    keys = list(keys)
    queries = dict(line.split("\t", 1) for line in (dl19_dir / "queries.tsv").read_text().splitlines() if line.strip())
    wanted = {docid for _, docid in keys}
    passages = {}
    with open(dl19_dir / "passages.jsonl") as lines:
        for line in lines:
            record = json.loads(line)
            if record["docid"] in wanted:
                passages[record["docid"]] = record["doc"]
    return {(qid, docid): PairInput(query=queries[qid].strip(), text=passages[docid], query_id=qid, document_id=docid)
            for qid, docid in keys}
