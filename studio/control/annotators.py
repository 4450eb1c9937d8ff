"""Annotators that compute a control map with a model: Depth (Depth Anything V2 Small) and Pose (ViTPose-B,
drawn as an OpenPose skeleton). Both come from the hub through the registry at a pinned revision, as
safetensors, and load with transformers' `from_pretrained` (no pickle); a random-weights base gets tiny
stand-ins in the same layout (see `ImagePromptStage.folder_for`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from studio import registry
from studio.control.pose_drawing import pose_map

# An input whose every channel varies less than this (0..255) has no structure, so no depth cue: its map is
# all black, like PyraCanny's and CPDS's maps of a flat image, instead of a stretched model artefact.
FLAT_IMAGE_STD = 2.0


class AnnotatorUnavailable(RuntimeError):
    """A Depth or Pose map was asked of code that has no annotator models (e.g. a preview without them)."""


def is_flat(image: Image.Image) -> bool:
    rgb = np.asarray(image.convert("RGB"), np.float32)
    return float(rgb.reshape(-1, 3).std(axis=0).max()) < FLAT_IMAGE_STD


def normalise_depth(depth: np.ndarray) -> Image.Image:
    """Relative depth (larger = nearer, as Depth Anything predicts disparity) stretched min..max to 0..255,
    as an RGB map with three equal channels: near is bright, as SDXL depth ControlNets expect."""
    depth = np.asarray(depth, np.float32)
    low, high = float(depth.min()), float(depth.max())
    values = np.zeros_like(depth) if high - low < 1e-12 else (depth - low) / (high - low) * 255.0
    gray = np.clip(np.round(values), 0, 255).astype(np.uint8)
    return Image.fromarray(np.stack([gray] * 3, axis=-1), "RGB")


class Annotators:
    """The Depth and Pose models, each loaded on first use from its registry folder and kept."""

    def __init__(self, folder_for: Callable[[registry.HubModel], Path], device: str = "cpu", dtype=None):
        self._folder_for = folder_for
        self._device = device
        self._dtype = dtype
        self._loaded: dict[str, tuple] = {}

    def _load(self, kind: str):
        if kind not in self._loaded:
            import torch
            from transformers import AutoImageProcessor, DepthAnythingForDepthEstimation, VitPoseForPoseEstimation

            model_class, entry = {
                "depth": (DepthAnythingForDepthEstimation, registry.DEPTH_ESTIMATOR),
                "pose": (VitPoseForPoseEstimation, registry.POSE_ESTIMATOR),
            }[kind]
            folder = Path(self._folder_for(entry))
            dtype = self._dtype if self._dtype is not None and self._device != "cpu" else torch.float32
            model = model_class.from_pretrained(folder, dtype=dtype, use_safetensors=True, local_files_only=True)
            processor = AutoImageProcessor.from_pretrained(folder, local_files_only=True)
            self._loaded[kind] = (model.to(self._device).eval(), processor, dtype)
        return self._loaded[kind]

    def depth(self, image: Image.Image) -> Image.Image:
        """The depth map of `image` at its own size (0..255 gray, near = bright; a flat image gives black)."""
        import torch
        import torch.nn.functional as F

        image = image.convert("RGB")
        if is_flat(image):
            return normalise_depth(np.zeros((image.height, image.width), np.float32))
        model, processor, dtype = self._load("depth")
        pixels = processor(images=image, return_tensors="pt")["pixel_values"].to(self._device, dtype)
        with torch.inference_mode():
            predicted = model(pixel_values=pixels).predicted_depth.float()
        resized = F.interpolate(
            predicted[:, None], size=(image.height, image.width), mode="bicubic", align_corners=False
        )
        return normalise_depth(resized[0, 0].cpu().numpy())

    def keypoints(self, image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        """(17 COCO keypoints (x, y) in pixels, their scores) of the person filling `image` (one box, the
        whole image: ViTPose is top-down, and a Pose slot's photo is one person)."""
        import torch

        image = image.convert("RGB")
        model, processor, dtype = self._load("pose")
        boxes = [[[0.0, 0.0, float(image.width), float(image.height)]]]  # COCO (x, y, w, h)
        pixels = processor(image, boxes=boxes, return_tensors="pt")["pixel_values"].to(self._device, dtype)
        with torch.inference_mode():
            outputs = model(pixel_values=pixels)
        outputs.heatmaps = outputs.heatmaps.float().cpu()
        person = processor.post_process_pose_estimation(outputs, boxes=boxes)[0][0]
        return person["keypoints"].cpu().numpy(), person["scores"].cpu().numpy()

    def pose(self, image: Image.Image, field: str = "image") -> Image.Image:
        """The OpenPose skeleton map of the person in `image`, at its size; InvalidRequest naming `field`
        when no person is found."""
        keypoints, scores = self.keypoints(image)
        return pose_map(keypoints, scores, image.width, image.height, field)
