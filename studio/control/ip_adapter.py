"""IP-Adapter Plus (ImagePrompt) and Plus-Face (FaceSwap) on the resident SDXL UNet (and the inpainting UNet).

Both adapters are loaded once with diffusers' `load_ip_adapter` (safetensors from the registry) and their
image tokens are fed as precomputed `ip_adapter_image_embeds`, so every pipeline derived with `from_pipe`
(ControlNet, img2img, inpaint) uses them without its own image encoder. The ViT-H image encoder's
penultimate hidden states are what Plus adapters read; the unconditional embedding is that of a black image.

diffusers gives each adapter one scale shared by all its images; here every slot keeps its own weight and
stop-at, so the loaded IP attention processors are wrapped in `SlotAttnProcessor`, which attends to each
image separately and adds it with that image's scale (0 skips it). A request without image-prompt slots runs
with the UNet's original processors and no image projection: exactly the plain text-to-image computation.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from studio import registry

ADAPTER_TYPES = ("ImagePrompt", "FaceSwap")  # adapter index 0 and 1, in load order
ADAPTER_WEIGHTS = (registry.IP_ADAPTER_PLUS_WEIGHTS, registry.IP_ADAPTER_FACE_WEIGHTS)
ADAPTER_SUBFOLDER = "sdxl_models"
IMAGE_ENCODER_FOLDER = "models/image_encoder"
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
EMBED_CACHE_SIZE = 16


class SlotAttnProcessor(torch.nn.Module):
    """Cross-attention plus IP-Adapter image attention with one scale per image (per slot).

    Holds the adapter's own `to_k_ip`/`to_v_ip` layers (no copy) and the processor it replaced (`plain`),
    which is put back when no slot is active."""

    def __init__(self, to_k_ip: torch.nn.ModuleList, to_v_ip: torch.nn.ModuleList, plain):
        super().__init__()
        self.to_k_ip = to_k_ip
        self.to_v_ip = to_v_ip
        self.plain = plain
        self.scales: list[list[float]] = [[] for _ in to_k_ip]  # per adapter, per image

    def __call__(
        self,
        attn,
        hidden_states,
        encoder_hidden_states=None,
        attention_mask=None,
        temb=None,
        scale=1.0,
        ip_adapter_masks=None,
    ):
        image_states = []
        if isinstance(encoder_hidden_states, tuple):
            encoder_hidden_states, image_states = encoder_hidden_states
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channel, height * width).transpose(1, 2)
        batch_size, sequence_length, _ = (
            hidden_states.shape if encoder_hidden_states is None else encoder_hidden_states.shape
        )
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, sequence_length, batch_size)
            attention_mask = attention_mask.view(batch_size, attn.heads, -1, attention_mask.shape[-1])
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        if encoder_hidden_states is None:
            encoder_hidden_states = hidden_states
        elif attn.norm_cross:
            encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)
        key = attn.to_k(encoder_hidden_states)
        value = attn.to_v(encoder_hidden_states)
        head_dim = key.shape[-1] // attn.heads
        query = query.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)

        def attend(k, v, mask=None):
            k = k.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
            v = v.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
            out = F.scaled_dot_product_attention(query, k, v, attn_mask=mask, dropout_p=0.0, is_causal=False)
            return out.transpose(1, 2).reshape(batch_size, -1, attn.heads * head_dim).to(query.dtype)

        hidden_states = attend(key, value, attention_mask)
        for states, scales, to_k, to_v in zip(image_states, self.scales, self.to_k_ip, self.to_v_ip):
            if states.ndim == 3:  # one image: (batch, tokens, width)
                states = states[:, None]
            for index, image_scale in enumerate(scales):
                if image_scale:
                    tokens = states[:, index]
                    hidden_states = hidden_states + image_scale * attend(to_k(tokens), to_v(tokens))

        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch, channel, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


def deactivate(unet) -> None:
    """Put the UNet back to plain text conditioning (idempotent; works whoever activated the adapters)."""
    processors = unet.attn_processors
    if any(isinstance(p, SlotAttnProcessor) for p in processors.values()):
        unet.set_attn_processor(
            {name: p.plain if isinstance(p, SlotAttnProcessor) else p for name, p in processors.items()}
        )
    if getattr(unet.config, "encoder_hid_dim_type", None) == "ip_image_proj":
        unet.encoder_hid_proj = None
        unet.config.encoder_hid_dim_type = None


def set_scales(unet, scales: list[list[float]]) -> None:
    for processor in unet.attn_processors.values():
        if isinstance(processor, SlotAttnProcessor):
            processor.scales = [list(s) for s in scales]


def active_scales(slots: list[tuple[float, float]], step: int, total: int) -> list[float]:
    """Each (weight, stop_at) slot's scale at `step` (0-based) of `total`: on while (step + 1) / total <=
    stop_at, the rule diffusers applies to a ControlNet's `control_guidance_end`."""
    return [weight if (step + 1) / max(total, 1) <= stop else 0.0 for weight, stop in slots]


class IpAdapters:
    """Loads the adapters into each UNet that samples with them (the base model's, and the `--inpaint-model`
    UNet for inpaints on it) once, and turns slots into embeddings and scales. The image encoder and its
    embeddings are shared by every UNet."""

    def __init__(self, folder_for: Callable[[registry.HubModel], Path]):
        self._folder_for = folder_for
        # id(unet) -> (unet, its slot processors, its image projection)
        self._loaded: dict[int, tuple[torch.nn.Module, dict, torch.nn.Module]] = {}
        self.encoder = None
        self._embeds: OrderedDict = OrderedDict()

    @property
    def unets(self) -> tuple:
        """The UNets the adapters are loaded into."""
        return tuple(unet for unet, _processors, _projection in self._loaded.values())

    def _load(self, pipeline) -> None:
        from diffusers.models.attention_processor import IPAdapterAttnProcessor, IPAdapterAttnProcessor2_0
        from transformers import CLIPVisionModelWithProjection

        unet = pipeline.unet
        deactivate(unet)
        folder = self._folder_for(registry.IP_ADAPTER_SDXL)
        plain = dict(unet.attn_processors)
        pipeline.load_ip_adapter(
            str(folder), subfolder=ADAPTER_SUBFOLDER, weight_name=list(ADAPTER_WEIGHTS), image_encoder_folder=None
        )
        loaded = unet.attn_processors
        slot_processors = {
            name: SlotAttnProcessor(p.to_k_ip, p.to_v_ip, plain[name])
            if isinstance(p, (IPAdapterAttnProcessor, IPAdapterAttnProcessor2_0))
            else plain.get(name, p)
            for name, p in loaded.items()
        }
        self._loaded[id(unet)] = (unet, slot_processors, unet.encoder_hid_proj)
        if self.encoder is None:
            self.encoder = (
                CLIPVisionModelWithProjection.from_pretrained(
                    folder / IMAGE_ENCODER_FOLDER, torch_dtype=unet.dtype, use_safetensors=True, local_files_only=True
                )
                .to(unet.device)
                .eval()
            )
        # load_ip_adapter installed its own processors: go back to plain until a request activates.
        unet.encoder_hid_proj = None
        unet.config.encoder_hid_dim_type = None
        unet.set_attn_processor(plain)

    def release(self) -> None:
        """Forget the adapters loaded into every UNet (the PipelineManager calls this before a model switch
        takes the resident UNet off the device): their attention goes back to plain, and the adapter layers,
        the image encoder and cached embeddings are dropped. `activate` loads them into the next UNet it meets."""
        for unet in self.unets:
            deactivate(unet)
        self._loaded = {}
        self.encoder = None
        self._embeds.clear()

    def activate(self, pipeline) -> None:
        """Turn the adapters on in `pipeline`'s UNet (loading them into it first if it is new to them)."""
        unet = pipeline.unet
        if unet not in self.unets:
            with torch.inference_mode(False), torch.no_grad():
                self._load(pipeline)
        _unet, slot_processors, projection = self._loaded[id(unet)]
        unet.encoder_hid_proj = projection
        unet.config.encoder_hid_dim_type = "ip_image_proj"
        unet.set_attn_processor(dict(slot_processors))

    def _pixels(self, image: Image.Image) -> torch.Tensor:
        """CLIP preprocessing: shortest side to the encoder's size (bicubic), centre crop, normalise."""
        size = self.encoder.config.image_size
        image = image.convert("RGB")
        scale = size / min(image.size)
        image = image.resize(
            (max(size, round(image.width * scale)), max(size, round(image.height * scale))), Image.BICUBIC
        )
        left, top = (image.width - size) // 2, (image.height - size) // 2
        array = np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.float32) / 255.0
        array = (array - np.array(CLIP_MEAN, np.float32)) / np.array(CLIP_STD, np.float32)
        return torch.from_numpy(array).permute(2, 0, 1)[None].to(self.encoder.device, self.encoder.dtype)

    def embed(self, key: str, image: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
        """(conditional, unconditional) penultimate-layer tokens of one image, cached by `key`."""
        if key in self._embeds:
            self._embeds.move_to_end(key)
            return self._embeds[key]
        pixels = self._pixels(image)
        cond = self.encoder(pixels, output_hidden_states=True).hidden_states[-2]
        uncond = self.encoder(torch.zeros_like(pixels), output_hidden_states=True).hidden_states[-2]
        self._embeds[key] = (cond, uncond)
        while len(self._embeds) > EMBED_CACHE_SIZE:
            self._embeds.popitem(last=False)
        return cond, uncond

    def image_embeds(
        self, per_adapter: list[list[tuple[torch.Tensor, torch.Tensor]]], guidance: bool
    ) -> list[torch.Tensor]:
        """`ip_adapter_image_embeds` for the pipeline: per adapter (batch, images, tokens, width), the
        unconditional half first under classifier-free guidance. An adapter with no slot gets one zero image
        (its scale stays 0, so it is never attended to)."""
        embeds = []
        for pairs in per_adapter:
            if not pairs:
                zero = torch.zeros_like(self.embed_template())
                pairs = [(zero, zero)]
            cond = torch.stack([c[0] for c, _ in pairs])[None]
            uncond = torch.stack([u[0] for _, u in pairs])[None]
            embeds.append(torch.cat([uncond, cond]) if guidance else cond)
        return embeds

    def embed_template(self) -> torch.Tensor:
        config = self.encoder.config
        tokens = (config.image_size // config.patch_size) ** 2 + 1
        return torch.zeros(1, tokens, config.hidden_size, device=self.encoder.device, dtype=self.encoder.dtype)
