from pathlib import Path

import pytest
from django.conf import settings


@pytest.fixture(scope="session")
def dl19_dir() -> Path:
    """The real TREC DL 2019 files, kept beside the repository (never inside it: MS MARCO
    text is for research only)."""
    path = settings.BASE_DIR.parent / "shared" / "data" / "dl19"
    if not (path / "qrels-nist.txt").is_file():
        pytest.skip(f"DL19 data not found at {path} (expected ../shared/data/dl19 beside the repository)")
    return path
