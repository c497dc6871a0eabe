"""The API object: its authentication, its error shape, and the endpoint routers."""

from ninja import NinjaAPI, Schema

from .auth import TokenAuth, user_of
from .endpoints import benchmarks, corpora, exports, imports, labelers, labeling_writes, run_writes, runs
from .errors import ERRORS, errors_install


class AssessorAPI(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        """Every operation also declares the web server's own refusal of an oversized request
        line or header (gunicorn answers 414 or 400 in HTML before Django sees the request)."""
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        for methods in schema["paths"].values():
            for operation in methods.values():
                operation["responses"].setdefault(414, FRONT_REFUSAL)
        return schema


FRONT_REFUSAL = {"description": "Request line over the web server's limit (4 KiB in gunicorn), refused before "
                                "the application", "content": {"text/html": {"schema": {"type": "string"}}}}

api = AssessorAPI(
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
