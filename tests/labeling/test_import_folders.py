"""A folder import reads only regular files inside the folder (issue 15, item 1), and an HTML
or oversized file can neither hang nor crash it."""

import os
import signal
import time
from contextlib import contextmanager
from io import StringIO

import pytest
from django.core.management import call_command

from labeling.importers import ImportFileError, documents_import
from labeling.importers.limits import MAX_RECORD_BYTES
from labeling.models import Corpus, Document

SECRET = "the app's own secret key: 9f3c"


@contextmanager
def deadline(seconds: int):
    """Fail instead of hanging (a FIFO once blocked the import forever)."""

    def expired(signum, frame):
        raise AssertionError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def hostile(tmp_path):
    """A folder with two documents, and links and special files that must not be read."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.key").write_text(SECRET)
    (outside / "notes.md").write_text(SECRET)
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "readme.md").write_text("# Readme\n\nInside the folder.\n")
    (root / "sub" / "guide.txt").write_text("A guide.\n")
    (root / "passwd.txt").symlink_to(outside / "secret.key")  # a file link out of the folder
    (root / "sub" / "up.md").symlink_to("../../outside/notes.md")  # relative, out of the folder
    (root / "outside-folder").symlink_to(outside, target_is_directory=True)
    (root / "dangling.md").symlink_to(root / "gone.md")
    (root / "alias.md").symlink_to(root / "readme.md")  # a link inside the folder: read
    (root / "loop.md").symlink_to(root / "loop.md")
    os.mkfifo(root / "pipe.md")
    return root


@pytest.mark.django_db
def test_links_out_of_the_folder_dangling_links_and_fifos_are_skipped_and_named(hostile):
    with deadline(20):
        summary = documents_import(path=hostile, corpus_name="acme")

    assert set(Document.objects.values_list("external_id", flat=True)) == {"readme.md", "sub/guide.txt", "alias.md"}
    assert not Document.objects.filter(text__contains="secret").exists()
    assert Document.objects.get(external_id="alias.md").text == Document.objects.get(external_id="readme.md").text
    assert (summary.read, summary.new) == (3, 3)
    skipped = {what: (w.count, set(w.examples)) for what, w in summary.warnings.items()}
    assert skipped == {
        "links skipped, pointing out of the folder": (3, {"passwd.txt", "sub/up.md", "outside-folder"}),
        "links skipped, pointing at nothing": (2, {"dangling.md", "loop.md"}),
        "entries skipped, not regular files (a FIFO, socket or device)": (1, {"pipe.md"}),
    }


@pytest.mark.django_db
def test_the_command_prints_each_skipped_path(hostile):
    out, err = StringIO(), StringIO()
    with deadline(20):
        call_command("import_documents", str(hostile), corpus="acme", stdout=out, stderr=err)

    assert out.getvalue().strip() == "3 documents read, 3 new (corpus acme)"
    warnings = err.getvalue().splitlines()
    assert "warning: 3 links skipped, pointing out of the folder: outside-folder, passwd.txt, sub/up.md" in warnings
    assert "warning: 2 links skipped, pointing at nothing: dangling.md, loop.md" in warnings
    assert "warning: 1 entries skipped, not regular files (a FIFO, socket or device): pipe.md" in warnings


@pytest.mark.django_db
def test_a_link_to_a_folder_inside_is_not_followed(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.md").write_text("A.\n")
    (tmp_path / "mirror").symlink_to(tmp_path / "real", target_is_directory=True)

    summary = documents_import(path=tmp_path, corpus_name="acme")

    assert list(Document.objects.values_list("external_id", flat=True)) == ["real/a.md"]
    assert summary.warning_lines() == ["warning: 1 links to folders skipped (not followed): mirror"]


@pytest.mark.django_db
def test_a_fifo_named_on_the_command_line_is_refused_without_blocking(tmp_path):
    for name in ("docs.jsonl", "doc.md", "docs.csv"):
        os.mkfifo(tmp_path / name)
        with deadline(10), pytest.raises(ImportFileError, match=rf"{name}: not a regular file"):
            documents_import(path=tmp_path / name, corpus_name="acme")
    assert not Corpus.objects.exists()


@pytest.mark.django_db
def test_a_file_over_the_size_bound_is_refused(tmp_path):
    with open(tmp_path / "big.txt", "wb") as fh:
        fh.write(b"word " * (MAX_RECORD_BYTES // 5 + 1))
    with pytest.raises(ImportFileError, match=r"big\.txt: file is over 16 MiB"):
        documents_import(path=tmp_path, corpus_name="acme")
    assert not Corpus.objects.exists()


# Each once took html.parser quadratic time (80 kB of '<a' took 3 s; this 200 kB, about 20 s)
# or raised AssertionError ('<![').
MALFORMED_HTML = {
    "unclosed tags": "<p>Intro</p>" + "<a" * 100_000,
    "unclosed attribute quotes": "<p>Intro</p>" + "<a b='" * 40_000,
    "unclosed comments": "<p>Intro</p>" + "<!--" * 50_000,
    "marked sections": "<p>Intro</p><![" * 10,
    "lone angle brackets": "<p>Intro " + "<" * 200_000 + "</p>",
}


@pytest.mark.django_db
@pytest.mark.parametrize("content", MALFORMED_HTML.values(), ids=MALFORMED_HTML.keys())
def test_malformed_html_imports_in_linear_time(tmp_path, content):
    (tmp_path / "page.html").write_text(content)
    started = time.perf_counter()

    documents_import(path=tmp_path, corpus_name="acme")

    assert time.perf_counter() - started < 2
    assert Document.objects.get().text.startswith("Intro")
