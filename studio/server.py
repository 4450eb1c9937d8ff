"""The served app: the HTTP API and the Gradio UI on one FastAPI app, sharing one job queue, under uvicorn.

`build_app` is what `app.py` serves and what the tests start on 127.0.0.1. Auth (studio.auth) guards both:
gradio's login page for the UI, basic or bearer auth for `/v1/*`. Only the outputs folder is served as
files, and with auth on only each user's own images in it (studio.file_guard); CORS is off unless exact
origins are configured.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass, field

import gradio as gr
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from studio.api import Catalog, create_api
from studio.api_guards import AllowedHosts, RequestGuards
from studio.auth import Auth, UiLogins
from studio.file_guard import OwnImagesOnly, gradio_login
from studio.inputs import MAX_INPUT_BYTES
from studio.jobqueue import JobQueue
from studio.ui import build_ui
from studio.ui.session import Owners

log = logging.getLogger(__name__)


@dataclass
class Served:
    app: FastAPI
    jobs: JobQueue
    blocks: gr.Blocks
    hosts: AllowedHosts = field(default_factory=AllowedHosts)  # the names it answers to (a share link adds one)


def auth_of(settings) -> Auth:
    return Auth(users=tuple(settings.auth_users), tokens=tuple(settings.api_tokens))


def build_app(services, catalog: Catalog | None = None, jobs: JobQueue | None = None) -> Served:
    settings = services.settings
    auth = auth_of(settings)
    jobs = jobs or JobQueue(services.engine, services.store)
    jobs.start()
    app = create_api(services, jobs, auth, catalog)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.router.on_shutdown.append(jobs.close)
    logins = UiLogins(auth) if auth.enabled else None
    blocks = build_ui(services, jobs, Owners(logins.owner_of if logins else None))
    gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        auth=logins.check if logins else None,
        allowed_paths=[str(settings.output_dir)],
        max_file_size=MAX_INPUT_BYTES,
        footer_links=["api", "gradio"],
    )
    if logins:
        login_of = gradio_login(app, blocks)
        app.add_middleware(
            OwnImagesOnly, output_dir=settings.output_dir, owner_of=lambda request: logins.owner_of(login_of(request))
        )
    hosts = AllowedHosts.for_settings(settings)
    app.add_middleware(RequestGuards, hosts=hosts)  # added last, so it runs first: Host and Content-Type checks
    return Served(app, jobs, blocks, hosts)


def open_share_link(port: int, hosts: AllowedHosts | None = None) -> str:
    """A public gradio share link to the local server (needs the internet; Colab uses this); its host name
    is added to `hosts`, the names the server answers to."""
    from urllib.parse import urlsplit

    from gradio import networking

    url = networking.setup_tunnel("127.0.0.1", port, secrets.token_urlsafe(32), None, None)
    if hosts is not None and urlsplit(url).hostname:
        hosts.add(urlsplit(url).hostname)
    print(f"Public URL (protected by --auth): {url}", flush=True)
    return url


def serve(served: Served, settings) -> None:
    """Serve until interrupted: on `settings.host` (127.0.0.1 unless --listen), plus a share link if asked."""
    import uvicorn

    if settings.share:

        def share() -> None:
            try:
                open_share_link(settings.port, served.hosts)
            except Exception as error:  # noqa: BLE001 - the local server keeps running
                log.error("could not open a share link: %s", error)

        served.app.router.on_startup.append(lambda: threading.Thread(target=share, daemon=True).start())
    shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    print(f"SDXL Studio on http://{shown}:{settings.port} (API docs at /v1/docs)", flush=True)
    uvicorn.run(served.app, host=settings.host, port=settings.port, log_level="warning", timeout_graceful_shutdown=5)
