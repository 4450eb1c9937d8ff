"""What a request names must exist, checked once when it is submitted (UI, CLI and API alike, through
`Engine.validate`), so a bad name is refused with its field before anything is queued, never in the worker.

Checked: styles (`Random style` is always there), LoRA slots and inline `<lora:name:w>` tags, `__wildcards__`
in the prompts, stored input images named by hash (image to edit, mask, image prompts), and the prompts'
emphasis (bounded nesting and de-emphasised parts: each of those costs a whole extra prompt encoding).
"""

from __future__ import annotations

from studio.inputs import IMAGE_HASH, InputStore
from studio.library_names import is_library_name
from studio.loras import extract_inline_loras, merge_loras
from studio.prompt_weights import emphasis_problem
from studio.styles import RANDOM_STYLE
from studio.types import LORA_WEIGHT_LIMIT, GenerationRequest, InvalidRequest, echo
from studio.wildcards import WILDCARD


def check_names(request: GenerationRequest, libraries, inputs: InputStore) -> GenerationRequest:
    """Raise InvalidRequest naming the first field whose name or hash this studio does not have."""
    styles = set(libraries.styles.names)
    for index, name in enumerate(request.styles):
        if name != RANDOM_STYLE and name not in styles:
            raise InvalidRequest(f"styles[{index}]", f"'{echo(name)}' is not a style (see the list of styles)")
    loras = set(libraries.loras.names())
    for index, lora in enumerate(request.loras):
        if not (is_library_name(lora.name) and lora.name in loras):
            raise InvalidRequest(f"loras[{index}].name", f"'{echo(lora.name)}' is not a LoRA in the loras folder")
    _, inline = extract_inline_loras(request.prompt)
    for lora in inline:
        if not (is_library_name(lora.name) and lora.name in loras):
            raise InvalidRequest("prompt", f"<lora:{echo(lora.name)}:…> names no LoRA in the loras folder")
        LORA_WEIGHT_LIMIT.check("prompt", lora.weight)
    merge_loras(request.loras, inline)  # the count of slots and tags together
    wildcards = set(libraries.wildcards.names())
    for field in ("prompt", "negative_prompt"):
        for name in WILDCARD.findall(getattr(request, field)):
            if name not in wildcards:
                raise InvalidRequest(field, f"__{echo(name)}__ names no wildcard file")
        problem = emphasis_problem(getattr(request, field))
        if problem is not None:
            raise InvalidRequest(field, problem)
    for field, digest in input_hashes(request):
        if not (isinstance(digest, str) and IMAGE_HASH.match(digest)):
            raise InvalidRequest(field, "must be the hash (64 hex digits) of an image stored with POST /v1/inputs")
        if not inputs.path(digest).is_file():
            raise InvalidRequest(field, f"image {digest[:12]}… is not in this studio's inputs")
    return request


def input_hashes(request: GenerationRequest) -> list[tuple[str, str]]:
    hashes = [(f"image_prompts[{index}].image", slot.image) for index, slot in enumerate(request.image_prompts)]
    if request.edit is not None:
        hashes.append(("edit.image", request.edit.image))
        if request.edit.mask:
            hashes.append(("edit.mask", request.edit.mask))
    return hashes
