"""Single-file SDXL checkpoints: offline tokenizers, shipped configs, original-layout export and offline loading."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from studio.clip_tokenizer import (
    CLIP_VOCAB_SIZE,
    build_vocab_and_merges,
    load_clip_tokenizers,
    write_clip_tokenizer_files,
)
from studio.sdxl_config import SDXL_CONFIG_DIR, sdxl_scheduler_config
from studio.single_file import (
    is_sdxl_single_file,
    load_single_file_sdxl,
    read_single_file_metadata,
    sdxl_to_original_state_dict,
    write_single_file_sdxl,
)
from studio.tiny import (
    build_tiny_sdxl,
    is_tiny_single_file,
    save_tiny_single_file,
    write_tiny_config_dir,
)

COMPONENTS = ("unet", "vae", "text_encoder", "text_encoder_2")


# --- tokenizers -------------------------------------------------------------------------------------------------


def test_tokenizers_match_sdxl_base_ids():
    tokenizer, tokenizer_2 = load_clip_tokenizers()
    for tok in (tokenizer, tokenizer_2):
        assert tok("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
        assert len(tok) == CLIP_VOCAB_SIZE
        assert tok.model_max_length == 77
        assert tok.bos_token_id == 49406 and tok.eos_token_id == 49407
        # lower-casing, whitespace clean-up and word-final merges as in CLIP
        assert tok("A  PHOTO of a Cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
        assert tok.decode(tok("a photo of a cat").input_ids, skip_special_tokens=True) == "a photo of a cat"
    # the two SDXL tokenizers differ only in padding: "<|endoftext|>" (49407) vs "!" (0)
    assert tokenizer.pad_token == "<|endoftext|>" and tokenizer.pad_token_id == 49407
    assert tokenizer_2.pad_token == "!" and tokenizer_2.pad_token_id == 0
    padded = tokenizer_2("a cat", padding="max_length", max_length=77, truncation=True).input_ids
    assert padded[:4] == [49406, 320, 2368, 49407] and padded[4:] == [0] * 73
    long = tokenizer("cat " * 200, padding="max_length", max_length=77, truncation=True).input_ids
    assert len(long) == 77 and long[0] == 49406 and long[-1] == 49407


def test_tokenizer_calls_return_independent_objects():
    a, _ = load_clip_tokenizers()
    a.add_tokens(["<my-concept>"])
    b, _ = load_clip_tokenizers()
    assert len(a) == CLIP_VOCAB_SIZE + 1 and len(b) == CLIP_VOCAB_SIZE


def test_tokenizer_files_written_once_in_hf_layout(tmp_path):
    folder = write_clip_tokenizer_files(tmp_path / "tok")
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    merges = (folder / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert len(vocab) == CLIP_VOCAB_SIZE and vocab["!"] == 0 and vocab["cat</w>"] == 2368
    assert vocab["<|startoftext|>"] == 49406 and vocab["<|endoftext|>"] == 49407
    assert merges[0] == "#version: 0.2" and len(merges) - 1 == 49152 - 256 - 2
    assert build_vocab_and_merges()[0] == vocab
    mtime = (folder / "vocab.json").stat().st_mtime_ns
    write_clip_tokenizer_files(folder)
    assert (folder / "vocab.json").stat().st_mtime_ns == mtime
    assert sorted(p.name for p in folder.iterdir()) == ["merges.txt", "vocab.json"]  # no temp files left
    a, _ = load_clip_tokenizers(folder)
    assert a("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]


# --- shipped SDXL configs ---------------------------------------------------------------------------------------


def test_shipped_configs_build_full_size_sdxl_on_meta():
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    index = json.loads((SDXL_CONFIG_DIR / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionXLPipeline"
    assert index["text_encoder_2"] == ["transformers", "CLIPTextModelWithProjection"]
    assert not any(SDXL_CONFIG_DIR.rglob("*.safetensors")) and not any(SDXL_CONFIG_DIR.rglob("vocab.json"))

    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(SDXL_CONFIG_DIR / "unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(SDXL_CONFIG_DIR / "vae"))
        te = CLIPTextModel(CLIPTextConfig.from_pretrained(SDXL_CONFIG_DIR / "text_encoder"))
        te2 = CLIPTextModelWithProjection(CLIPTextConfig.from_pretrained(SDXL_CONFIG_DIR / "text_encoder_2"))

    def count(model):
        return sum(p.numel() for p in model.parameters())

    assert count(unet) == pytest.approx(2.567e9, rel=1e-3)  # 2,567,463,684
    assert count(vae) == pytest.approx(83.65e6, rel=1e-3)
    assert count(te) == pytest.approx(123.06e6, rel=1e-3)
    assert count(te2) == pytest.approx(694.66e6, rel=1e-3)
    assert unet.config.cross_attention_dim == te.config.hidden_size + te2.config.hidden_size == 2048
    assert unet.config.projection_class_embeddings_input_dim == te2.config.projection_dim + 6 * 256
    assert vae.config.scaling_factor == 0.13025 and vae.config.force_upcast is True
    assert te.config.hidden_act == "quick_gelu" and te2.config.hidden_act == "gelu"

    scheduler = EulerDiscreteScheduler.from_config(sdxl_scheduler_config())
    assert scheduler.config.timestep_spacing == "leading" and scheduler.config.steps_offset == 1
    assert scheduler.config.beta_schedule == "scaled_linear"
    assert (scheduler.config.beta_start, scheduler.config.beta_end) == (0.00085, 0.012)
    scheduler.set_timesteps(30)
    assert scheduler.timesteps[0].item() == 958  # "leading": 29 * (1000 // 30) + steps_offset

    # The export mapping names full-size SDXL tensors as real checkpoints do ...
    original = sdxl_to_original_state_dict(SimpleNamespace(unet=unet, vae=vae, text_encoder=te, text_encoder_2=te2))
    expected_shapes = {
        "model.diffusion_model.input_blocks.6.0.op.weight": (640, 640, 3, 3),
        "model.diffusion_model.input_blocks.8.1.transformer_blocks.9.attn2.to_k.weight": (1280, 2048),
        "model.diffusion_model.middle_block.1.transformer_blocks.9.attn1.to_q.weight": (1280, 1280),
        "model.diffusion_model.output_blocks.2.2.conv.weight": (1280, 1280, 3, 3),
        "model.diffusion_model.output_blocks.5.2.conv.weight": (640, 640, 3, 3),
        "model.diffusion_model.output_blocks.8.0.skip_connection.weight": (320, 640, 1, 1),
        "model.diffusion_model.label_emb.0.0.weight": (1280, 2816),
        "first_stage_model.encoder.mid.attn_1.q.weight": (512, 512, 1, 1),
        "first_stage_model.decoder.up.3.upsample.conv.weight": (512, 512, 3, 3),
        "first_stage_model.decoder.up.0.block.0.nin_shortcut.weight": (128, 256, 1, 1),
        "conditioner.embedders.0.transformer.text_model.encoder.layers.11.self_attn.q_proj.weight": (768, 768),
        "conditioner.embedders.1.model.transformer.resblocks.31.attn.in_proj_weight": (3840, 1280),
        "conditioner.embedders.1.model.text_projection": (1280, 1280),
        "conditioner.embedders.1.model.positional_embedding": (77, 1280),
    }
    assert {k: tuple(original[k].shape) for k in expected_shapes} == expected_shapes
    assert "first_stage_model.decoder.up.0.upsample.conv.weight" not in original
    assert "model.diffusion_model.output_blocks.8.2.conv.weight" not in original

    # ... and diffusers' own single-file converters map every one of them back to the diffusers names.
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint

    back = convert_ldm_unet_checkpoint(original, unet.config)
    assert {k: v.shape for k, v in back.items()} == {k: v.shape for k, v in unet.state_dict().items()}
    back = convert_ldm_vae_checkpoint(original, vae.config)
    assert {k: v.shape for k, v in back.items()} == {k: v.shape for k, v in vae.state_dict().items()}


# --- single-file round trip -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_single_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("single_file")
    path = save_tiny_single_file(folder / "tiny-sdxl.safetensors")
    config_dir = write_tiny_config_dir(folder / "tiny-config")
    return path, config_dir


@pytest.fixture(scope="module")
def loaded_pipe(tiny_single_file):
    path, config_dir = tiny_single_file
    return load_single_file_sdxl(path, torch.float32, config_dir=config_dir)


def test_tiny_single_file_is_original_layout_and_marked(tiny_single_file):
    from safetensors import safe_open

    path, config_dir = tiny_single_file
    assert sorted(p.name for p in path.parent.iterdir()) == ["tiny-config", "tiny-sdxl.safetensors"]  # no temp files
    assert read_single_file_metadata(path)["studio_tiny"] == "1"
    assert is_tiny_single_file(path) and is_sdxl_single_file(path)
    with safe_open(str(path), framework="pt") as f:
        keys = set(f.keys())
        assert tuple(f.get_tensor("conditioner.embedders.1.model.text_projection").shape) == (48, 32)
    prefixes = ("model.diffusion_model.", "first_stage_model.", "conditioner.embedders.0.transformer.text_model.",
                "conditioner.embedders.1.model.")
    assert all(k.startswith(prefixes) for k in keys)
    assert all(any(k.startswith(p) for k in keys) for p in prefixes)
    assert not any(".resnets." in k or "down_blocks" in k or "q_proj" in k and "embedders.1" in k for k in keys)
    assert not (config_dir / "unet" / "diffusion_pytorch_model.safetensors").exists()
    assert json.loads((config_dir / "unet" / "config.json").read_text())["cross_attention_dim"] == 80


def test_loaded_single_file_has_identical_weights(loaded_pipe):
    reference = build_tiny_sdxl()
    for name in COMPONENTS:
        expected = getattr(reference, name).state_dict()
        got = getattr(loaded_pipe, name).state_dict()
        assert set(got) == set(expected), name
        for key, tensor in expected.items():
            assert got[key].dtype == tensor.dtype and torch.equal(got[key], tensor), f"{name}.{key}"
    assert type(loaded_pipe.scheduler).__name__ == "EulerDiscreteScheduler"
    assert loaded_pipe.tokenizer_2.pad_token == "!" and loaded_pipe.watermark is None


def test_loaded_single_file_generates_identical_pixels(loaded_pipe):
    reference = build_tiny_sdxl()
    kwargs = dict(prompt="a photo of a cat", num_inference_steps=2, height=64, width=64, output_type="np")
    want = reference(generator=torch.Generator("cpu").manual_seed(1), **kwargs).images
    got = loaded_pipe(generator=torch.Generator("cpu").manual_seed(1), **kwargs).images
    assert want.shape == (1, 64, 64, 3) and float(want.std()) > 0
    assert np.array_equal(want, got)


def test_write_single_file_rejects_bad_input(tmp_path):
    pipe = SimpleNamespace()
    with pytest.raises(ValueError):
        write_single_file_sdxl(pipe, tmp_path / "model.ckpt")
    with pytest.raises(ValueError):
        load_single_file_sdxl(tmp_path / "model.ckpt")
    with pytest.raises(FileNotFoundError):
        load_single_file_sdxl(tmp_path / "missing.safetensors")


def test_write_single_file_half_precision_and_metadata(tmp_path):
    path = write_single_file_sdxl(build_tiny_sdxl(), tmp_path / "half.safetensors", metadata={"title": "t"},
                                  dtype=torch.float16)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        assert f.metadata()["title"] == "t"
        assert {f.get_slice(k).get_dtype() for k in f.keys()}  # noqa: SIM118 (a safe_open handle is not a dict) == {"F16"}
    assert not is_tiny_single_file(path)
