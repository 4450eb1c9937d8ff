"""The checkpoint library: the SDXL checkpoints in `<models-dir>/checkpoints/` that a request may name.

Each is a single-file `.safetensors` checkpoint (named by its stem) or a diffusers folder (a folder holding
`model_index.json`, named by the folder). A request names one by that name only, never by a path or a hub id,
so no client can make the server read an arbitrary file or download a repo. Pickled files are not listed.
What a request may name in all (`available_names`, `request_source`): the model the studio started with,
these checkpoints, and the loaded model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from studio.library_names import is_library_name
from studio.types import InvalidRequest, ModelInfo

CHECKPOINTS_FOLDER = "checkpoints"  # under --models-dir
DIFFUSERS_INDEX = "model_index.json"
SINGLE_FILE_SUFFIX = ".safetensors"


@dataclass(frozen=True)
class CheckpointLibrary:
    folder: Path

    @classmethod
    def in_models_dir(cls, models_dir: Path | str) -> CheckpointLibrary:
        return cls(Path(models_dir) / CHECKPOINTS_FOLDER)

    def entries(self) -> dict[str, Path]:
        """Name -> file or folder, ordered by name; a folder and a file of one name: the folder."""
        if not self.folder.is_dir():
            return {}
        found: dict[str, Path] = {}
        for path in sorted(self.folder.iterdir()):  # "x" sorts before "x.safetensors"
            if path.is_dir() and (path / DIFFUSERS_INDEX).is_file():
                name = path.name
            elif path.is_file() and path.suffix.lower() == SINGLE_FILE_SUFFIX:
                name = path.stem
            else:
                continue
            if is_library_name(name):
                found.setdefault(name, path)
        return dict(sorted(found.items(), key=lambda item: item[0].lower()))

    def names(self) -> tuple[str, ...]:
        return tuple(self.entries())

    def find(self, name: str) -> Path | None:
        """The file or folder of the checkpoint `name`; None for anything else (a path, a hub id, unknown)."""
        return self.entries().get(name) if is_library_name(name) else None

    def name_of(self, path: Path) -> str | None:
        """The library name of a file or folder that is one of its checkpoints, else None."""
        target = Path(path).expanduser().resolve()
        return next((name for name, entry in self.entries().items() if entry.resolve() == target), None)


def model_name(source: str, library: CheckpointLibrary) -> str:
    """The name a model source is known by: a library checkpoint's name, else the file or folder name of a
    path, else the source itself (`tiny`, a hub id)."""
    path = Path(source).expanduser()
    if path.exists():
        return library.name_of(path) or path.name
    return source


def available_names(library: CheckpointLibrary, started_with: str, loaded: str = "") -> tuple[str, ...]:
    """The model names a request may give: the model the studio started with, every checkpoint in the
    library, and the loaded model (a preset's), each once, in that order."""
    names = (model_name(started_with, library), *library.names(), loaded)
    return tuple(dict.fromkeys(name for name in names if name))


def request_source(model: str, library: CheckpointLibrary, started_with: str, loaded: ModelInfo) -> str:
    """What to load for a request's `model`: '' or the loaded model's name (or source) is the loaded model;
    the name (or source) of the model the studio started with; or a checkpoint of the library by name.
    Anything else is refused, naming `model`: a request never makes the server read a path or fetch a repo."""
    if not model or model in (loaded.name, loaded.source):
        return loaded.source
    if model in (started_with, model_name(started_with, library)):
        return started_with
    path = library.find(model)
    if path is not None:
        return str(path)
    shown = model if len(model) <= 80 else model[:79] + "…"
    raise InvalidRequest(
        "model",
        f"'{shown}' is not available: name the loaded model, the one the studio started with or a checkpoint in "
        "<models-dir>/checkpoints; `python -m studio models` or GET /v1/models lists what is",
    )
