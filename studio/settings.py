"""Start-up settings: paths, network and device policy. Built once from the command line, then frozen."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from studio.expansion.settings import ExpansionSettings
from studio.performance_policy import VRAM_MODES, FastPath
from studio.scaleout.options import RaySettings

DEFAULT_MODEL = "stabilityai/stable-diffusion-xl-base-1.0"
DEFAULT_PORT = 7865
DEVICE_CHOICES = ("auto", "cuda", "cpu")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
ALLOWED_HOST = re.compile(r"[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]")  # a name or IPv4 address, or [IPv6]; no port


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    model: str = DEFAULT_MODEL
    models_dir: Path = Path("models")
    output_dir: Path = Path("outputs")
    device: str = "auto"
    offline: bool = False
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    share: bool = False
    preset: str = ""  # the preset the UI starts with (its model is `model`)
    # The server's prompt-expansion setup (LLM endpoint, local model); requests only choose the mode.
    expansion: ExpansionSettings = field(default_factory=ExpansionSettings)
    # Who may use the studio (see studio.auth): (user, password) pairs and API bearer tokens.
    auth_users: tuple[tuple[str, str], ...] = ()
    api_tokens: tuple[str, ...] = ()
    insecure: bool = False  # allow --listen/--share without auth, explicitly
    cors_origins: tuple[str, ...] = ()  # exact origins allowed to call the API from a browser; never "*"
    # Names the server answers to besides the loopback ones and the --listen address (see studio.api_guards);
    # with --listen on all interfaces and none given, any name is answered.
    allowed_hosts: tuple[str, ...] = ()
    # GPU speed and memory (see studio.performance_policy): fast-path switches and the --vram plan.
    fast_path: FastPath = field(default_factory=FastPath)
    vram: str = "auto"
    # --inpaint-model: a dedicated SDXL inpainting UNet (folder, .safetensors or hub id); "" = the base model's.
    inpaint_model: str = ""
    # 17: --ray: run jobs on engine replicas of a Ray Serve deployment (studio.scaleout); None = in-process.
    ray: RaySettings | None = None
    # 18: --language: the page's language for every browser (en, zh-CN, zh-TW); "" = each browser's own
    language: str = ""

    def __post_init__(self):
        if self.device not in DEVICE_CHOICES:
            raise SettingsError(f"--device must be one of {', '.join(DEVICE_CHOICES)}, not '{self.device}'")
        if not 1 <= self.port <= 65535:
            raise SettingsError(f"--port must be between 1 and 65535, not {self.port}")
        if self.vram not in VRAM_MODES:
            raise SettingsError(f"--vram must be one of {', '.join(VRAM_MODES)}, not '{self.vram}'")
        if (self.host not in LOOPBACK_HOSTS or self.share) and not (self.auth_users or self.api_tokens) and not self.insecure:
            exposure = "--share" if self.share else f"--listen {self.host}"
            raise SettingsError(
                f"{exposure} would let anyone who can reach it use this studio; give --auth user:pass (or "
                "--auth-file), or add --insecure to serve without a password anyway"
            )
        if any(origin.strip() in ("*", "") or "*" in origin for origin in self.cors_origins):
            raise SettingsError("--cors-origin must name exact origins like https://example.com, never '*'")
        for name in self.allowed_hosts:
            if not ALLOWED_HOST.fullmatch(name):
                raise SettingsError(
                    f"--allowed-host must be a host name or IP address like studio.example.com, not '{name}'"
                )
        from studio.translations import LOCALES  # no gradio there

        if self.language and self.language not in LOCALES:
            raise SettingsError(f"--language must be one of {', '.join(LOCALES)}, not '{self.language}'")
        object.__setattr__(self, "models_dir", Path(self.models_dir).expanduser())
        object.__setattr__(self, "output_dir", Path(self.output_dir).expanduser())

    @property
    def hub_offline(self) -> bool:
        return self.offline or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class DevicePolicy:
    device: str
    dtype_name: str  # "float16" on CUDA, "float32" on CPU

    @property
    def dtype(self):
        import torch

        return getattr(torch, self.dtype_name)


def resolve_device(requested: str) -> DevicePolicy:
    """CUDA with fp16 where a GPU is present (or asked for), else CPU with fp32."""
    import torch

    if requested == "cuda" and not torch.cuda.is_available():
        raise SettingsError("--device cuda was asked for, but no CUDA GPU is available; use --device cpu or auto")
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        return DevicePolicy("cuda", "float16")
    return DevicePolicy("cpu", "float32")
