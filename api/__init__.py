"""Assessor's REST API, /api/v1/ (its OpenAPI 3 schema at /api/v1/openapi.json, docs at /api/v1/docs).

Built on django-ninja rather than Django REST framework: the API is a thin layer of typed
handlers over the services and selectors, and ninja derives the request validation, the
located validation errors and the OpenAPI schema from the same type hints (pydantic, already
in the environment), with no serializer and viewset layer to keep beside them. It serves its
Swagger UI from its own static files (no CDN: the app works offline) and adds one dependency;
DRF would need drf-spectacular and its sidecar for the same schema and docs.
"""
