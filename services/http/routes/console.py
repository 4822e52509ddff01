"""The advisor's console: server-rendered pages (Jinja2 templates in services/http/console, small
static files in services/http/static/console) over the same use cases and rules as the API. The
pages' own actions call the JSON API from the browser, signed in by the session cookie the
sign-in sets (services/http/access.py: the cookie is the advisor's token, and a change it
authenticates must carry the console's header)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from schemas.api import ApiModel, Person360Out
from schemas.events import Channel
from services.application.auth import Role, Unauthenticated, development_token
from services.http.access import PUBLIC, SESSION_COOKIE, AsAdvisor
from services.http.deps import App, AsOf, Fresh, ProblemError
from services.http.routes import queries
from services.http.routes.console_requests import service_desk
from services.http.routes.queries import NOT_FOUND, family_of
from services.http.time_travel import Travel

# Where sign-in may send the browser back: a path of this site. Browsers read a backslash as a slash
# (so a path starting with one names another host) and drop tabs and newlines from a URL: only a
# path's own characters are let through.
_SAME_SITE_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*")

router = APIRouter(tags=["console"])
HERE = Path(__file__).resolve().parents[1]
TEMPLATES = Jinja2Templates(directory=HERE / "console")
STATIC = "/console/static"
PAGE = {"content": {"text/html": {}}, "description": "A page of the advisor's console."}
DEMO_ADVISOR = "demo-advisor"
CONSOLE_ROLES = {Role.ADVISOR, Role.ANALYST, Role.ADMIN}
ANALYTICS = "/console/analytics"
CHANNELS = ["sms", "email", "call", "web"]


class SessionIn(ApiModel):
    token: str = Field(min_length=1, max_length=8000, description="The advisor's bearer token (a JWT).")


def _page(request: Request, template: str, **context: Any) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, template, {"static": STATIC, **context})


def _demo_sign_in_offered(crossview) -> bool:
    """Only the embedded demo, signing with the public demo key, offers its advisor in one click."""
    return crossview.mode == "embedded" and crossview.demo is not None and crossview.settings.development_signing_key


@router.get("/sign-in", response_class=HTMLResponse, responses={200: PAGE}, dependencies=[PUBLIC])
def sign_in_page(request: Request, crossview: App, next: Annotated[str, Query(max_length=500)] = "/") -> HTMLResponse:
    """Sign in to the console: paste an advisor's token (or, on the demo, one click)."""
    safe_next = next if _SAME_SITE_PATH.fullmatch(next) else "/"
    return _page(request, "sign_in.html", next=safe_next, demo=_demo_sign_in_offered(crossview))


def _session(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=8 * 3600,
        path="/",
    )


@router.post("/v1/console/session", dependencies=[PUBLIC])
def open_session(request: Request, crossview: App, body: SessionIn) -> JSONResponse:
    """Sign the browser in with an advisor's or an analyst's token: kept in an HttpOnly, SameSite=Strict
    cookie. ``home`` is where the console starts for them."""
    try:
        caller = crossview.authenticator.from_bearer(body.token.strip())
    except Unauthenticated as error:
        raise ProblemError(
            401,
            "Unauthenticated",
            f"this token does not verify: {error}",
            [{"field": "body.token", "message": str(error)}],
        ) from error
    if not caller.roles & CONSOLE_ROLES:
        raise ProblemError(403, "Forbidden", "the console is for advisors and analysts: this token has neither role")
    # an advisor's home is the search; an analyst's (or an administrator's) the analytics page
    home = "/" if Role.ADVISOR in caller.roles else ANALYTICS
    response = JSONResponse({"subject": caller.subject, "roles": sorted(caller.roles), "home": home})
    _session(response, request, body.token.strip())
    return response


@router.post("/v1/console/demo-session", dependencies=[PUBLIC], responses={404: {"description": "Not the demo"}})
def open_demo_session(request: Request, crossview: App) -> JSONResponse:
    """The embedded demo's development advisor, in one click (the demo only: 404 elsewhere)."""
    if not _demo_sign_in_offered(crossview):
        raise ProblemError(404, "Not the demo", "one-click sign-in exists on the embedded demo only")
    token = development_token(crossview.settings.development_signing_key, DEMO_ADVISOR, [Role.ADVISOR])
    response = JSONResponse({"subject": DEMO_ADVISOR, "roles": [Role.ADVISOR.value]})
    _session(response, request, token)
    return response


@router.delete("/v1/console/session", status_code=204, dependencies=[PUBLIC])
def close_session() -> Response:
    """Sign the browser out."""
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/", response_class=HTMLResponse, responses={200: PAGE})
async def home(
    request: Request,
    crossview: App,
    caller: AsAdvisor,
    freshness: Fresh,
    day: AsOf,
    q: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    """The console's front page: search people as you type."""
    found = await run_in_threadpool(_search, crossview, caller, freshness, day, q)
    return _page(request, "search.html", caller=caller, q=q, results=found)


@router.get("/console/search", response_class=HTMLResponse, responses={200: PAGE})
async def search_results(
    request: Request,
    crossview: App,
    caller: AsAdvisor,
    freshness: Fresh,
    day: AsOf,
    q: Annotated[str, Query(max_length=200)] = "",
    join_into: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """Search results as a fragment of a page (search as you type; the join box of a person page)."""
    found = await run_in_threadpool(_search, crossview, caller, freshness, day, q)
    if join_into:
        found = [r for r in found if r.person_id != join_into]
    return _page(request, "_results.html", q=q, results=found, join_into=join_into)


def _search(crossview, caller, freshness, day, q: str) -> list:
    if not q.strip():
        return []
    return queries.search_answer(crossview, freshness, Travel(day), q.strip(), 20).results


@router.get("/people/{person_id}", response_class=HTMLResponse, responses={200: PAGE, **NOT_FOUND})
async def person_page(
    request: Request,
    crossview: App,
    caller: AsAdvisor,
    person_id: str,
    freshness: Fresh,
    day: AsOf,
    channel: Annotated[Channel | None, Query()] = None,
    function_id: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """A person as an advisor works on them: the 360° view, the timeline (by channel, by function),
    the career path, and the advisor's actions; kept live by the person's stream."""
    page = await run_in_threadpool(_person_page, crossview, caller, person_id, freshness, day, channel, function_id)
    return _page(request, "person.html", caller=caller, **page)


def _person_page(crossview, caller, person_id: str, freshness, day, channel, function_id) -> dict[str, Any]:
    view, absorbed = family_of(crossview, person_id)
    person = queries._person_360(crossview, view.person_id, day, freshness)
    if isinstance(person, bytes):  # the ready document, as stored
        person = Person360Out.model_validate_json(person)
    history = queries.history_answer(crossview, view.person_id, freshness, Travel(day))
    everything = queries.timeline_answer(crossview, view.person_id, freshness, Travel(day), 500).entries
    shown = everything
    if channel or function_id:
        shown = queries.timeline_answer(
            crossview, view.person_id, freshness, Travel(day), 500, None, channel, function_id
        ).entries
    campaigns: dict[str, dict[str, Any]] = {}
    for entry in everything:
        name = entry.data.get("campaign")
        if name and name not in campaigns:  # newest first: the first row seen is the latest status
            campaigns[name] = {"name": name, "channel": entry.channel, "status": entry.status, "at": entry.occurred_at}
    after = ",".join(f"{tp}:{n - 1}" for tp, n in freshness.position.items() if n)
    functions_by_id = {f.function_id: f for f in history.functions}
    return {
        "person": person,
        "history": history.functions,
        "functions_by_id": functions_by_id,
        "timeline": shown,
        "campaigns": list(campaigns.values()),
        "absorbed": absorbed,
        "channel": channel,
        "function_id": function_id,
        "channels": CHANNELS,
        "stream_after": after,
        "contact_points": [c.split(":", 1) for c in view.contact_points if c.split(":", 1)[0] in ("phone", "email")],
        **service_desk(crossview, view, absorbed),
        "caught_up": freshness.caught_up,
    }


def serve_console(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(STATIC, StaticFiles(directory=HERE / "static" / "console"), name="console")
