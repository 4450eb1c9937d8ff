"""With logins on, gradio's file routes serve a file of the outputs folder only to the owner whose images
it holds.

gradio serves every file under its `allowed_paths` to every logged-in user, and the outputs folder has to be
there (gradio refuses to show images from anywhere else). So this ASGI middleware stands in front of those
routes: a path that resolves into the outputs folder is served only when it lies in the caller's own space
(`studio.outputs.space_folder`); anything else there (another user's images, input images, comparisons,
images made before logins were on) is answered as gradio answers a missing file, so a refusal does not
even tell whether the file exists. Paths outside the outputs folder are left to gradio's own checks.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.routing import Mount

from studio.outputs import space_folder

# gradio 6's routes that serve a file by its path (`/file/` is the deprecated spelling of `/file=`)
FILE_ROUTES = ("/gradio_api/file=", "/gradio_api/file/")


def requested_file(path: str) -> str | None:
    """The file path a gradio file route is asked for, as gradio's route reads it; None for other routes."""
    found = [(path.find(route), route) for route in FILE_ROUTES if route in path]
    if not found:
        return None
    start, route = min(found)
    return path[start + len(route) :]


def is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


class OwnImagesOnly:
    """`owner_of(connection)`: the owner the request's gradio login stands for, None when not logged in."""

    def __init__(self, app, output_dir: Path | str, owner_of: Callable[[HTTPConnection], str | None]):
        self.app = app
        self.output_dir = Path(output_dir)
        self.owner_of = owner_of

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and not self.allowed(scope):
            await JSONResponse({"detail": "File not allowed."}, status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def allowed(self, scope) -> bool:
        wanted = requested_file(scope.get("path", ""))
        if wanted is None:
            return True
        try:
            # as gradio resolves it (relative to the working folder), then with links followed
            target = Path(os.path.abspath(wanted)).resolve()
            outputs = self.output_dir.resolve()
        except (OSError, ValueError, RuntimeError):  # NUL bytes, link loops: refuse
            return False
        if not is_within(target, outputs):
            return True  # not an image of this studio: gradio's allowed/blocked paths decide
        owner = self.owner_of(HTTPConnection(scope))
        folder = space_folder(owner) if owner else None
        return folder is not None and is_within(target, (outputs / folder).resolve())


def gradio_login(app, blocks) -> Callable[[HTTPConnection], str | None]:
    """The name a request is logged in to the UI with, read as gradio reads it (its login cookie looked up
    in the mounted gradio app's tokens). `app` is the FastAPI app `blocks` was mounted on."""
    mounted = next(
        route.app
        for route in app.routes
        if isinstance(route, Mount) and getattr(route.app, "get_blocks", lambda: None)() is blocks
    )

    def login_of(connection: HTTPConnection) -> str | None:
        cookies = connection.cookies
        token = cookies.get(f"access-token-{mounted.cookie_id}") or cookies.get(
            f"access-token-unsecure-{mounted.cookie_id}"
        )
        return mounted.tokens.get(token) if token else None

    return login_of
