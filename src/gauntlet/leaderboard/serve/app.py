"""The Starlette app: the pages (one HTML shell; its script draws each page from the API) and
the JSON API under ``/api/``. Read-only: the store is opened with :meth:`Leaderboard.reader`.

Pages: ``/`` the board, ``/groups/KEY``, ``/runs/ID``, ``/compare?runs=A,B``, ``/sweeps/NAME``,
``/studies/NAME``. The page polls the API every couple of seconds, so new runs, epochs and
finished runs appear without a reload.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gauntlet.errors import GauntletError
from gauntlet.leaderboard.serve.security import TokenAndHeaders
from gauntlet.leaderboard.serve.views import NotFound, Views
from gauntlet.leaderboard.store import Leaderboard

log = logging.getLogger(__name__)

STATIC = {"app.js": "text/javascript", "app.css": "text/css"}


def _static(name: str) -> str:
    return (
        resources.files("gauntlet.leaderboard.serve")
        .joinpath("static", name)
        .read_text(encoding="utf-8")
    )


def create_app(url: str, token: str | None = None) -> Starlette:
    """The app for the store at ``url`` (read-only), requiring ``token`` when given."""
    board = Leaderboard.reader(url)
    views = Views(board)
    shell = _static("index.html")
    files = {name: _static(name) for name in STATIC}

    def params(request: Request) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in request.query_params.multi_items():
            out.setdefault(key, []).append(value)
        return {k: v if len(v) > 1 else v[0] for k, v in out.items()}

    async def page(request: Request) -> Response:
        return Response(shell, media_type="text/html; charset=utf-8")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in files:
            raise HTTPException(404, f"no file {name!r}")
        return Response(files[name], media_type=f"{STATIC[name]}; charset=utf-8")

    def api(handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                # in a worker thread: a slow query never holds up the other requests
                return JSONResponse(await run_in_threadpool(handler, request))
            except NotFound as missing:
                return JSONResponse({"error": str(missing)}, status_code=404)
            except GauntletError as error:
                return JSONResponse({"error": str(error)}, status_code=400)

        return endpoint

    routes = [
        Route("/", page),
        Route("/groups/{key:str}", page),
        Route("/runs/{run_id:path}", page),
        Route("/compare", page),
        Route("/sweeps/{name:path}", page),
        Route("/studies/{name:path}", page),
        Route("/static/{name:str}", static),
        Route("/api/groups", api(lambda r: views.groups(params(r)))),
        Route("/api/groups/{key:str}", api(lambda r: views.group(r.path_params["key"], params(r)))),
        Route("/api/runs", api(lambda r: views.runs(params(r)))),
        Route("/api/tasks", api(lambda r: views.tasks(params(r)))),
        Route(
            "/api/runs/{run_id:path}/history",
            api(lambda r: views.history(r.path_params["run_id"])),
        ),
        Route("/api/runs/{run_id:path}", api(lambda r: views.run(r.path_params["run_id"]))),
        Route(
            "/api/diff",
            api(lambda r: views.diff(_ids(r.query_params.get("runs")))),
        ),
        Route("/api/sweeps", api(lambda r: views.sweeps())),
        Route(
            "/api/sweeps/{name:path}", api(lambda r: views.sweep(r.path_params["name"], params(r)))
        ),
        Route("/api/studies", api(lambda r: views.studies())),
        Route("/api/studies/{name:path}", api(lambda r: views.study(r.path_params["name"]))),
        Route("/api/stamp", api(lambda r: views.stamp())),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        detail = getattr(exc, "detail", None) or f"no page {request.url.path!r}"
        code = getattr(exc, "status_code", 404)
        return JSONResponse({"error": str(detail)}, status_code=code)

    async def failed(request: Request, exc: Exception) -> Response:
        log.exception("error answering %s", request.url.path)
        return JSONResponse({"error": "the server could not answer; see its log"}, status_code=500)

    app = Starlette(
        routes=routes,
        middleware=[Middleware(TokenAndHeaders, token=token)],
        exception_handlers={
            HTTPException: not_found,
            404: not_found,
            500: failed,
            Exception: failed,
        },
    )
    app.state.board = board
    app.state.views = views
    return app


def _ids(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]
