"""The API's documentation page, with Swagger UI's files vendored in services/http/static/swagger-ui
(5.35.0, Apache-2.0, licences beside them): FastAPI's default page loads them from a CDN, and on a
machine that reaches nothing — a bank's network, ours — it was a blank page."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from services.http.access import PUBLIC

STATIC = "/docs/static"
FILES = Path(__file__).resolve().parents[1] / "static" / "swagger-ui"
router = APIRouter(include_in_schema=False)


@router.get("/docs", dependencies=[PUBLIC])
def docs() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Crossview API",
        swagger_js_url=f"{STATIC}/swagger-ui-bundle.js",
        swagger_css_url=f"{STATIC}/swagger-ui.css",
        swagger_favicon_url=f"{STATIC}/favicon-32x32.png",
        swagger_ui_parameters={"persistAuthorization": True},
    )


def serve_docs(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(STATIC, StaticFiles(directory=FILES), name="swagger-ui")
