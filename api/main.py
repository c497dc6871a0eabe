"""The API object: its authentication, its error shape, and the endpoint routers."""

from ninja import NinjaAPI, Schema

from .auth import TokenAuth, user_of
from .endpoints import benchmarks, corpora, exports, imports, labelers, labeling_writes, run_writes, runs
from .errors import ERRORS, errors_install

api = NinjaAPI(
    title="Assessor API",
    version="1",
    description=(
        "Graded relevance labels for search evaluation. Authenticate with a token from your "
        "'API tokens' page: `Authorization: Bearer asr_...`. Errors have one shape: "
        "{code, message, field, line}."
    ),
    auth=TokenAuth(),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
errors_install(api)
# imports, labeling_writes and run_writes add their operations to these routers: one path, one router.
assert imports and labeling_writes and run_writes
for module in (corpora, benchmarks, labelers, runs, exports):
    api.add_router("", module.router)


class MeOut(Schema):
    username: str
    roles: list[str]
    token: str


@api.get("/me", response={200: MeOut, **ERRORS}, summary="Who the token belongs to, and their roles")
def me(request):
    user = user_of(request)
    return {"username": user.get_username(), "roles": sorted(user.groups.values_list("name", flat=True)),
            "token": request.auth.name}
