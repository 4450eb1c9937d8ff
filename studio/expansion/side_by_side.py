"""The expansion lesson at one glance: the plain prompt and the expanded prompt at one seed, side by side.

Both images come from normal engine runs that differ only in the request's `expansion` mode, so each is
saved with its own metadata and re-makes itself; the labelled sheet is saved beside them.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, replace

from PIL import Image, ImageDraw

from studio.compare_render import font
from studio.types import GeneratedImage, GenerationRequest, ImageRecord, InvalidRequest

LABELS = {"local": "Expanded (local model)", "llm": "Expanded (LLM)", "instruct": "Expanded (local instruct)"}


@dataclass(frozen=True)
class ExpansionComparison:
    plain: GeneratedImage
    expanded: GeneratedImage
    sheet: Image.Image
    records: tuple[ImageRecord, ...] = ()
    sheet_path: str = ""


def compare_expansion(engine, request: GenerationRequest, mode: str, store=None) -> ExpansionComparison:
    """Render `request` (its first image) without and with expansion `mode` at the same seed and settings."""
    if mode not in LABELS:
        raise InvalidRequest("expansion", f"compare needs an expansion mode ({', '.join(LABELS)}), not '{mode}'")
    base = replace(request, image_count=1, expansion="none")
    plain = engine.run(base).images[0]
    expanded = engine.run(replace(base, expansion=mode)).images[0]
    sheet = render_sheet(plain, expanded, LABELS[mode])
    if store is None:
        return ExpansionComparison(plain, expanded, sheet)
    records = (store.save(plain.image, plain.request), store.save(expanded.image, expanded.request))
    sheet_path = store.save_sheet(sheet, f"{base.seed}_expansion-compare")
    return ExpansionComparison(plain, expanded, sheet, records, sheet_path)


def render_sheet(plain: GeneratedImage, expanded: GeneratedImage, expanded_label: str) -> Image.Image:
    width, height = plain.image.size
    scale = max(1.0, min(width, height) / 256)
    title_font, text_font = font(round(16 * scale)), font(round(11 * scale))
    chars_per_line = max(20, int(width / (6.2 * scale)))
    captions = [textwrap.wrap(item.request.prompt, chars_per_line)[:8] for item in (plain, expanded)]
    line_height = round(14 * scale)
    header, margin = round(30 * scale), round(8 * scale)
    footer = margin * 2 + line_height * (max(len(lines) for lines in captions) + 1)
    sheet = Image.new("RGB", (2 * width + 3 * margin, header + height + footer), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for column, (item, label, lines) in enumerate(zip((plain, expanded), ("Plain prompt", expanded_label), captions)):
        x = margin + column * (width + margin)
        draw.text((x + width / 2, header / 2), label, fill=(20, 20, 20), font=title_font, anchor="mm")
        sheet.paste(item.image.convert("RGB"), (x, header))
        y = header + height + margin
        draw.text((x, y), f"seed {item.request.seed}", fill=(110, 110, 110), font=text_font)
        for number, line in enumerate(lines, start=1):
            draw.text((x, y + number * line_height), line, fill=(20, 20, 20), font=text_font)
    return sheet
