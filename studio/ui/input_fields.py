"""The Input Image panel's values <-> a request's `image_prompts` and `edit`, by field name. No gradio here.

The panel's widgets are named by `INPUT_FIELD_NAMES`: the "Input Image" checkbox (`input_image`; off means
the panel is ignored), the panel's open tab (`input_tab`, as Fooocus: the inpaint tab's editor is used only
while that tab is open), four image-prompt slots (`ip_<i>_image`, `_type`, `_weight`, `_stop_at`,
`_skip_preprocess`) and the inpaint/outpaint tab (`edit_image`: an ImageEditor value whose painted layers
are the mask, `edit_mask`: an optional uploaded mask, and EditSpec's own fields). Images arrive as PIL
images, are checked like uploads (`studio.inputs`) and stored by hash; the request names them by hash.
Limits and defaults are EditSpec's and ImagePrompt's declared ones.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from PIL import Image

from studio.inputs import InputStore, as_input_mode, check_pixels
from studio.types import (
    IMAGE_PROMPT_DEFAULTS,
    IMAGE_PROMPT_TYPES,
    INPAINT_MODES,
    MAX_IMAGE_PROMPTS,
    OUTPAINT_SIDES,
    EditSpec,
    GenerationRequest,
    ImagePrompt,
    InvalidRequest,
    Limit,
)
from studio.ui.enhance_fields import (  # 16: Enhance rides with the panel's values
    ENHANCE_FIELD_NAMES,
    default_enhance_values,
    enhance_from_values,
    enhance_values_from_request,
)

INPUT_TABS = ("image_prompt", "inpaint", "vary_upscale", "describe")
# (image, type, weight, stop_at, skip_preprocess) widget names of each slot: ("ip_1_image", ...), ...
IP_SLOTS = tuple(
    tuple(f"ip_{i}_{part}" for part in ("image", "type", "weight", "stop_at", "skip_preprocess"))
    for i in range(1, MAX_IMAGE_PROMPTS + 1)
)
EDIT_FIELDS = ("inpaint_mode", "mask_grow", "mask_feather", "outpaint_sides", "outpaint_size")
# 15c: the inpaint controls (EditSpec's names), and the Vary/Upscale tab's denoise override
INPAINT_CONTROLS = ("mask_invert", "denoise", "inpaint_context", "inpaint_prompt")
INPUT_FIELD_NAMES = (
    "input_image",
    "input_tab",
    *(name for slot in IP_SLOTS for name in slot),
    "edit_image",
    "edit_mask",
    *EDIT_FIELDS,
    "uov_image",  # the Vary/Upscale tab's image; its buttons run the tool (see input_events.py)
    *ENHANCE_FIELD_NAMES,  # 16: the Enhance checkbox and its regions (studio/ui/enhance_fields.py)
    *INPAINT_CONTROLS,
    "uov_denoise",  # EditSpec.denoise of the Vary/Upscale buttons
)
DEFAULT_SLOT_TYPE = "ImagePrompt"


def edit_limit(name: str) -> Limit:
    """The declared limit of an EditSpec field ('mask_grow', 'mask_feather', 'outpaint_size')."""
    return next(f.metadata["limit"] for f in fields(EditSpec) if f.name == name)


def default_input_values() -> dict[str, Any]:
    """The panel's starting values: closed, empty slots of the default type, EditSpec's defaults."""
    spec = EditSpec()
    values: dict[str, Any] = {"input_image": False, "input_tab": INPUT_TABS[0]}
    for image, kind, weight, stop_at, skip in IP_SLOTS:
        default_weight, default_stop = IMAGE_PROMPT_DEFAULTS[DEFAULT_SLOT_TYPE]
        values.update(
            {image: None, kind: DEFAULT_SLOT_TYPE, weight: default_weight, stop_at: default_stop, skip: False}
        )
    values.update(edit_image=None, edit_mask=None, uov_image=None)
    values.update({name: getattr(spec, name) for name in EDIT_FIELDS})
    values["outpaint_sides"] = list(spec.outpaint_sides)
    values.update(default_enhance_values())  # 16
    values.update({name: getattr(spec, name) for name in INPAINT_CONTROLS}, uov_denoise=spec.denoise)
    return values


def checked_image(image: Any, field: str) -> Image.Image:
    """A widget's PIL image, held to the upload rules of `studio.inputs.decode_image` (pixels, modes)."""
    if not isinstance(image, Image.Image):
        raise InvalidRequest(field, "must be an image")
    check_pixels(field, *image.size)
    return as_input_mode(image)


def store_image(store: InputStore, image: Any, field: str) -> str:
    return store.put(checked_image(image, field))


def editor_value(image: Image.Image | None) -> dict[str, Any] | None:
    """An ImageEditor value holding `image` with nothing painted."""
    return None if image is None else {"background": image, "layers": [], "composite": image}


def editor_parts(value: Any) -> tuple[Image.Image | None, Image.Image | None]:
    """(the picture, the painted mask or None) of an ImageEditor value: the background is the picture (the
    composite if there is none); every painted pixel of any layer is white in the mask (the eraser clears)."""
    if value is None:
        return None, None
    if isinstance(value, Image.Image):
        return value, None
    if not isinstance(value, dict):
        raise InvalidRequest("edit.image", "must be an image editor value")
    picture = value.get("background") or value.get("composite")
    if picture is None:
        return None, None
    mask = None
    for layer in value.get("layers") or []:
        if not isinstance(layer, Image.Image):
            continue
        alpha = layer.getchannel("A") if "A" in layer.getbands() else layer.convert("L")
        alpha = alpha.resize(picture.size) if alpha.size != picture.size else alpha
        mask = alpha if mask is None else Image.fromarray(_maximum(mask, alpha))
    return picture, mask


def _maximum(a: Image.Image, b: Image.Image):
    import numpy as np

    return np.maximum(np.asarray(a.convert("L")), np.asarray(b.convert("L")))


def _union(painted: Image.Image | None, uploaded: Any, size: tuple[int, int]) -> Image.Image | None:
    if uploaded is None:
        return painted
    uploaded = checked_image(uploaded, "edit.mask")
    if "A" in uploaded.getbands():  # a transparent pixel counts as black
        background = Image.new("RGBA", uploaded.size, (0, 0, 0, 255))
        uploaded = Image.alpha_composite(background, uploaded.convert("RGBA"))
    uploaded = uploaded.convert("L")
    if uploaded.size != size:
        raise InvalidRequest(
            "edit.mask", f"is {uploaded.size[0]}x{uploaded.size[1]}; it must be the image's size, {size[0]}x{size[1]}"
        )
    return uploaded if painted is None else Image.fromarray(_maximum(painted, uploaded))


def image_prompts_from_values(values: dict[str, Any], store: InputStore | None) -> tuple[ImagePrompt, ...]:
    """The filled slots, in slot order, each image stored by hash; empty slots are skipped."""
    prompts = []
    for index, (image, kind, weight, stop_at, skip) in enumerate(IP_SLOTS):
        if values.get(image) is None:
            continue
        field = f"image_prompts[{len(prompts)}]"
        slot_type = values.get(kind) or DEFAULT_SLOT_TYPE
        if slot_type not in IMAGE_PROMPT_TYPES:
            raise InvalidRequest(
                f"{field}.type", f"'{slot_type}' is unknown; choose one of: {', '.join(IMAGE_PROMPT_TYPES)}"
            )
        if store is None:
            raise InvalidRequest(field, "image prompts need the studio's input store")
        prompts.append(
            ImagePrompt.of(
                store_image(store, values[image], f"{field}.image"),
                slot_type,
                _number(f"{field}.weight", values.get(weight)),
                _number(f"{field}.stop_at", values.get(stop_at)),
                bool(values.get(skip)),
            )
        )
    return tuple(prompts)


def _number(name: str, value: Any) -> float | None:
    if value is None:
        return None  # the type's default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequest(name, "must be a number")
    return float(value)


def edit_from_values(values: dict[str, Any], store: InputStore | None) -> EditSpec | None:
    """The inpaint/outpaint tab's EditSpec, or None when its editor holds no picture. Outpaint when a side is
    chosen; otherwise inpaint the painted (and/or uploaded) mask, which must not be empty."""
    picture, painted = editor_parts(values.get("edit_image"))
    if picture is None:
        return None
    if store is None:
        raise InvalidRequest("edit", "edits need the studio's input store")
    picture = checked_image(picture, "edit.image")
    sides = values.get("outpaint_sides") or []
    if isinstance(sides, str) or not all(side in OUTPAINT_SIDES for side in sides):
        raise InvalidRequest("edit.outpaint_sides", f"must be names among: {', '.join(OUTPAINT_SIDES)}")
    defaults = EditSpec()
    common = {
        "mask_grow": _whole("edit.mask_grow", values.get("mask_grow", defaults.mask_grow)),
        "mask_feather": _whole("edit.mask_feather", values.get("mask_feather", defaults.mask_feather)),
    }
    image = store_image(store, picture.convert("RGB") if picture.mode != "RGB" else picture, "edit.image")
    if sides:
        size = _number("edit.outpaint_size", values.get("outpaint_size", defaults.outpaint_size))
        return EditSpec(
            kind="outpaint", image=image, outpaint_sides=tuple(s for s in OUTPAINT_SIDES if s in sides),
            outpaint_size=size, denoise=inpaint_controls(values)["denoise"], **common,
        ).check()  # fmt: skip
    mask = _union(painted, values.get("edit_mask"), picture.size)
    if mask is None or mask.getextrema()[1] <= 127:
        raise InvalidRequest("edit.mask", "paint the area to repaint, upload a mask, or choose an outpaint side")
    mode = values.get("inpaint_mode") or defaults.inpaint_mode
    if mode not in INPAINT_MODES:
        raise InvalidRequest("edit.inpaint_mode", f"'{mode}' is unknown; choose one of: {', '.join(INPAINT_MODES)}")
    binary = mask.point(lambda v: 255 if v > 127 else 0)
    controls = inpaint_controls(values)
    return EditSpec(kind="inpaint", image=image, mask=store.put(binary), inpaint_mode=mode, **common, **controls).check()


def inpaint_controls(values: dict[str, Any]) -> dict[str, Any]:
    """EditSpec's inpaint controls from the tab's widgets (15c); a missing one takes its neutral default."""
    defaults = EditSpec()
    invert = values.get("mask_invert", defaults.mask_invert)
    if not isinstance(invert, bool):
        raise InvalidRequest("edit.mask_invert", "must be on or off")
    prompt = values.get("inpaint_prompt") or ""
    if not isinstance(prompt, str):
        raise InvalidRequest("edit.inpaint_prompt", "must be text")
    return {
        "mask_invert": invert,
        "denoise": denoise_value("edit.denoise", values.get("denoise", defaults.denoise)),
        "inpaint_context": denoise_value("edit.inpaint_context", values.get("inpaint_context", defaults.inpaint_context)),
        "inpaint_prompt": prompt,
    }


def denoise_value(name: str, value: Any) -> float:
    number = _number(name, value)
    return 0.0 if number is None else number


def _whole(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
        raise InvalidRequest(name, "must be a whole number")
    return int(value)


def inputs_from_values(values: dict[str, Any], store: InputStore | None) -> dict[str, Any]:
    """Request fields (`image_prompts`, `edit`) from the panel's values, none while the panel is off; and
    `enhance`, which has a checkbox of its own."""
    enhance = enhance_from_values(values)  # 16
    if not values.get("input_image"):
        return {} if enhance is None else {"enhance": enhance}
    tab = values.get("input_tab") or INPUT_TABS[0]
    if tab not in INPUT_TABS:
        raise InvalidRequest("input_tab", f"'{tab}' is unknown; choose one of: {', '.join(INPUT_TABS)}")
    result: dict[str, Any] = {"image_prompts": image_prompts_from_values(values, store)}
    if tab == "inpaint":
        result["edit"] = edit_from_values(values, store)
    if enhance is not None:
        result["enhance"] = enhance
    return result


def input_values_from_request(request: GenerationRequest, store: InputStore) -> tuple[dict[str, Any], list[str]]:
    """Panel values that re-make `request`'s image prompts and edit from the stored inputs, and warnings for
    inputs this studio no longer holds (those slots are left empty)."""
    values = default_input_values()
    warnings: list[str] = []

    def fetch(digest: str, what: str) -> Image.Image | None:
        try:
            return store.get(digest, what)
        except InvalidRequest:
            warnings.append(f"The {what} ({digest[:12]}…) is not in this studio's inputs folder; it was left out.")
            return None

    for (image, kind, weight, stop_at, skip), prompt in zip(IP_SLOTS, request.image_prompts):
        picture = fetch(prompt.image, f"image prompt {IP_SLOTS.index((image, kind, weight, stop_at, skip)) + 1}")
        if picture is not None:
            values.update({image: picture, kind: prompt.type, weight: prompt.weight, stop_at: prompt.stop_at})
            values[skip] = prompt.skip_preprocess
    edit = request.edit
    if edit is not None:
        picture = fetch(edit.image, "edit input image")
        if edit.kind in ("inpaint", "outpaint"):
            values["input_tab"] = "inpaint"
            values["edit_image"] = editor_value(picture)
            values["edit_mask"] = fetch(edit.mask, "inpaint mask") if edit.mask else None
            values.update({name: getattr(edit, name) for name in EDIT_FIELDS + INPAINT_CONTROLS})
            values["outpaint_sides"] = list(edit.outpaint_sides)
        else:
            values["input_tab"] = "vary_upscale"
            values["uov_image"] = picture
            values["uov_denoise"] = edit.denoise
            choice = f"Vary ({edit.vary_strength})" if edit.kind == "vary" else f"Upscale ({edit.upscale})"
            warnings.append(
                f"The image was made with {choice}: press that button in the Vary/Upscale tab to re-make it."
            )
    values["input_image"] = bool(request.image_prompts or edit is not None)
    values.update(enhance_values_from_request(request))  # 16
    return values, warnings
