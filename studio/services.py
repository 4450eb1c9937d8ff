"""The studio's long-lived objects, built once from settings and shared by every front end."""

from __future__ import annotations

from dataclasses import dataclass

from studio.engine import Engine
from studio.models import PipelineManager
from studio.outputs import OutputStore
from studio.settings import Settings


class StartupError(RuntimeError):
    """The studio cannot start as asked; the message tells the user which option to change."""


@dataclass(frozen=True)
class Services:
    settings: Settings
    manager: PipelineManager
    engine: Engine
    store: OutputStore


def build_services(settings: Settings) -> Services:
    from studio.models import ModelUnavailable, UnsafeCheckpoint
    from studio.settings import SettingsError

    try:
        manager = PipelineManager(settings)
        manager.load()
    except (ModelUnavailable, UnsafeCheckpoint, SettingsError) as error:
        raise StartupError(str(error)) from error
    from studio.a1111_line import services_hashes

    engine = Engine(manager)
    store = OutputStore(settings.output_dir, services_hashes(manager, engine.libraries.loras))  # 15D: A1111 hashes
    return Services(settings, manager, engine, store)
