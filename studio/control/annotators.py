"""Annotators that compute a control map with a model: Depth (Depth Anything V2 Small) and Pose (people found
by RT-DETR, each one's keypoints by ViTPose-B top-down, all drawn as OpenPose skeletons on one map). All come
from the hub through the registry at a pinned revision, as safetensors, and load with transformers'
`from_pretrained` (no pickle); a random-weights base gets tiny stand-ins in the same layout (see
`ImagePromptStage.folder_for`)."""

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

# Pose: a detection counts as a person when the detector's "person" score is at least this (RT-DETR's scores
# are per-class sigmoids; 0.5 keeps clear people and drops background clutter).
PERSON_SCORE_THRESHOLD = 0.5
# At most this many people are posed, the largest first: small background figures add noise, not guidance,
# and each person is one more ViTPose crop.
MAX_PEOPLE = 8
# Of two person boxes overlapping more than this (intersection over union), the lower-scoring one is the same
# person found twice and is dropped (RT-DETR needs no NMS, but a duplicate would draw a doubled skeleton).
DUPLICATE_IOU = 0.7
# The detector's label for people (COCO's class name, read from the model's `config.id2label`).
PERSON_LABEL = "person"


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


def box_iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Intersection over union of one (x0, y0, x1, y1) box with each of `others` (n, 4)."""
    x0, y0 = np.maximum(box[0], others[:, 0]), np.maximum(box[1], others[:, 1])
    x1, y1 = np.minimum(box[2], others[:, 2]), np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def select_people(scores, labels, boxes, person_ids, width: int, height: int) -> np.ndarray:
    """The person boxes worth posing, as (n, 4) COCO (x, y, w, h) pixel boxes, the largest first.

    `scores`, `labels` and `boxes` are one image's detections (boxes as (x0, y0, x1, y1) pixels, which may
    reach past the image); kept: labels in `person_ids` scoring at least PERSON_SCORE_THRESHOLD, clipped to the
    width x height image and not empty, without duplicates (DUPLICATE_IOU), at most MAX_PEOPLE."""
    scores = np.asarray(scores, np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    boxes = np.clip(boxes, 0, [width, height, width, height])
    keep = np.isin(labels, list(person_ids)) & (scores >= PERSON_SCORE_THRESHOLD)
    keep &= (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    scores, boxes = scores[keep], boxes[keep]
    chosen: list[int] = []
    for index in np.argsort(-scores, kind="stable"):  # best first, so a duplicate loses to the better box
        if not chosen or box_iou(boxes[index], boxes[chosen]).max() <= DUPLICATE_IOU:
            chosen.append(int(index))
    people = boxes[chosen]
    areas = (people[:, 2] - people[:, 0]) * (people[:, 3] - people[:, 1])
    people = people[np.argsort(-areas, kind="stable")][:MAX_PEOPLE]
    people[:, 2:] -= people[:, :2]  # (x0, y0, x1, y1) -> COCO (x, y, w, h), what ViTPose's processor takes
    return people.astype(np.float32)


def whole_image_box(image: Image.Image) -> np.ndarray:
    """One COCO (x, y, w, h) box covering `image`: the person when the detector finds none (a close-up)."""
    return np.array([[0.0, 0.0, float(image.width), float(image.height)]], np.float32)


class Annotators:
    """The Depth and Pose models (and Pose's person detector), each loaded on first use from its registry
    folder and kept."""

    def __init__(self, folder_for: Callable[[registry.HubModel], Path], device: str = "cpu", dtype=None):
        self._folder_for = folder_for
        self._device = device
        self._dtype = dtype
        self._loaded: dict[str, tuple] = {}

    def _load(self, kind: str):
        if kind not in self._loaded:
            import torch
            from transformers import (
                AutoImageProcessor,
                DepthAnythingForDepthEstimation,
                RTDetrForObjectDetection,
                VitPoseForPoseEstimation,
            )

            model_class, entry = {
                "depth": (DepthAnythingForDepthEstimation, registry.DEPTH_ESTIMATOR),
                "pose": (VitPoseForPoseEstimation, registry.POSE_ESTIMATOR),
                "person": (RTDetrForObjectDetection, registry.PERSON_DETECTOR),
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

    def people(self, image: Image.Image) -> np.ndarray:
        """The people in `image` worth posing, as (n, 4) COCO (x, y, w, h) pixel boxes, the largest first (n may
        be 0): the person detector's boxes, chosen by `select_people`."""
        import torch

        image = image.convert("RGB")
        model, processor, dtype = self._load("person")
        person_ids = [int(i) for i, name in model.config.id2label.items() if name == PERSON_LABEL]
        if not person_ids:
            raise ValueError(f"{registry.PERSON_DETECTOR.repo_id} has no '{PERSON_LABEL}' label")
        pixels = processor(images=image, return_tensors="pt")["pixel_values"].to(self._device, dtype)
        with torch.inference_mode():
            outputs = model(pixel_values=pixels)
        outputs.logits, outputs.pred_boxes = outputs.logits.float().cpu(), outputs.pred_boxes.float().cpu()
        found = processor.post_process_object_detection(
            outputs, threshold=PERSON_SCORE_THRESHOLD, target_sizes=[(image.height, image.width)]
        )[0]
        return select_people(
            found["scores"].numpy(), found["labels"].numpy(), found["boxes"].numpy(), person_ids, *image.size
        )

    def keypoints(self, image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        """(the 17 COCO keypoints (x, y) in pixels of each person in `image`, (people, 17, 2); their scores,
        (people, 17)). ViTPose is top-down: it runs on each box `people` finds, or on one box covering the whole
        image when it finds none (a close-up portrait the detector may miss)."""
        boxes = self.people(image)
        return self.keypoints_in_boxes(image, boxes if len(boxes) else whole_image_box(image))

    def keypoints_in_boxes(self, image: Image.Image, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ViTPose's keypoints (people, 17, 2) and scores (people, 17) of one person per COCO (x, y, w, h) box."""
        import torch

        image = image.convert("RGB")
        model, processor, dtype = self._load("pose")
        boxes = [np.asarray(boxes, np.float32).reshape(-1, 4).tolist()]  # one image's boxes
        pixels = processor(image, boxes=boxes, return_tensors="pt")["pixel_values"].to(self._device, dtype)
        with torch.inference_mode():
            outputs = model(pixel_values=pixels)
        outputs.heatmaps = outputs.heatmaps.float().cpu()
        people = processor.post_process_pose_estimation(outputs, boxes=boxes)[0]
        keypoints = np.stack([person["keypoints"].cpu().numpy() for person in people])
        scores = np.stack([person["scores"].cpu().numpy() for person in people])
        return keypoints.astype(np.float32), scores.astype(np.float32)

    def pose(self, image: Image.Image, field: str = "image") -> Image.Image:
        """The OpenPose skeletons of the people in `image` on one map at its size; InvalidRequest naming
        `field` when no person is found."""
        keypoints, scores = self.keypoints(image)
        return pose_map(keypoints, scores, image.width, image.height, field)
