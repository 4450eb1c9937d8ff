"""Request resolution: from what a user asked for to exactly what each image is made from.

Applied once, before sampling, in this order: the performance mode's forced settings, inline
`<lora:name:w>` tags, then per image `[[a, b]]` arrays and `__wildcards__` (seeded by the image's seed, or in order),
the translation to English (when asked, see studio.expansion.translation), the prompt expansion (seeded likewise)
and the styles. Each image's resolved request has the final prompt text and no styles left to apply, so
it is what the PNG records and re-makes the image by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from studio.expansion.factory import ExpanderCache
from studio.expansion.protocol import ExpansionError, compose_positive_prompt
from studio.expansion.translation import translate_prompt
from studio.loras import LoraLibrary, extract_inline_loras, merge_loras
from studio.performance import apply_performance
from studio.settings import Settings
from studio.styles import StyleLibrary
from studio.types import GenerationRequest, Limit, validate_request
from studio.user_styles import load_styles, user_styles_folder
from studio.wildcards import SHIPPED_WILDCARDS, WildcardLibrary


@dataclass(frozen=True)
class PromptLibraries:
    """The user-editable libraries a request's names refer to."""

    styles: StyleLibrary
    loras: LoraLibrary
    expanders: ExpanderCache
    wildcards: WildcardLibrary = field(default_factory=WildcardLibrary)

    @classmethod
    def for_settings(cls, settings: Settings) -> PromptLibraries:
        return cls(
            styles=load_styles(user_styles_folder(settings.models_dir)).library,  # 15D: + <models-dir>/styles
            loras=LoraLibrary(Path(settings.models_dir) / "loras"),
            expanders=ExpanderCache(settings.expansion, settings.models_dir, settings.hub_offline),
            wildcards=WildcardLibrary((Path(settings.models_dir) / "wildcards", SHIPPED_WILDCARDS)),
        )


def resolve_images(request: GenerationRequest, libraries: PromptLibraries, size_limit: Limit | None) -> tuple[GenerationRequest, ...]:
    """One validated, fully resolved one-image request per image of `request`."""
    request = apply_performance(validate_request(request, size_limit))
    prompt, inline_loras = extract_inline_loras(request.prompt)
    loras = merge_loras(request.loras, inline_loras)
    for lora in loras:
        libraries.loras.path(lora.name)  # unknown names fail here, before any work
    images = []
    for index in range(request.image_count):
        seed = request.image_seed(index)
        positive = libraries.wildcards.expand(prompt, seed, index, request.wildcards_in_order)
        negative = libraries.wildcards.expand(request.negative_prompt, seed, index, request.wildcards_in_order)
        translated = translate_prompt(libraries.expanders, request.translate, positive)  # 18
        positive = translated.prompt
        if request.expansion != "none":
            positive = expanded_prompt(libraries, request.expansion, positive, seed)
        positive, negative = libraries.styles.apply(positive, negative, request.styles, seed)
        image = replace(
            request, prompt=positive, negative_prompt=negative, styles=(), expansion="none", loras=loras, seed=seed, image_count=1
        )
        if translated.original:  # 18: the record keeps what was typed; a re-make reads only `prompt`
            image = replace(image, original_prompt=translated.original, english_prompt=translated.english)
        image = replace(image, translate="off")
        images.append(validate_request(image, size_limit))
    return tuple(images)


def expanded_prompt(libraries: PromptLibraries, mode: str, prompt: str, seed: int) -> str:
    """`prompt` with its seeded expansion added; if the expander cannot be had, the error names the
    Expansion setting (`expansion: ...`), which is what the user can change."""
    try:
        return compose_positive_prompt(prompt, libraries.expanders.get(mode).expand(prompt, seed))
    except ExpansionError as error:
        raise ExpansionError(f"expansion: {error}") from error
