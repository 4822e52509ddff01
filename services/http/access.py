"""The door of every operation: each route declares who may call it, and the OpenAPI document says so.

A route takes a ``Caller`` through one of the aliases below (``AsAdvisor``, ``AsAdmin``...), or
declares itself ``PUBLIC``; webhooks under /v1/ingest/ are verified by their provider's signature
instead. `check_every_route_declares_access` refuses to build an app where a route says none of
these, so a new operation cannot be left open by forgetting.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import BaseModel, ValidationError
from starlette.datastructures import Headers
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schemas.api import Problem
from services.application.audit import PendingAccess
from services.application.auth import Authenticator, Caller, Role, Unauthenticated
from services.http.deps import ProblemError, problem_response
from services.http.pseudonyms import Pseudonymiser

PROVIDER_SIGNED = "/v1/ingest/"  # webhooks: the provider's signature is the credential
ROLES_EXTENSION = "x-crossview-roles"
CALLER = "crossview.caller"  # where the Door leaves the admitted caller in the request's scope
RECORDING = "crossview.recording"  # a read's audit record on its way (see Door): a PendingAccess
RIDES_WITH_ITS_READ = "records_with_its_read"

SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A JWT from the identity provider (or `crossview token`).",
    },
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
        "description": "An adapter's API key (publishes events only).",
    },
}


class Allow:
    """A dependency that lets in callers holding any of ``roles``; none means anyone (public).

    The `Door` middleware runs the same check before the request's body is read; the dependency
    declares the roles (and documents them) and hands the caller to the route."""

    def __init__(self, *roles: Role, audited: bool = False, kind: str | None = None) -> None:
        self.roles = frozenset(roles)
        self.audited = audited
        self.kind = kind  # what the audit records: by default a read for GET, else a change

    async def __call__(self, request: Request) -> Caller | None:
        if not self.roles:
            return None
        crossview = request.app.state.crossview
        admitted = request.scope.get(CALLER)
        if admitted is None:  # an app without the Door (it always has one): the same check here
            admitted = self.admit(crossview.authenticator, *credentials_of(Headers(scope=request.scope)))
        if self.audited and RECORDING not in request.scope:  # a change: recorded before the route runs
            endpoint = request.scope.get("endpoint")
            await self.record(crossview.auditor, admitted, request.scope, endpoint, request.path_params)
        return admitted

    def record(
        self, auditor: Any, caller: Caller, scope: Scope, endpoint: Any, path_params: dict[str, Any]
    ) -> Awaitable[None]:
        return auditor.record(*self._access(caller, scope, endpoint, path_params))

    def pending(
        self, auditor: Any, caller: Caller, scope: Scope, endpoint: Any, path_params: dict[str, Any]
    ) -> PendingAccess:
        return auditor.pending(*self._access(caller, scope, endpoint, path_params))

    def _access(self, caller: Caller, scope: Scope, endpoint: Any, path_params: dict[str, Any]) -> tuple:
        """The access's fields, as Auditor.record and Auditor.pending take them."""
        client = scope.get("client")
        return (
            caller,
            self.kind or ("read" if scope["method"] in SAFE_METHODS else "change"),
            getattr(endpoint, "__name__", scope["path"]),
            scope["method"],
            storable(scope["path"]),
            client[0] if client else None,
            {k: storable(v) if isinstance(v, str) else v for k, v in path_params.items()},
        )

    def admit(self, authenticator: Authenticator, bearer: str | None, api_key: str | None) -> Caller:
        """The caller, if their credentials verify and they hold one of the roles; else 401 or 403."""
        try:
            if bearer:
                caller = authenticator.from_bearer(bearer)
            elif api_key:
                caller = authenticator.from_api_key(api_key)
            else:
                raise Unauthenticated("send a bearer token (Authorization: Bearer ...) or an adapter's X-Api-Key")
        except Unauthenticated as error:
            raise ProblemError(
                401, "Unauthenticated", str(error), headers={"WWW-Authenticate": 'Bearer realm="crossview"'}
            ) from error
        if not caller.roles & self.roles:
            raise ProblemError(
                403,
                "Forbidden",
                f"this operation needs the role {' or '.join(sorted(self.roles))}; "
                f"the caller has {', '.join(sorted(caller.roles)) or 'no known role'}",
            )
        return caller


def storable(text: str) -> str:
    """The text with what PostgreSQL text cannot hold (NUL, a lone surrogate) as U+FFFD: a read's
    record is sent before the edge refuses such a path (services/http/limits.py), and a record the
    projector cannot store would be a dead letter instead of a trace."""
    if text.isascii() and "\x00" not in text:
        return text
    return "".join("\ufffd" if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in text)


SESSION_COOKIE = "crossview_session"  # the console's: the token an advisor signed in with
CONSOLE_HEADER = "x-crossview-console"  # what a console page adds to its changes (see Door)
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def credentials_of(headers: Headers) -> tuple[str | None, str | None]:
    """(bearer token, API key) as the request carries them: the Authorization header, else the
    console's session cookie (the same token, kept by the browser)."""
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    bearer = credentials.strip() if scheme.lower() == "bearer" else None
    api_key = headers.get("x-api-key")
    if "authorization" in headers or api_key is not None:  # credentials given: the cookie never stands in
        return bearer, api_key
    return session_token(headers), None


def session_token(headers: Headers) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE and value:
            return value
    return None


def _forged(scope: Scope, headers: Headers) -> bool:
    """A change that only the cookie authenticates, without the console's header: another site's
    form. (The cookie is SameSite=Strict too; a header no form can set is the second lock.)"""
    return (
        scope["method"] not in SAFE_METHODS
        and not headers.get("authorization")
        and not headers.get("x-api-key")
        and session_token(headers) is not None
        and headers.get(CONSOLE_HEADER) != "1"
    )


class Door:
    """ASGI middleware: credentials and roles are checked before anything reads the request's body.

    A read's audit record is sent as soon as the caller is admitted and is kept while the route
    reads; the answer's first byte waits until it is kept (durably: services/application/audit.py),
    and if it cannot be the answer is a 503 instead: nothing is disclosed without a trace, and the
    trace costs no extra wait when it is kept before the answer is ready. (A change is recorded before it is made: see
    Allow.)"""

    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app = app
        self.api = api
        self._routes: list[tuple[RouteContext, Allow | None]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            guard, context, path_params = self._guard_for(scope)
            if guard is not None and guard.roles:
                headers = Headers(scope=scope)
                try:
                    if _forged(scope, headers):
                        raise ProblemError(
                            403, "Forbidden", f"a change signed in by the console's cookie must carry {CONSOLE_HEADER}"
                        )
                    scope[CALLER] = guard.admit(self.api.state.crossview.authenticator, *credentials_of(headers))
                except ProblemError as error:
                    if error.problem.status == 401 and _wants_a_page(scope, headers):
                        await RedirectResponse(f"/sign-in?next={quote(scope['path'])}", 303)(scope, receive, send)
                        return
                    await problem_response(error.problem, headers=error.headers)(scope, receive, send)
                    return
                if guard.audited and scope["method"] in SAFE_METHODS:
                    endpoint = getattr(context.original_route, "endpoint", None)
                    auditor = self.api.state.crossview.auditor
                    try:
                        pending = guard.pending(auditor, scope[CALLER], scope, endpoint, path_params)
                    except ValidationError as error:
                        problem = Problem(status=422, title="Outside the event contract", detail=str(error))
                        await problem_response(problem)(scope, receive, send)
                        return
                    scope[RECORDING] = pending
                    if not getattr(endpoint, RIDES_WITH_ITS_READ, False):
                        auditor.submit(pending)  # kept while the route reads
                    send = _once_recorded(pending, auditor, send)
        await self.app(scope, receive, send)

    def _guard_for(self, scope: Scope) -> tuple[Allow | None, RouteContext | None, dict[str, Any]]:
        if self._routes is None:
            self._routes = [
                (context, _guard_of(context.original_route)) for context in iter_route_contexts(self.api.routes)
            ]
        for context, guard in self._routes:
            match, child = context.matches(scope)
            if match == Match.FULL:
                return guard, context, child.get("path_params", {})
        return None, None, {}


def _once_recorded(pending: PendingAccess, auditor: Any, send: Send) -> Send:
    """``send`` holding the answer until ``pending`` is kept (by now, if the route did not carry it
    with its read); a problem instead if it cannot be."""
    pending.kept.add_done_callback(lambda done: done.cancelled() or done.exception())  # retrieved, even unanswered
    refused = False

    async def send_once_recorded(message: Message) -> None:
        nonlocal refused
        if message["type"] == "http.response.start":
            auditor.submit(pending)  # nothing if it is kept another way
            try:
                await pending.kept
            except Exception:  # noqa: BLE001 - whatever kept the record from being written, nothing is disclosed
                refused = True
                await problem_response(
                    Problem(status=503, title="Audit trail unavailable", detail=_NOT_RECORDED),
                    headers={"Retry-After": "5"},
                )({"type": "http"}, _nothing, send)
        if not refused:
            await send(message)

    return send_once_recorded


def records_with_its_read(endpoint: Callable) -> Callable:
    """Marks a route that keeps its caller's access record within its own read (Auditor.riding):
    the Door then does not send the record on its own way at admission."""
    setattr(endpoint, RIDES_WITH_ITS_READ, True)
    return endpoint


_NOT_RECORDED = "The access could not be recorded, so nothing is disclosed. Retry later."


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


def _wants_a_page(scope: Scope, headers: Headers) -> bool:
    """A person's browser opening a console page (not a program, not the API): sent to sign in."""
    return (
        scope["method"] == "GET" and not scope["path"].startswith("/v1/") and "text/html" in headers.get("accept", "")
    )


PUBLIC = Depends(Allow())
AsAdapter = Annotated[Caller, Depends(Allow(Role.ADAPTER))]
# The website's backend asking what to show its visitor (their offers): an adapter's one read, audited.
WEBSITE = Allow(Role.ADAPTER, audited=True)  # also records whose offers a website asked for (routes/offers.py)
AsWebsite = Annotated[Caller, Depends(WEBSITE)]
AsAdvisor = Annotated[Caller, Depends(Allow(Role.ADVISOR, audited=True))]
AsAdmin = Annotated[Caller, Depends(Allow(Role.ADMIN, audited=True))]
AsReader = Annotated[Caller, Depends(Allow(Role.ADVISOR, Role.ANALYST, Role.ADMIN))]  # no personal data
AsAnalyst = Annotated[Caller, Depends(Allow(Role.ANALYST, Role.ADMIN))]  # aggregates: counts, no one's data
# People's data: advisors in clear, analysts pseudonymised (see shown_to) unless granted personal-data.
AsPeopleReader = Annotated[Caller, Depends(Allow(Role.ADVISOR, Role.ANALYST, audited=True))]


def sees_personal_data(caller: Caller) -> bool:
    """Advisors and granted analysts see personal data in clear."""
    return bool(caller.roles & {Role.ADVISOR, Role.PERSONAL_DATA})


def shown_to(caller: Caller, answer: BaseModel, crossview: Any) -> BaseModel | JSONResponse:
    """The answer as this caller may see it: in clear for advisors and granted analysts, else with
    every personal value replaced by its pseudonym."""
    if sees_personal_data(caller):
        return answer
    secret = crossview.settings.master_key_bytes
    # time_travel only when a query travelled: a live answer is as it always was
    untravelled = {"time_travel"} if getattr(answer, "time_travel", 1) is None else None
    return JSONResponse(Pseudonymiser(secret).answer(jsonable_encoder(answer, exclude=untravelled)))


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every operation, including those of included routers."""
    return [c.original_route for c in iter_route_contexts(app.routes) if isinstance(c.original_route, APIRoute)]


def _guard_of(route: BaseRoute) -> Allow | None:
    if not isinstance(route, APIRoute):
        return None
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if isinstance(dependency.call, Allow):
            return dependency.call
        pending += dependency.dependencies
    return None


def check_every_route_declares_access(app: FastAPI) -> None:
    for route in api_routes(app):
        if not route.path.startswith(PROVIDER_SIGNED) and _guard_of(route) is None:
            raise RuntimeError(f"{sorted(route.methods)} {route.path} declares no access (Allow, PUBLIC)")


def document_roles(app: FastAPI, schema: dict[str, Any]) -> dict[str, Any]:
    """Each operation's roles in the OpenAPI document: an extension a program reads, a line a person reads."""
    for route in api_routes(app):
        if not route.include_in_schema:
            continue
        guard = _guard_of(route)
        for method in route.methods:
            operation = schema["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            if route.path.startswith(PROVIDER_SIGNED):
                operation[ROLES_EXTENSION] = ["provider-signature"]
                continue
            roles = sorted(guard.roles) if guard else []
            operation[ROLES_EXTENSION] = roles or ["public"]
            who = ", ".join(roles) if roles else "anyone, without credentials"
            operation["description"] = f"{operation.get('description', '')}\n\n**Roles:** {who}.".lstrip()
            if roles:
                operation["security"] = [{"bearer": []}, *([{"apiKey": []}] if Role.ADAPTER in guard.roles else [])]
                problem = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
                operation.setdefault("responses", {}).update(
                    {
                        "401": {"description": "No credentials, or credentials that do not verify", "content": problem},
                        "403": {"description": "The caller lacks the role", "content": problem},
                    }
                )
    schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    return schema
