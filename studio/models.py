"""PipelineManager: the one owner of torch/diffusers model objects.

It resolves a model source (the reserved name `tiny`, a diffusers folder, a single `.safetensors` file, a
checkpoint of `<models-dir>/checkpoints/` by name, or a hub repo id), loads it once with the device's dtype and
keeps it resident for every request. Switching to another model never holds two on the device: the new one is
read into CPU memory, the old one is moved off the device, and it is put back as it was if the new one cannot
be placed (see `load`). Requests name their model (`source_for`): only names, never paths or hub ids.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable
from pathlib import Path

from studio import device_memory, performance_policy, registry
from studio.checkpoints import CheckpointLibrary, available_names, model_name, request_source
from studio.lora_adapters import LoadedLoras, UnetLoras
from studio.settings import DevicePolicy, Settings, resolve_device
from studio.types import SDXL_SIZE_LIMIT, Limit, ModelInfo

log = logging.getLogger(__name__)

PICKLED_SUFFIXES = frozenset({".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle"})
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

# SDXL's native sizes (width, height): about one megapixel, sides multiples of 64.
SDXL_NATIVE_SIZES = (
    (704, 1408), (704, 1344), (768, 1344), (768, 1280), (832, 1216), (832, 1152), (896, 1152), (896, 1088),
    (960, 1088), (960, 1024), (1024, 1024), (1024, 960), (1088, 960), (1088, 896), (1152, 896), (1152, 832),
    (1216, 832), (1280, 768), (1344, 768), (1344, 704), (1408, 704), (1472, 704), (1536, 640), (1600, 640),
    (1664, 576), (1728, 576),
)  # fmt: skip
# The tiny model works at about 1/16 of SDXL's sizes. Its own grid is 4 pixels (a 2x VAE, a UNet that halves
# once), but diffusers' SDXL pipelines refuse sides that are not multiples of 8, whatever the model: so 8.
TINY_SIZE_DIVISOR = 16
TINY_SIZE_LIMIT = Limit(32, 256, multiple_of=8)


def _tiny_sizes() -> tuple[tuple[int, int], ...]:
    """SDXL's native sizes / 16, each side rounded to the tiny grid; aspects that round alike appear once."""
    grid = TINY_SIZE_LIMIT.multiple_of

    def side(pixels: int) -> int:
        return max(int(TINY_SIZE_LIMIT.low), round(pixels / TINY_SIZE_DIVISOR / grid) * grid)

    return tuple(dict.fromkeys((side(w), side(h)) for w, h in SDXL_NATIVE_SIZES))


TINY_NATIVE_SIZES = _tiny_sizes()


_PIPELINE_CLASSES = {
    ("txt2img", False): "StableDiffusionXLPipeline",
    ("img2img", False): "StableDiffusionXLImg2ImgPipeline",
    ("inpaint", False): "StableDiffusionXLInpaintPipeline",
    ("txt2img", True): "StableDiffusionXLControlNetPipeline",
    ("img2img", True): "StableDiffusionXLControlNetImg2ImgPipeline",
    ("inpaint", True): "StableDiffusionXLControlNetInpaintPipeline",
}


class ModelUnavailable(RuntimeError):
    """The model cannot be had (offline, missing file, unknown repo); the message says what to do."""


class UnsafeCheckpoint(ValueError):
    """A pickled checkpoint: loading it could run arbitrary code, so it is refused."""


def checkpoint_patterns(half_precision: bool) -> tuple[str, ...]:
    configs = ("model_index.json", "*/config.json", "scheduler/*.json", "tokenizer/*", "tokenizer_2/*")
    weights = ("*/*.fp16.safetensors",) if half_precision else ("*/diffusion_pytorch_model.safetensors", "*/model.safetensors")
    return configs + weights


class PipelineManager:
    def __init__(self, settings: Settings, policy: DevicePolicy | None = None):
        self.settings = settings
        self.policy = performance_policy.device_policy(policy or resolve_device(settings.device), settings.fast_path)
        self.memory_plan: performance_policy.MemoryPlan | None = None
        self.fast_path_applied: tuple[str, ...] = ()  # what the fast path did to the loaded pipeline
        self.warmup_seconds: float | None = None
        self._pipeline = None
        self._info: ModelInfo | None = None
        self._base_scheduler_config = None
        self.loras = LoadedLoras()
        self._derived: dict[tuple, object] = {}
        self._inpaint_unet = None  # the --inpaint-model UNet, loaded on first inpaint/outpaint (inpaint_unet())
        self._release_hooks: list[Callable[[], None]] = []
        self.inpaint_loras = performance_policy.make_lora_switcher(UnetLoras, settings.fast_path, self.policy.device)
        self.checkpoints = CheckpointLibrary.in_models_dir(settings.models_dir)

    @property
    def pipeline(self):
        if self._pipeline is None:
            raise RuntimeError("no model is loaded; call PipelineManager.load first")
        return self._pipeline

    @property
    def info(self) -> ModelInfo:
        if self._info is None:
            raise RuntimeError("no model is loaded; call PipelineManager.load first")
        return self._info

    @property
    def base_scheduler_config(self):
        """The checkpoint's own noise schedule, which every sampler is built on."""
        return self._base_scheduler_config

    def available_models(self) -> tuple[str, ...]:
        """The names a request's `model` may give (see `source_for`)."""
        return available_names(self.checkpoints, self.settings.model, self.info.name)

    def source_for(self, model: str) -> str:
        """What to load for a request's `model` (see `checkpoints.request_source`); InvalidRequest if none."""
        return request_source(model, self.checkpoints, self.settings.model, self.info)

    def info_for(self, model: str) -> ModelInfo:
        """The ModelInfo of the model a request names (its sizes and limits), known without loading it;
        InvalidRequest naming `model` if it is not available."""
        source = self.source_for(model)
        if source == self.info.source:
            return self.info
        return self._describe(source, self._has_random_weights(source))

    def load(self, source: str | None = None, field: str = "--model") -> ModelInfo:
        """Load `source` and make it the resident model. Errors name `field`: the command-line option by
        default, a request's `model` field (with the model's name, not its path) when a job switches.

        A switch from a loaded model never needs device memory for both: the new checkpoint is read into CPU
        memory first (a missing, broken or refused file fails here and the old model stays as it is), then the
        old model is taken off the device, and only then is the new one placed, sped up and warmed up. If that
        fails (out of memory, say), the old model is put back as it was and ModelUnavailable says why.
        """
        source = source or self.settings.model
        blame = self._blame(field, source)
        try:
            pipeline, random_weights = self._load_pipeline(source, blame)
        except (ModelUnavailable, UnsafeCheckpoint):
            raise
        except Exception as error:  # a broken or foreign file: say which, keep the cause for the log
            raise ModelUnavailable(f"{blame} could not be loaded as an SDXL checkpoint ({error})") from error
        pipeline.set_progress_bar_config(disable=True)
        if self.policy.device == "cuda":
            self._use_fp16_safe_vae(pipeline)
        info = self._describe(source, random_weights)
        placement = self._release_resident()
        try:
            plan, applied, warmup_seconds = self._place(pipeline, info)
        except Exception as error:
            if placement is None:  # the first load: nothing to go back to
                raise
            cause = f"{type(error).__name__}: {error}"
            self._discard(pipeline, error)
            del pipeline
            device_memory.free_memory()
            device_memory.restore_to_device(self._pipeline, placement)
            log.warning("could not place %s (%s); %s is loaded again", source, cause, self._info.name)
            raise ModelUnavailable(
                f"{blame} could not be placed on {self.policy.device} ({cause}); "
                f"'{self._info.name}' stays loaded"
            ) from error
        self._pipeline, self._info, self._derived = pipeline, info, {}
        self.memory_plan, self.fast_path_applied, self.warmup_seconds = plan, applied, warmup_seconds
        self.loras = performance_policy.make_lora_switcher(LoadedLoras, self.settings.fast_path, self.policy.device)
        self._base_scheduler_config = pipeline.scheduler.config
        device_memory.free_memory()  # the old model, if any, is referred to by nothing now
        log.info("loaded %s on %s (%s)", source, self.policy.device, self.policy.dtype_name)
        return self._info

    def read_checkpoint(self, source: str, field: str):
        """A checkpoint's pipeline read into CPU memory, neither placed nor made resident (the refiner's);
        errors name `field`."""
        blame = self._blame(field, source)
        try:
            pipeline, _random_weights = self._load_pipeline(source, blame)
        except (ModelUnavailable, UnsafeCheckpoint):
            raise
        except Exception as error:  # a broken or foreign file: say which, keep the cause for the log
            raise ModelUnavailable(f"{blame} could not be loaded as an SDXL checkpoint ({error})") from error
        pipeline.set_progress_bar_config(disable=True)
        return pipeline

    def add_release_hook(self, release: Callable[[], None]) -> None:
        """Register how to drop something built into the resident pipeline outside this manager (the
        IP-Adapters in its UNet); called before a model switch takes that pipeline off the device."""
        self._release_hooks.append(release)

    def _release_resident(self) -> device_memory.Placement | None:
        """Take the resident model off the device before another is placed: derived pipelines and what the
        release hooks drop go, its modules move to CPU memory. Returns where it was (None: nothing loaded)."""
        if self._pipeline is None:
            return None
        log.info("releasing %s from %s before placing the next model", self._info.name, self.policy.device)
        self._derived = {}  # they hold the old modules; rebuilt on first use
        for release in self._release_hooks:
            release()
        placement = device_memory.release_from_device(self._pipeline)
        device_memory.free_memory()
        return placement

    def _place(self, pipeline, info: ModelInfo):
        """Put a loaded pipeline on the device as the memory plan says, apply the fast path and warm up;
        returns (memory plan, fast-path switches applied, warm-up seconds or None)."""
        fast_path = self.settings.fast_path
        plan = performance_policy.place_pipeline(pipeline, self.policy.device, self.policy.dtype, self.settings.vram)
        _own_aligned_weights(pipeline)
        applied = performance_policy.apply_fast_path(pipeline, fast_path, self.policy.device)
        warmup_seconds = None
        if fast_path.applies_on(self.policy.device) and fast_path.warmup:
            warmup_seconds = performance_policy.warm_up(pipeline, info.default_size)
        return plan, applied, warmup_seconds

    @staticmethod
    def _discard(pipeline, error: BaseException) -> None:
        """Free the device memory a pipeline that failed to be placed took (it may be half placed)."""
        try:
            device_memory.release_from_device(pipeline)
        except Exception as cleanup_error:  # noqa: BLE001 - dropping every reference below frees it anyway
            log.warning("could not move the failed model off the device: %s", cleanup_error)
        traceback.clear_frames(error.__traceback__)  # the failed calls' frames still refer to the pipeline

    def _describe(self, source: str, random_weights: bool) -> ModelInfo:
        if random_weights:
            sizes, size_limit = TINY_NATIVE_SIZES, TINY_SIZE_LIMIT
        else:
            sizes, size_limit = SDXL_NATIVE_SIZES, SDXL_SIZE_LIMIT
        return ModelInfo(
            name=model_name(source, self.checkpoints),
            source=source,
            random_weights=random_weights,
            size_limit=size_limit,
            native_sizes=sizes,
            device=self.policy.device,
            dtype=self.policy.dtype_name,
        )

    def _blame(self, field: str, source: str) -> str:
        """How a loading error starts: a command-line option with what it was given ("--model x:"), or a
        request's field with the model's name, never a server path ("model: 'x'")."""
        if field.startswith("--"):
            return f"{field} {source}:"
        return f"{field}: '{model_name(source, self.checkpoints)}'"

    def _load_pipeline(self, source: str, blame: str):
        from studio import tiny

        if source == tiny.TINY_MODEL_NAME:
            folder = tiny.ensure_tiny_folder(self.settings.models_dir / "tiny-sdxl")
            return self._load_folder(folder), True
        path = self._local_path(source)
        if path.suffix.lower() in PICKLED_SUFFIXES:
            raise UnsafeCheckpoint(
                f"{blame} '{path.suffix}' checkpoints are pickled and can run code when loaded; "
                "convert it to .safetensors or use a diffusers folder"
            )
        if path.is_dir():
            return self._load_folder(path), tiny.is_tiny_folder(path)
        if path.is_file():
            if path.suffix.lower() != ".safetensors":
                raise ModelUnavailable(f"{blame} expected a .safetensors file or a diffusers folder")
            return self._load_single_file(path)
        if HUB_ID.match(source) and not source.startswith((".", "~")):
            return self._load_folder(self._download(source)), False
        raise ModelUnavailable(
            f"{blame} no such file or folder, no checkpoint of that name in {self.checkpoints.folder}, "
            "and not a hub repo id like 'org/name'"
        )

    def _local_path(self, source: str) -> Path:
        """The file or folder a source names: the path itself, else (a plain name) the library's checkpoint."""
        path = Path(source).expanduser()
        return path if path.exists() else self.checkpoints.find(source) or path

    def _has_random_weights(self, source: str) -> bool:
        """Whether a source holds the tiny random-weight model, told from its marker without loading it."""
        from studio import tiny

        if source == tiny.TINY_MODEL_NAME:
            return True
        path = self._local_path(source)
        if path.is_dir():
            return tiny.is_tiny_folder(path)
        try:
            return path.is_file() and tiny.is_tiny_single_file(path)
        except Exception:  # noqa: BLE001 - an unreadable file: loading it says why
            return False

    def _load_folder(self, folder: Path):
        from diffusers import StableDiffusionXLPipeline

        variant = "fp16" if self.policy.dtype_name == "float16" and any(Path(folder).glob("unet/*.fp16.safetensors")) else None
        return StableDiffusionXLPipeline.from_pretrained(
            folder,
            torch_dtype=self.policy.dtype,
            variant=variant,
            use_safetensors=True,
            local_files_only=True,
            add_watermarker=False,
        )

    def _load_single_file(self, path: Path):
        from studio import single_file, tiny
        from studio.sdxl_config import SDXL_CONFIG_DIR

        is_tiny = tiny.is_tiny_single_file(path)
        config_dir = tiny.write_tiny_config_dir(self.settings.models_dir / "tiny-sdxl-config") if is_tiny else SDXL_CONFIG_DIR
        return single_file.load_single_file_sdxl(path, self.policy.dtype, config_dir), is_tiny

    def _download(self, repo_id: str) -> Path:
        """Fetch a diffusers checkpoint from the hub into the models folder, with a progress bar."""
        half = self.policy.dtype_name == "float16"
        folder = self._snapshot(repo_id, "main", checkpoint_patterns(half))
        if half and not any(folder.glob("unet/*.safetensors")):
            folder = self._snapshot(repo_id, "main", checkpoint_patterns(False))  # the repo has no fp16 variant
        if not any(folder.glob("unet/*.safetensors")):
            raise ModelUnavailable(f"--model {repo_id}: the repo has no diffusers SDXL weights in safetensors format")
        return folder

    def _snapshot(self, repo_id: str, revision: str, patterns, local_copy: Path | None = None) -> Path:
        """The hub repo's files in the models folder, fetched if need be. Failing that, ModelUnavailable says
        how to get them: connect once, or (a registry model) copy them to `local_copy`, or (a checkpoint)
        start with --model pointing at one."""
        from huggingface_hub import snapshot_download

        try:
            return Path(
                snapshot_download(
                    repo_id,
                    revision=revision,
                    cache_dir=self.settings.models_dir / "hub",
                    allow_patterns=list(patterns),
                    local_files_only=self.settings.hub_offline,
                )
            )
        except Exception as error:  # every hub failure means the same thing to the user
            instead = (
                f"or copy its files into {local_copy}"
                if local_copy is not None
                else "or start with --model pointing at a local diffusers folder or .safetensors checkpoint"
            )
            raise ModelUnavailable(
                f"Could not get '{repo_id}' from the Hugging Face hub ({type(error).__name__}). "
                f"Connect once so it can be downloaded into --models-dir ({self.settings.models_dir}), {instead}."
            ) from error

    def pipeline_for(self, mode: str, controlnets: tuple = (), unet=None):
        """The resident pipeline, or one derived from it for another mode, with ControlNets or with another
        UNet (the inpainting one). Derived pipelines share every other loaded module (`from_pipe`): switching
        modes never loads weights again."""
        if mode == "txt2img" and not controlnets and unet is None:
            return self.pipeline
        import diffusers

        class_name = _PIPELINE_CLASSES[(mode, bool(controlnets))]
        key = (class_name, tuple(id(model) for model in controlnets), None if unet is None else id(unet))
        if key not in self._derived:
            extra = {} if unet is None else {"unet": unet}
            if controlnets:
                extra["controlnet"] = controlnets[0] if len(controlnets) == 1 else diffusers.MultiControlNetModel(list(controlnets))
            derived = getattr(diffusers, class_name).from_pipe(self.pipeline, **extra)
            derived.set_progress_bar_config(disable=True)
            self._derived[key] = derived
        return self._derived[key]

    def inpaint_unet(self):
        """The dedicated inpainting UNet of `--inpaint-model`, loaded once on first use and kept resident
        (the base model's text encoders and VAE serve it); None when none is configured."""
        if not self.settings.inpaint_model:
            return None
        if self._inpaint_unet is None:
            from studio.edit.inpaint_model import load_inpaint_unet

            self._inpaint_unet = load_inpaint_unet(self, self.settings.inpaint_model)
        return self._inpaint_unet

    def registry_file(self, model: registry.HubModel) -> Path:
        """A one-file registry model (e.g. a speed LoRA): a local copy in `<models-dir>/registry/` wins,
        else it is fetched from the hub (progress shown) into the models folder."""
        filename = model.allow_patterns[0]
        local = self.settings.models_dir / "registry" / model.repo_id.replace("/", "--") / filename
        if local.is_file():
            return local
        return self._snapshot(model.repo_id, model.revision, model.allow_patterns, local.parent) / filename

    def registry_folder(self, model: registry.HubModel) -> Path:
        """A multi-file registry model (ControlNet, IP-Adapter): the folder holding its `allow_patterns`
        (exact relative paths). A complete local copy in `<models-dir>/registry/<org--name>/` wins, else the
        files are fetched from the hub (progress shown) at the pinned revision into the models folder."""
        local = self.settings.models_dir / "registry" / model.repo_id.replace("/", "--")
        if all((local / pattern).is_file() for pattern in model.allow_patterns):
            return local
        return self._snapshot(model.repo_id, model.revision, model.allow_patterns, local)

    def _use_fp16_safe_vae(self, pipeline) -> None:
        """Swap in the fp16-fix VAE; if it cannot be had, decodes upcast to fp32 (see decode.py)."""
        from diffusers import AutoencoderKL

        if not pipeline.vae.config.force_upcast:
            return
        vae_model = registry.SDXL_VAE_FP16_FIX
        try:
            folder = self._snapshot(vae_model.repo_id, vae_model.revision, vae_model.allow_patterns)
            pipeline.vae = AutoencoderKL.from_pretrained(folder, torch_dtype=self.policy.dtype, use_safetensors=True)
        except (ModelUnavailable, OSError) as error:
            log.warning("fp16-fix VAE unavailable (%s); decoding in fp32 instead", error)


def _own_aligned_weights(pipeline) -> None:
    """Give every CPU weight its own aligned, contiguous memory.

    Weights memory-mapped from a safetensors file sit at whatever offset the file gives them, and converted
    single-file weights can be transposed views. CPU matmul kernels choose their path by alignment and
    layout, so the same values could give results differing in the last bit between a folder and a single
    file of one model; owned copies make every load of a model compute identically (and at full speed).
    """
    import torch

    for module in pipeline.components.values():
        if not isinstance(module, torch.nn.Module):
            continue
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.device.type == "cpu" and (tensor.data_ptr() % 64 or not tensor.is_contiguous()):
                tensor.data = tensor.data.clone(memory_format=torch.contiguous_format)
