"""Tiny random-weight stand-ins for the Depth and Pose annotators (studio.registry DEPTH_ESTIMATOR,
POSE_ESTIMATOR and the Pose slot's PERSON_DETECTOR), in the real repos' file layout: `config.json`,
`model.safetensors` and `preprocessor_config.json`, so they load through the same `from_pretrained` code as
the real models.

Their outputs are arbitrary (random weights); tests use them to check plumbing, sizes and drawing.
"""

from __future__ import annotations

from pathlib import Path

import torch

COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)  # fmt: skip


def build_tiny_depth_model(seed: int = 21):
    """(DepthAnythingForDepthEstimation, DPTImageProcessor): a 4-layer, 16-wide DINOv2 backbone at 56x56."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTImageProcessor

    backbone = Dinov2Config(
        image_size=56,
        patch_size=14,
        hidden_size=16,
        num_hidden_layers=4,
        num_attention_heads=2,
        mlp_ratio=2,
        out_indices=[1, 2, 3, 4],
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        patch_size=14,
        reassemble_hidden_size=16,
        neck_hidden_sizes=[8, 8, 16, 16],
        fusion_hidden_size=8,
        head_hidden_size=8,
        depth_estimation_type="relative",
    )
    torch.manual_seed(seed)
    model = DepthAnythingForDepthEstimation(config).eval()
    with torch.no_grad():  # the default small init fades to ~1e-8 through the head; keep a visible signal
        for module in [*model.neck.modules(), *model.head.modules()]:
            if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                torch.nn.init.kaiming_normal_(module.weight)
    processor = DPTImageProcessor(
        size={"height": 56, "width": 56},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        resample=3,  # bicubic, as the real model's processor
        do_pad=False,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    return model, processor


# The final heatmap convolution's bias: every keypoint's peak then scores above the pose threshold, so the
# random model always "finds" a person (at arbitrary places) and the Pose slot's whole path runs in tests.
TINY_POSE_HEATMAP_BIAS = 2.0


def build_tiny_pose_model(seed: int = 22):
    """(VitPoseForPoseEstimation, VitPoseImageProcessor): a 2-layer, 32-wide ViT at 64x48, 17 COCO keypoints."""
    from transformers import VitPoseBackboneConfig, VitPoseConfig, VitPoseForPoseEstimation, VitPoseImageProcessor

    backbone = VitPoseBackboneConfig(
        image_size=[64, 48],
        patch_size=[16, 16],
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        mlp_ratio=2,
        out_indices=[2],
        out_features=["stage2"],
        stage_names=["stem", "stage1", "stage2"],
    )
    config = VitPoseConfig(
        backbone_config=backbone,
        use_simple_decoder=True,
        scale_factor=4,
        id2label=dict(enumerate(COCO_KEYPOINTS)),
        label2id={name: index for index, name in enumerate(COCO_KEYPOINTS)},
    )
    torch.manual_seed(seed)
    model = VitPoseForPoseEstimation(config).eval()
    with torch.no_grad():
        model.head.conv.bias.fill_(TINY_POSE_HEATMAP_BIAS)
    processor = VitPoseImageProcessor(size={"height": 64, "width": 48})
    return model, processor


# The first few COCO detection classes, "person" first as in the real detector's `config.id2label`.
TINY_DETECTOR_LABELS = ("person", "bicycle", "car")
# Biases of the detector's last class and box layers: every query then scores "person" above the detection
# threshold (sigmoid(3) = 0.95) with boxes a few times the anchors' size, so the random model always "finds"
# people (at arbitrary places) and the multi-person Pose path runs in tests and with `--model tiny`.
TINY_PERSON_LOGIT_BIAS = 3.0
TINY_BOX_SIZE_BIAS = 2.0


def build_tiny_person_detector(seed: int = 23):
    """(RTDetrForObjectDetection, RTDetrImageProcessor): a 4-stage, 8..32-wide ResNet backbone, a 16-wide
    one-layer hybrid encoder and decoder, 10 queries, at 64x64."""
    from transformers import RTDetrConfig, RTDetrForObjectDetection, RTDetrImageProcessor, RTDetrResNetConfig

    backbone = RTDetrResNetConfig(
        embedding_size=8,
        hidden_sizes=[8, 16, 24, 32],
        depths=[1, 1, 1, 1],
        layer_type="basic",
        out_features=["stage2", "stage3", "stage4"],  # strides 8, 16, 32, as the real R50vd
    )
    config = RTDetrConfig(
        backbone_config=backbone,
        encoder_in_channels=[16, 24, 32],
        encoder_hidden_dim=16,
        encoder_ffn_dim=32,
        encoder_attention_heads=2,
        d_model=16,
        decoder_in_channels=[16, 16, 16],
        decoder_ffn_dim=32,
        decoder_attention_heads=2,
        decoder_layers=1,
        decoder_n_points=2,
        num_queries=10,
        num_denoising=0,
        id2label=dict(enumerate(TINY_DETECTOR_LABELS)),
        label2id={name: index for index, name in enumerate(TINY_DETECTOR_LABELS)},
    )
    torch.manual_seed(seed)
    model = RTDetrForObjectDetection(config).eval()
    with torch.no_grad():
        model.model.decoder.class_embed[-1].bias[TINY_DETECTOR_LABELS.index("person")] = TINY_PERSON_LOGIT_BIAS
        model.model.decoder.bbox_embed[-1].layers[-1].bias[2:] = TINY_BOX_SIZE_BIAS  # (cx, cy, w, h) logits
    # The real processor's settings (resize to a square, rescale to 0..1, no normalisation), at 64x64.
    processor = RTDetrImageProcessor(size={"height": 64, "width": 64}, do_normalize=False, do_pad=False)
    return model, processor


TINY_BUILDERS = {"depth": build_tiny_depth_model, "pose": build_tiny_pose_model, "person": build_tiny_person_detector}


def save_tiny_annotator(folder: Path, kind: str) -> Path:
    """Write the tiny `kind` ("depth", "pose" or "person", the detector) model with safetensors weights and its
    processor config."""
    model, processor = TINY_BUILDERS[kind]()
    folder = Path(folder)
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    return folder
