"""Corpora: list (reviewers and admins, as in the browser) and create (admins)."""

from ninja import Query, Router, Schema

from annotate.selectors import corpora_visible_to, user_sees_corpora
from labeling.models import Corpus

from ..auth import user_of
from ..errors import ERRORS, ApiError
from ..paging import PageOut, Paging, page

router = Router(tags=["corpora"])


class CorpusOut(Schema):
    id: int
    name: str
    description: str
    documents: int
    queries: int


class CorpusPage(PageOut):
    items: list[CorpusOut]


def corpus_out(corpus: Corpus) -> dict:
    return {"id": corpus.id, "name": corpus.name, "description": corpus.description,
            "documents": corpus.documents.count(), "queries": corpus.queries.count()}


def corpus_visible(request, name: str) -> Corpus:
    user = user_of(request)
    if not user_sees_corpora(user=user):
        raise ApiError(403, "forbidden", "your role does not allow reading corpora")
    corpus = corpora_visible_to(user=user).filter(name=name).first()
    if corpus is None:
        raise ApiError(404, "not_found", f"no corpus named {name!r}", field="name")
    return corpus


@router.get("/corpora", response={200: CorpusPage, **ERRORS}, summary="List corpora")
def corpus_list(request, paging: Query[Paging]):
    user = user_of(request)
    if not user_sees_corpora(user=user):
        raise ApiError(403, "forbidden", "your role does not allow reading corpora")
    result = page(corpora_visible_to(user=user), paging)
    result["items"] = [corpus_out(c) for c in result["items"]]
    return result


@router.get("/corpora/{name}", response={200: CorpusOut, **ERRORS}, summary="One corpus")
def corpus_detail(request, name: str):
    return corpus_out(corpus_visible(request, name))
