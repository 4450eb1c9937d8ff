"""Where each downloadable model comes from: hub repo, files, revision and licence.

Pinning a revision keeps an image re-makeable after a repo changes upstream.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HubModel:
    repo_id: str
    revision: str
    licence: str
    # Files (glob patterns) to fetch; everything else in the repo is left on the hub.
    allow_patterns: tuple[str, ...]


SDXL_BASE = HubModel(
    repo_id="stabilityai/stable-diffusion-xl-base-1.0",
    revision="main",
    licence="CreativeML Open RAIL++-M",
    allow_patterns=(),  # a checkpoint's files depend on the dtype; see models.checkpoint_patterns
)

# The SDXL VAE fine-tuned to stay finite in fp16, so CUDA decodes need no fp32 upcast.
SDXL_VAE_FP16_FIX = HubModel(
    repo_id="madebyollin/sdxl-vae-fp16-fix",
    revision="main",
    licence="MIT",
    allow_patterns=("config.json", "diffusion_pytorch_model.safetensors"),
)

# The local prompt-expansion language model: GPT-2 (124M) fine-tuned on ~80k Stable Diffusion prompts.
# MIT licence (Fooocus's own expansion weights are non-commercial, so they are not used). Its `main` branch
# carries `model.safetensors` (added by the hub's safetensors converter, commit 71d441a, March 2023) next to
# the pickled `pytorch_model.bin`, which is never fetched.
PROMPT_EXPANSION_LM = HubModel(
    repo_id="Gustavosta/MagicPrompt-Stable-Diffusion",
    revision="main",
    licence="MIT",
    allow_patterns=(
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "vocab.json",
        "merges.txt",
        "added_tokens.json",
    ),
)

# 18: the local instruct expander and translator: Qwen2.5-0.5B-Instruct (494M params, 1 GB of bf16 safetensors),
# Apache-2.0, multilingual (29 languages, Chinese among the strongest), with a ChatML chat template in its
# tokenizer_config.json. Pinned to commit 7ae5576 so a seed keeps making the same expansion.
INSTRUCT_LM = HubModel(
    repo_id="Qwen/Qwen2.5-0.5B-Instruct",
    revision="7ae557604adf67be50417f59c2c2f167def9a775",
    licence="Apache-2.0",
    allow_patterns=(
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.json",
        "merges.txt",
    ),
)

# Speed LoRAs for the performance modes: fused or applied as adapters on the loaded base, never a reload.
LCM_LORA_SDXL = HubModel(
    repo_id="latent-consistency/lcm-lora-sdxl",
    revision="main",
    licence="OpenRAIL++-M",
    allow_patterns=("pytorch_lora_weights.safetensors",),
)
LIGHTNING_LORA_SDXL = HubModel(
    repo_id="ByteDance/SDXL-Lightning",
    revision="main",
    licence="OpenRAIL++-M",
    allow_patterns=("sdxl_lightning_4step_lora.safetensors",),
)
HYPER_SD_LORA_SDXL = HubModel(
    repo_id="ByteDance/Hyper-SD",
    revision="main",
    licence="see the repo's model card (ByteDance Hyper-SD); check it before commercial use",
    allow_patterns=("Hyper-SDXL-8steps-lora.safetensors",),
)
SPEED_LORAS = {"lcm": LCM_LORA_SDXL, "lightning": LIGHTNING_LORA_SDXL, "hyper-sd": HYPER_SD_LORA_SDXL}

# Image prompts (studio/control/). IP-Adapter Plus for SDXL with its ViT-H image encoder (OpenCLIP ViT-H/14,
# 632M), and the Plus-Face variant for FaceSwap: both read the same encoder's penultimate hidden states, so
# one encoder serves both. Apache-2.0. Plus-Face is chosen over FaceID because FaceID needs insightface
# (non-commercial model weights, an ONNX runtime) while Plus-Face only needs an aligned face crop.
IP_ADAPTER_SDXL = HubModel(
    repo_id="h94/IP-Adapter",
    revision="main",
    licence="Apache-2.0",
    allow_patterns=(
        "sdxl_models/ip-adapter-plus_sdxl_vit-h.safetensors",
        "sdxl_models/ip-adapter-plus-face_sdxl_vit-h.safetensors",
        "models/image_encoder/config.json",
        "models/image_encoder/model.safetensors",
    ),
)
IP_ADAPTER_PLUS_WEIGHTS = "ip-adapter-plus_sdxl_vit-h.safetensors"
IP_ADAPTER_FACE_WEIGHTS = "ip-adapter-plus-face_sdxl_vit-h.safetensors"

# ControlNets in the diffusers layout, fp16 weights (cast to the device's dtype when loaded).
# PyraCanny: the SDXL canny ControlNet; pinned to the commit that added the fp16 safetensors file.
CONTROLNET_CANNY_SDXL = HubModel(
    repo_id="diffusers/controlnet-canny-sdxl-1.0",
    revision="31a41df5e5e1a09cacc9266ff6f912dd2a5336db",
    licence="OpenRAIL++-M",
    allow_patterns=("config.json", "diffusion_pytorch_model.fp16.safetensors"),
)
# CPDS and Depth: the SDXL depth ControlNet. A CPDS map is a dense, smooth grayscale field (contrast-preserving
# luminance plus colour distance) like a depth map and unlike the sparse lines canny/softedge models expect, so
# the depth model follows its composition and pose without copying colours.
CONTROLNET_DEPTH_SDXL = HubModel(
    repo_id="diffusers/controlnet-depth-sdxl-1.0",
    revision="main",
    licence="OpenRAIL++-M",
    allow_patterns=("config.json", "diffusion_pytorch_model.fp16.safetensors"),
)

# The dedicated SDXL inpainting model (`--inpaint-model diffusers/stable-diffusion-xl-1.0-inpainting-0.1`): only
# its 9-channel UNet is fetched (fp16 weights, cast to the device's dtype); the base model's text encoders and
# VAE serve it.
SDXL_INPAINT = HubModel(
    repo_id="diffusers/stable-diffusion-xl-1.0-inpainting-0.1",
    revision="main",
    licence="CreativeML Open RAIL++-M",
    allow_patterns=("unet/config.json", "unet/diffusion_pytorch_model.fp16.safetensors"),
)

# The 4x model behind Upscale: RealESRGAN x4plus (RRDBNet, 23 blocks), the official weights converted to
# safetensors; BSD-3-Clause like the Real-ESRGAN release. Loaded with spandrel, which reads the key layout.
UPSCALER_4X = HubModel(
    repo_id="wkrettek/real-esrgan-models",
    revision="main",
    licence="BSD-3-Clause (Real-ESRGAN, Xintao Wang)",
    allow_patterns=("realesrgan_x4plus.safetensors",),
)

# Describe: BLIP large image captioning. `main` carries `model.safetensors` (hub safetensors converter, PR #18)
# next to the pickled `pytorch_model.bin`, which is never fetched. BSD-3-Clause.
CAPTIONER = HubModel(
    repo_id="Salesforce/blip-image-captioning-large",
    revision="main",
    licence="BSD-3-Clause",
    allow_patterns=(
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "processor_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "vocab.txt",
    ),
)
# Pose: an SDXL OpenPose ControlNet in the diffusers layout (safetensors). Fed by the OpenPose skeleton that
# POSE_ESTIMATOR's keypoints are drawn as, or by a ready pose map (skip preprocessing).
CONTROLNET_OPENPOSE_SDXL = HubModel(
    repo_id="xinsir/controlnet-openpose-sdxl-1.0",
    revision="main",
    licence="Apache-2.0",
    allow_patterns=("config.json", "diffusion_pytorch_model.safetensors"),
)

# Annotators that compute Depth and Pose maps (studio/control/annotators.py), loaded with transformers from
# safetensors. Depth: Depth Anything V2 Small (24.8M params, DINOv2-S + DPT head), the only Apache-2.0 size of
# V2 (Base/Large are CC-BY-NC-4.0); it predicts relative inverse depth, near = bright, the convention SDXL depth
# ControlNets were trained on. Pinned to commit 870a35c ("Fix yaml"); the later commit only edits the README.
DEPTH_ESTIMATOR = HubModel(
    repo_id="depth-anything/Depth-Anything-V2-Small-hf",
    revision="870a35c76c2bc1d82fbde922d95015496cb7dd6c",
    licence="Apache-2.0",
    allow_patterns=("config.json", "model.safetensors", "preprocessor_config.json"),
)
# Pose: ViTPose-B "simple" (COCO 17 body keypoints, top-down: run on each PERSON_DETECTOR box), drawn as an
# OpenPose skeleton for the OpenPose ControlNet. Chosen over controlnet-aux's OpenPose body model because those
# weights are CMU OpenPose's (non-commercial licence) and only published as a pickled `.pth`; ViTPose is
# Apache-2.0, ships safetensors and runs with transformers, which the studio already has.
POSE_ESTIMATOR = HubModel(
    repo_id="usyd-community/vitpose-base-simple",
    revision="f6e1613793fc8a9220d857bdc4b9fc23f79eafe9",
    licence="Apache-2.0",
    allow_patterns=("config.json", "model.safetensors", "preprocessor_config.json"),
)
# Pose, first step: the people detector. ViTPose is top-down (one person per box), so a photo of several people
# is first split into person boxes, as transformers' ViTPose documentation does, with the detector it uses there:
# RT-DETR R50vd (~42M params, Objects365 pre-training then COCO; COCO's 80 classes, "person" among them).
# Apache-2.0, ships safetensors and runs with transformers' own `RTDetrForObjectDetection` (end to end, no NMS
# step, no extra package), where the popular YOLO person detectors are AGPL-3.0 and need ultralytics.
# Pinned to commit 457857c ("Update Model Card (#4)"), which carries the corrected config.json (#1).
PERSON_DETECTOR = HubModel(
    repo_id="PekingU/rtdetr_r50vd_coco_o365",
    revision="457857cec8ac28ddede40ecee9eed2beca321af8",
    licence="Apache-2.0",
    allow_patterns=("config.json", "model.safetensors", "preprocessor_config.json"),
)

# Masks from words and Enhance (studio/segment/): a text-prompted detector finds boxes for a phrase, a segmenter
# turns each box into a mask. Grounding DINO tiny (Swin-T + BERT, 172M params; Apache-2.0), loaded with
# transformers' GroundingDinoForObjectDetection, and SAM ViT-B (94M params; Apache-2.0) with SamModel. Both ship
# `model.safetensors` next to pickled weights, which are never fetched. Pinned to the commits other projects pin
# (IDEA-Research/grounding-dino-tiny a2bb814, facebook/sam-vit-base 70c1a07).
TEXT_DETECTOR = HubModel(
    repo_id="IDEA-Research/grounding-dino-tiny",
    revision="a2bb814dd30d776dcf7e30523b00659f4f141c71",
    licence="Apache-2.0",
    allow_patterns=(
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.txt",
    ),
)
SEGMENTER = HubModel(
    repo_id="facebook/sam-vit-base",
    revision="70c1a07f894ebb5b307fd9eaaee97b9dfc16068f",
    licence="Apache-2.0",
    allow_patterns=("config.json", "model.safetensors", "preprocessor_config.json"),
)
