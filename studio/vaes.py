"""VAE choice: the VAEs in `<models-dir>/vae/` (single `.safetensors` files, named by their stem) that a request
may name in `vae`; '' is the checkpoint's own VAE (neutral).

A chosen VAE is read once, built on the meta device and loaded with `assign=True` in the architecture of the
checkpoint's own VAE (a VAE that does not fit it is refused, naming `vae`), placed like it and kept resident:
the resident pipeline and every pipeline derived from it decode (and encode) with it while a request names it.
Memory policy: a loaded VAE (~160 MB in fp16 for SDXL) stays on the device for as long as its checkpoint
does; a model switch puts the checkpoint's own VAE back and drops the loaded ones before the next model is
placed, so a switch never holds them beside two models. Files in the original (LDM) layout, as VAEs are
shared, and in diffusers' layout are both read; safetensors only, nothing is unpickled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from studio.library_names import is_library_name
from studio.limits import InvalidRequest, echo

log = logging.getLogger(__name__)

VAE_FOLDER = "vae"  # under --models-dir
NO_VAE = ""  # the checkpoint's own VAE
_CHECKPOINT_PREFIX = "first_stage_model."  # a VAE cut out of a full checkpoint keeps this prefix


@dataclass(frozen=True)
class VaeLibrary:
    folder: Path

    @classmethod
    def in_models_dir(cls, models_dir: Path | str) -> VaeLibrary:
        return cls(Path(models_dir) / VAE_FOLDER)

    def names(self) -> tuple[str, ...]:
        if not self.folder.is_dir():
            return ()
        stems = (path.stem for path in self.folder.glob("*.safetensors") if path.is_file())
        return tuple(sorted((stem for stem in stems if is_library_name(stem)), key=str.lower))

    def path(self, name: str) -> Path:
        """The file of a VAE a request names; anything but a VAE file of the folder is refused, naming `vae`."""
        if not is_library_name(name) or name not in self.names():
            known = ", ".join(self.names()) or "none"
            raise InvalidRequest("vae", f"'{echo(name)}' is not a VAE in <models-dir>/{VAE_FOLDER} (known: {known})")
        return self.folder / f"{name}.safetensors"


def check_vae(name: str, library: VaeLibrary) -> None:
    if name != NO_VAE:
        library.path(name)


def read_vae(path: Path, like, dtype, device):
    """The VAE in `path` as an AutoencoderKL of `like`'s architecture (config), on `device` in `dtype`.
    ValueError if its weights do not fit that architecture."""
    import torch
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint
    from safetensors.torch import load_file

    state = load_file(str(path))
    state = {key.removeprefix(_CHECKPOINT_PREFIX): value for key, value in state.items()}
    if not any(key.startswith("decoder.up_blocks.") for key in state):  # the original (LDM) layout
        state = convert_ldm_vae_checkpoint(state, dict(like.config))
    with torch.device("meta"):
        vae = AutoencoderKL.from_config(like.config)
    wanted = vae.state_dict()
    wrong = [key for key, value in state.items() if key not in wanted or wanted[key].shape != value.shape]
    missing = sorted(set(wanted) - set(state))
    if wrong or missing:
        detail = f"unexpected or misshaped {wrong[0]}" if wrong else f"missing {missing[0]}"
        raise ValueError(f"its weights do not fit this checkpoint's VAE ({detail})")
    vae.load_state_dict(state, strict=True, assign=True)
    return vae.to(device=device, dtype=dtype).eval()


class VaeChoice:
    """Puts the VAE a request names into the resident pipeline (see the module's docstring)."""

    def __init__(self, manager):
        self.manager = manager
        self.library = VaeLibrary.in_models_dir(manager.settings.models_dir)
        self._loaded: dict[str, object] = {}
        self._own: tuple[object, object] | None = None  # (the resident pipeline, its own VAE)
        manager.add_release_hook(self.release)

    def use(self, name: str) -> None:
        """Make `name` ('' = the checkpoint's own) the VAE of the resident pipeline. Pipelines derived from it
        take it from there (Engine._sample)."""
        pipeline = self.manager.pipeline
        if self._own is None or self._own[0] is not pipeline:
            self._own, self._loaded = (pipeline, pipeline.vae), {}
        vae = self._own[1] if name == NO_VAE else self._load(name, self._own[1])
        if pipeline.vae is not vae:
            pipeline.vae = vae

    def _load(self, name: str, own):
        if name not in self._loaded:
            path = self.library.path(name)
            try:
                self._loaded[name] = read_vae(path, own, own.dtype, own.device)
            except (ValueError, OSError) as error:
                raise InvalidRequest("vae", f"'{name}' could not be loaded: {error}") from error
            log.info("loaded the VAE %s on %s", name, own.device)
        return self._loaded[name]

    def release(self) -> None:
        """Before a model switch: the checkpoint's own VAE back in its pipeline, the loaded ones dropped."""
        if self._own is not None:
            pipeline, own = self._own
            if pipeline.vae is not own:
                pipeline.vae = own
        self._own, self._loaded = None, {}
