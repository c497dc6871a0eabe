"""Corpus pages: list, new corpus with its import, imports (run here as the worker's task
would run them; the browser test uses a real worker), a corpus's page and a document."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from annotate.roles import ADMIN, ANNOTATOR, REVIEWER
from labeling.models import Document, ImportJob, Judgment, Query
from labeling.services.import_jobs import import_job_run
from tests.factories import DocumentFactory

pytestmark = pytest.mark.django_db


def upload(name: str, text: str | bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode() if isinstance(text, str) else text)


def run_last_job() -> ImportJob:
    return import_job_run(job_id=ImportJob.objects.latest("id").id)


def test_the_list_shows_counts_and_is_for_reviewers_and_admins(as_role, corpus):
    page = as_role(REVIEWER).get(reverse("workspace:corpus_list"))
    assert page.status_code == 200
    row = page.content.decode().split('href="/corpora/intranet/"')[1].split("</tr>")[0]
    assert "<td>3</td><td>3</td>" in row
    assert b"New corpus" not in page.content  # reviewers read; admins set up
    assert as_role(ANNOTATOR).get(reverse("workspace:corpus_list")).status_code == 403
    assert as_role(None).get(reverse("workspace:corpus_list")).status_code == 403


def test_a_new_corpus_imports_its_upload_as_a_job_and_shows_the_outcome(as_role, import_root):
    admin = as_role(ADMIN)
    docs = '{"docid": "a", "title": "Alpha", "text": "alpha text"}\n{"docid": "b", "text": "beta"}\n'
    response = admin.post(reverse("workspace:corpus_new"), {"name": "wiki", "description": "The wiki",
                                                             "kind": "documents", "file": upload("docs.jsonl", docs)})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("workspace:import_detail", args=[job.id])
    assert job.uploaded and job.status == "queued" and job.created_by == admin.user
    fragment = admin.get(response["Location"], headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 1s"' in fragment and "<html" not in fragment  # polls while queued
    assert '<noscript><meta http-equiv="refresh"' in fragment  # and reloads without JavaScript
    run_last_job()
    page = admin.get(response["Location"]).content.decode()
    assert "Read 2 documents: 2 new" in page and "hx-trigger" not in page
    assert sorted(Document.objects.values_list("external_id", flat=True)) == ["a", "b"]


def test_a_refused_file_shows_its_file_line_and_field(as_role, corpus, import_root):
    admin = as_role(ADMIN)
    bad = "q7\tfine query\n\tno id here\n"
    response = admin.post(reverse("workspace:corpus_import", args=["intranet"]),
                          {"kind": "queries", "file": upload("queries.tsv", bad)})
    assert response.status_code == 302
    run_last_job()
    page = admin.get(response["Location"]).content.decode()
    assert '<dd id="error-file">queries.tsv</dd>' in page
    assert '<dd id="error-line">2</dd>' in page
    assert '<dd id="error-field">qid</dd>' in page
    assert not Query.objects.filter(external_id="q7").exists()  # all or nothing


def test_a_zip_of_a_folder_imports_its_files(as_role, import_root):
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("handbook/leave.md", "# Leave\n\nTwenty days a year.")
        archive.writestr("handbook/it/laptops.html", "<html><title>Laptops</title><body>Ask IT.</body></html>")
        archive.writestr("handbook/notes.txt", "Plain notes.")
    admin = as_role(ADMIN)
    admin.post(reverse("workspace:corpus_new"), {"name": "handbook", "kind": "documents",
                                                 "file": upload("handbook.zip", data.getvalue())})
    job = run_last_job()
    assert job.status == "succeeded", job.error
    assert Document.objects.filter(corpus__name="handbook").count() == 3
    assert not any(import_root.parent.joinpath("uploads").iterdir())  # the upload and its unpacked copy are gone


def test_a_zip_reaching_outside_its_folder_is_refused(as_role, import_root):
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("../escape.md", "out")
    as_role(ADMIN).post(reverse("workspace:corpus_new"), {"name": "evil", "kind": "documents",
                                                          "file": upload("evil.zip", data.getvalue())})
    job = run_last_job()
    assert job.status == "failed" and job.error["field"] == "../escape.md" and job.error["file"] == "evil.zip"
    assert not (import_root.parent / "uploads" / "escape.md").exists()


def test_qrels_import_as_an_annotator(as_role, corpus, import_root):
    admin = as_role(ADMIN)
    qrels = "q0 0 d0 2\nq1 0 d1 0\n"
    admin.post(reverse("workspace:corpus_import", args=["intranet"]),
               {"kind": "qrels", "annotator": "priya", "file": upload("qrels.txt", qrels)})
    assert run_last_job().status == "succeeded"
    assert sorted(Judgment.objects.values_list("annotator__username", "grade")) == [("priya", 0), ("priya", 2)]


def test_bad_forms_say_what_to_fix(as_role, corpus, import_root):
    admin = as_role(ADMIN)
    url = reverse("workspace:corpus_import", args=["intranet"])
    page = admin.post(url, {"kind": "qrels", "file": upload("q.txt", "q0 0 d0 1\n")}).content.decode()
    assert "name one of them" in page
    page = admin.post(url, {"kind": "documents", "file": upload("docs.exe", "x")}).content.decode()
    assert "docs.exe: not a file this import reads" in page
    page = admin.post(url, {"kind": "documents", "path": "../../etc/passwd"}).content.decode()
    assert "inside the import root" in page
    page = admin.post(url, {"kind": "documents"}).content.decode()
    assert "Upload a file or name a server path" in page
    page = admin.post(reverse("workspace:corpus_new"), {"name": "no spaces", "kind": "documents",
                                                        "file": upload("d.jsonl", "{}")}).content.decode()
    assert "Use only letters, digits, - and _." in page
    assert not ImportJob.objects.exists()


def test_a_server_path_is_for_admins_only_and_stays_inside_the_import_root(as_role, corpus, import_root):
    (import_root / "docs.jsonl").write_text('{"docid": "z", "text": "zed"}\n')
    reviewer = as_role(REVIEWER)
    url = reverse("workspace:corpus_import", args=["intranet"])
    assert reviewer.get(url).status_code == 403
    assert reviewer.post(url, {"kind": "documents", "path": "docs.jsonl"}).status_code == 403
    admin = as_role(ADMIN)
    assert b'name="path"' in admin.get(url).content
    admin.post(url, {"kind": "documents", "path": "docs.jsonl"})
    assert run_last_job().status == "succeeded" and Document.objects.filter(external_id="z").exists()


def test_the_corpus_page_counts_searches_and_pages(as_role, corpus):
    for i in range(30):
        DocumentFactory(corpus=corpus, external_id=f"memo-{i:02d}", title=f"Memo {i}", text="quarterly budget")
    client = as_role(REVIEWER)
    url = reverse("workspace:corpus_detail", args=["intranet"])
    page = client.get(url).content.decode()
    assert '<dd id="count-documents">33</dd>' in page and '<dd id="count-queries">3</dd>' in page
    assert "page 1 of 2" in page
    found = client.get(url, {"q": "Travel 1"}).content.decode()
    assert ">d1<" in found and ">d2<" not in found and "memo-00" not in found
    fragment = client.get(url, {"q": "budget"}, headers={"HX-Request": "true"}).content.decode()
    assert fragment.lstrip().startswith('<div id="documents">') and "memo-00" in fragment
    long = client.get(url, {"q": "x" * 5000})
    assert long.status_code == 200 and b"at most 200 characters" in long.content
    assert client.get(url, {"page": "not-a-page"}).status_code == 200
    assert client.get(reverse("workspace:corpus_detail", args=["nope"])).status_code == 404
    assert as_role(ANNOTATOR).get(url).status_code == 403


def test_a_document_shows_its_metadata_and_sanitised_text(as_role, corpus):
    doc = DocumentFactory(corpus=corpus, external_id="evil", title="Evil", author="Mallory", path="x/evil.html",
                          text="<p>hi</p><script>alert(1)</script>", extra={"format": "html"})
    client = as_role(REVIEWER)
    page = client.get(reverse("workspace:document_detail", args=["intranet", doc.id])).content.decode()
    assert "Mallory" in page and "x/evil.html" in page and "<script>alert(1)" not in page
    other = DocumentFactory(external_id="elsewhere")
    assert client.get(reverse("workspace:document_detail", args=["intranet", other.id])).status_code == 404


def test_a_new_corpus_may_not_take_an_existing_name(as_role, corpus, import_root):
    page = as_role(ADMIN).post(reverse("workspace:corpus_new"), {"name": "intranet", "kind": "documents",
                                                                 "file": upload("d.jsonl", '{"docid": "x"}')})
    assert "exists already: import into it from its page" in page.content.decode()
    assert not ImportJob.objects.exists()
