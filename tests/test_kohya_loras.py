"""Issue 15 part C: LoRAs in kohya's real SDXL naming (`lora_unet_input_blocks_4_1_...`, `lora_te1_text_model_...`,
`lora_te2_...`, with alpha) load through the studio's LoRA loading onto every module they name, honour alpha,
and each part (UNet, first and second text encoder) changes the picture."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from safetensors.torch import load_file

from studio.lora_adapters import file_key
from studio.tiny import build_tiny_sdxl
from studio.tiny.kohya import kohya_targets, save_kohya_sdxl_lora, sgm_unet_name
from studio.types import LoraWeight


@pytest.fixture(scope="module")
def kohya_loras(tiny_services):
    folder = tiny_services.engine.libraries.loras.folder
    files = {part: save_kohya_sdxl_lora(folder / f"kohya-sdxl-{part}.safetensors", parts=(part,), seed=11) for part in ("unet", "te1", "te2")}
    files["all"] = save_kohya_sdxl_lora(folder / "kohya-sdxl-all.safetensors", seed=12)
    # alpha scales the change by alpha / rank: half the alpha with twice the up weights is the same LoRA
    files["alpha-2"] = save_kohya_sdxl_lora(folder / "kohya-sdxl-alpha-2.safetensors", seed=12, alpha=2.0)
    files["alpha-1-up-2"] = save_kohya_sdxl_lora(folder / "kohya-sdxl-alpha-1-up-2.safetensors", seed=12, alpha=1.0, up_scale=2.0)
    files["alpha-1"] = save_kohya_sdxl_lora(folder / "kohya-sdxl-alpha-1.safetensors", seed=12, alpha=1.0)
    return files


def pixels(services, request) -> np.ndarray:
    return np.asarray(services.engine.run(request).images[0].image).astype(int)


def test_the_names_are_sdxls_real_kohya_names(tiny_services, kohya_loras):
    assert sgm_unet_name("down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q", 2) == (
        "input_blocks.4.1.transformer_blocks.0.attn1.to_q"
    )  # SDXL's own: its second down block's first attention is input block 4
    assert sgm_unet_name("up_blocks.0.attentions.2.proj_out", 2) == "output_blocks.2.1.proj_out"
    assert sgm_unet_name("mid_block.attentions.0.transformer_blocks.1.attn2.to_k", 2) == (
        "middle_block.1.transformer_blocks.1.attn2.to_k"
    )
    keys = set(load_file(str(kohya_loras["all"])))
    for key in (
        "lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q.lora_down.weight",
        "lora_unet_input_blocks_5_1_transformer_blocks_1_attn2_to_out_0.lora_up.weight",
        "lora_unet_middle_block_1_transformer_blocks_0_attn1_to_v.alpha",
        "lora_unet_output_blocks_0_1_transformer_blocks_0_attn2_to_k.lora_down.weight",
        "lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight",
        "lora_te2_text_model_encoder_layers_0_self_attn_q_proj.alpha",
    ):
        assert key in keys, key


def test_every_named_module_gets_the_adapter(tiny_services, tiny_request, kohya_loras):
    """Nothing in the file is silently dropped: each part's adapter sits on exactly the modules it names."""
    engine = tiny_services.engine
    engine.run(replace(tiny_request, loras=(LoraWeight("kohya-sdxl-all", 1.0),)))
    pipeline = engine.manager.pipeline
    adapter = engine.manager.loras._adapter_names[file_key(kohya_loras["all"])]
    assert adapter is not None
    stems = [key.removesuffix(".alpha") for key in load_file(str(kohya_loras["all"])) if key.endswith(".alpha")]
    for part, model in (("unet", pipeline.unet), ("te1", pipeline.text_encoder), ("te2", pipeline.text_encoder_2)):
        adapted = [module for module in model.modules() if adapter in getattr(module, "lora_A", {})]
        named = [stem for stem in stems if stem.startswith(f"lora_{part}_")]
        assert len(adapted) == len(named) == len(kohya_targets(build_tiny_sdxl(), part)) > 0, part


@pytest.mark.parametrize("part", ["unet", "te1", "te2"])
def test_each_part_changes_the_picture_and_weight_zero_restores_it(tiny_services, tiny_request, kohya_loras, part):
    base = pixels(tiny_services, tiny_request)
    name = f"kohya-sdxl-{part}"
    adapted = pixels(tiny_services, replace(tiny_request, loras=(LoraWeight(name, 1.0),)))
    assert np.abs(adapted - base).mean() > 0.5, f"the {part} part had no visible effect"
    assert np.array_equal(pixels(tiny_services, replace(tiny_request, loras=(LoraWeight(name, 0.0),))), base)


def test_alpha_scales_the_lora(tiny_services, tiny_request, kohya_loras):
    def with_lora(name):
        return pixels(tiny_services, replace(tiny_request, loras=(LoraWeight(name, 1.0),)))

    full, same_change, half = with_lora("kohya-sdxl-alpha-2"), with_lora("kohya-sdxl-alpha-1-up-2"), with_lora("kohya-sdxl-alpha-1")
    assert np.abs(full - same_change).max() <= 1, "alpha 1 with doubled up weights is alpha 2's change"
    assert np.abs(full - half).mean() > 0.5, "halving alpha halves the change"
