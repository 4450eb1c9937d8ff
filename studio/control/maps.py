"""What each slot type makes of its input image: the control map, face crop or image the adapter sees.

`slot_input` is what the stage feeds the models and what the UI previews for a slot, so the preview is
exactly what steers the image. Depth and Pose maps are made by models (studio.control.annotators), which the
caller passes in: the stage's `annotators`."""

from __future__ import annotations

from PIL import Image

from studio.control import preprocessors
from studio.types import InvalidRequest

ADAPTER_TYPES = ("ImagePrompt", "FaceSwap")
CONTROL_TYPES = ("PyraCanny", "CPDS", "Depth", "Pose")
# Types whose map is computed by a model (studio.control.annotators) rather than by OpenCV alone.
MODEL_MAP_TYPES = ("Depth", "Pose")


def slot_input(
    image: Image.Image,
    slot_type: str,
    width: int,
    height: int,
    skip_preprocess: bool = False,
    field: str = "image",
    annotators=None,
) -> Image.Image:
    """The image a slot of `slot_type` feeds its model, for an output of width x height.

    ControlNet types give an RGB map of exactly width x height (the input scaled to cover it and centre
    cropped, then preprocessed unless `skip_preprocess`; Depth and Pose use `annotators`, an
    `annotators.Annotators`, and a Pose slot without a person is an InvalidRequest naming `field`); FaceSwap gives the aligned face crop (InvalidRequest
    naming `field` when no face is found); ImagePrompt gives the image as the adapter's encoder sees it."""
    from studio.control.face import crop_face

    if slot_type == "ImagePrompt":
        return image.convert("RGB")
    if slot_type == "FaceSwap":
        return image.convert("RGB") if skip_preprocess else crop_face(image, field).image
    if slot_type not in CONTROL_TYPES:
        raise InvalidRequest(field, f"'{slot_type}' is not an image-prompt type")
    fitted = preprocessors.fit_to_size(image, width, height)
    if skip_preprocess:
        return preprocessors.as_is(fitted)
    if slot_type in MODEL_MAP_TYPES:
        from studio.control.annotators import AnnotatorUnavailable

        if annotators is None:
            raise AnnotatorUnavailable(f"{field}: {slot_type} maps are computed by a model when the image is generated")
        return annotators.depth(fitted) if slot_type == "Depth" else annotators.pose(fitted, field)
    return preprocessors.pyracanny(fitted) if slot_type == "PyraCanny" else preprocessors.cpds(fitted)
