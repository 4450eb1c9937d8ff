"""Masks from words: a text-prompted detector (Grounding DINO) finds boxes for a phrase, a segmenter (SAM)
turns each box into a mask, and the masks are joined and grown.

Both models come from the registry at pinned revisions as safetensors and load with transformers'
`from_pretrained` (no pickle); a random-weights base (`--model tiny`, tests) gets the tiny stand-ins of
tiny_models.py in the same layout. They run in float32 (small models; fp16 detector scores drift). When the
memory plan keeps the GPU tight ("low", "cpu-offload") they go back to CPU memory after each mask, so they never
sit on the device while the image model samples.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PIL import Image

from studio import registry
from studio.control.annotators import box_iou
from studio.edit import masks
from studio.limits import InvalidRequest

# At most this many boxes are segmented, the best first ("hands" or "eyes" rarely need more; a crowd's faces
# beyond it are small and cost a SAM pass each).
MAX_BOXES = 8
# Of two boxes overlapping more than this (intersection over union), the lower-scoring one is the same thing
# found twice (Grounding DINO's queries often agree) and is dropped.
DUPLICATE_IOU = 0.7
MAX_PHRASE_CHARACTERS = 200
# Memory plans under which the models leave the device after each use.
TIGHT_MEMORY_PLANS = ("low", "cpu-offload")


def detector_text(phrase: str, field: str = "text") -> str:
    """The phrase as Grounding DINO reads it: lower case, one space between words, ending with a period
    (commas separate several things: "face, hands" -> "face. hands.")."""
    parts = [" ".join(part.lower().split()).strip(" .") for part in phrase.replace(";", ",").split(",")]
    parts = [part for part in parts if part]
    if not parts:
        raise InvalidRequest(field, "is empty; say what to find, e.g. 'face'")
    return " ".join(f"{part}." for part in parts)


def select_boxes(scores, boxes, width: int, height: int) -> np.ndarray:
    """Boxes (n, 4) as (x0, y0, x1, y1) integer pixels inside the width x height picture, best first, without
    empty ones or duplicates (DUPLICATE_IOU), at most MAX_BOXES."""
    scores = np.asarray(scores, np.float64).reshape(-1)
    boxes = np.clip(np.asarray(boxes, np.float64).reshape(-1, 4), 0, [width, height, width, height])
    boxes = np.concatenate([np.floor(boxes[:, :2]), np.ceil(boxes[:, 2:])], axis=1)
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    scores, boxes = scores[keep], boxes[keep]
    chosen: list[int] = []
    for index in np.argsort(-scores, kind="stable"):
        if not chosen or box_iou(boxes[index], boxes[chosen]).max() <= DUPLICATE_IOU:
            chosen.append(int(index))
    return boxes[chosen][:MAX_BOXES].astype(np.int64)


class TextMasks:
    """The detector and segmenter, loaded on first use and kept; `mask(image, phrase, threshold, grow)`."""

    def __init__(self, manager, random_weights: bool | None = None):
        self.manager = manager
        # None: follow the loaded checkpoint (tiny random weights -> tiny models); the `mask` command says it.
        self._random_weights = random_weights
        self._loaded: dict[str, tuple] = {}
        self._lock = threading.Lock()

    def folder_for(self, model: registry.HubModel) -> Path:
        """A registry model's folder; tiny stand-ins (built once under `<models-dir>/tiny-registry/`) for a
        random-weights base, so a real download is never shadowed."""
        random = self.manager.info.random_weights if self._random_weights is None else self._random_weights
        if not random:
            return self.manager.registry_folder(model)
        from studio.segment.tiny_models import save_tiny_text_mask_model
        from studio.tiny import TINY_MARKER

        folder = self.manager.settings.models_dir / "tiny-registry" / model.repo_id.replace("/", "--")
        if not (folder / TINY_MARKER).is_file():
            save_tiny_text_mask_model(folder, "detector" if model == registry.TEXT_DETECTOR else "segmenter")
            (folder / TINY_MARKER).write_text('{"random_weights": true}')
        return folder

    def _models(self, kind: str):
        """(model, processor) of `kind` ("detector" or "segmenter"), on the device."""
        if kind not in self._loaded:
            from transformers import AutoProcessor, GroundingDinoForObjectDetection, SamModel

            model_class, entry = {
                "detector": (GroundingDinoForObjectDetection, registry.TEXT_DETECTOR),
                "segmenter": (SamModel, registry.SEGMENTER),
            }[kind]
            folder = self.folder_for(entry)
            try:
                model = model_class.from_pretrained(folder, use_safetensors=True, local_files_only=True)
                processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
            except Exception as error:
                from studio.models import ModelUnavailable

                raise ModelUnavailable(f"the {kind} for masks from words in {folder} could not be loaded ({error})") from error
            self._loaded[kind] = (model.eval(), processor)
        model, processor = self._loaded[kind]
        return model.to(self.manager.policy.device), processor

    def release(self) -> None:
        """Move both models to CPU memory and give the device's cache back, if the memory plan is tight."""
        plan = self.manager.memory_plan
        if plan is None or plan.mode not in TIGHT_MEMORY_PLANS:
            return
        from studio import device_memory

        for model, _processor in self._loaded.values():
            model.to("cpu")
        device_memory.free_memory()

    def boxes(self, image: Image.Image, phrase: str, threshold: float) -> np.ndarray:
        """The boxes of what `phrase` names in `image` scoring at least `threshold` (see select_boxes)."""
        import torch

        image = image.convert("RGB")
        model, processor = self._models("detector")
        inputs = processor(images=image, text=detector_text(phrase), return_tensors="pt").to(model.device)
        with torch.inference_mode():
            outputs = model(**inputs)
        found = processor.post_process_grounded_object_detection(
            outputs, inputs["input_ids"], threshold=threshold, text_threshold=threshold,
            target_sizes=[(image.height, image.width)],
        )[0]  # fmt: skip
        return select_boxes(found["scores"].float().cpu().numpy(), found["boxes"].float().cpu().numpy(), *image.size)

    def segment(self, image: Image.Image, boxes: np.ndarray) -> np.ndarray:
        """One boolean (H, W) mask: the union of SAM's mask of each box, each kept inside its box (SAM may
        spill onto a neighbour); a box SAM finds nothing in counts whole."""
        import torch

        image = image.convert("RGB")
        union = np.zeros((image.height, image.width), bool)
        if not len(boxes):
            return union
        model, processor = self._models("segmenter")
        inputs = processor(images=image, input_boxes=[boxes.astype(np.float32).tolist()], return_tensors="pt").to(model.device)
        with torch.inference_mode():
            outputs = model(**inputs, multimask_output=False)
        found = processor.image_processor.post_process_masks(
            outputs.pred_masks.float().cpu(), inputs["original_sizes"].cpu(), inputs["reshaped_input_sizes"].cpu()
        )[0][:, 0].numpy()  # (boxes, H, W) booleans
        for mask, (x0, y0, x1, y1) in zip(found, boxes):
            inside = mask[y0:y1, x0:x1]
            union[y0:y1, x0:x1] |= inside if inside.any() else True
        return union

    def mask(self, image: Image.Image, phrase: str, threshold: float, grow: int = 0) -> np.ndarray:
        """Boolean (H, W) mask of what `phrase` names, grown by `grow` pixels; all False when nothing is found."""
        with self._lock:
            try:
                found = self.segment(image, self.boxes(image, phrase, threshold))
            finally:
                self.release()
        return masks.grow(found, grow)


def mask_image(mask: np.ndarray) -> Image.Image:
    """A boolean mask as the studio's mask picture: white where the image is repainted."""
    return Image.fromarray(mask.astype(np.uint8) * 255, "L")


def mask_from_text(
    text_masks: TextMasks, image: Image.Image, text: str, threshold: float, grow: int, names=("text", "threshold", "grow")
) -> np.ndarray:
    """The mask-from-text tool (Inpaint tab, API, CLI): the limits checked (those of Enhance's region fields,
    declared once in enhance_spec.py), InvalidRequest naming the text's field when nothing is found."""
    from studio.enhance_spec import region_limit
    from studio.limits import check_text, echo

    text_name, threshold_name, grow_name = names
    region_limit("detect").check(text_name, check_text(text_name, text))
    region_limit("threshold").check(threshold_name, threshold)
    region_limit("grow").check(grow_name, grow)
    detector_text(text, text_name)
    found = text_masks.mask(image, text, threshold, grow)
    if not found.any():
        raise InvalidRequest(text_name, f"'{echo(text)}' found nothing at threshold {threshold:g}; lower the threshold or use other words")
    return found
