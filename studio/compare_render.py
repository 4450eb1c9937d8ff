"""Pictures of a comparison, drawn with PIL: the labelled grid, a filmstrip, the convergence chart."""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from studio.compare import ComparisonResult, SamplerConvergence

BACKGROUND = (255, 255, 255)
TEXT = (20, 20, 20)
MUTED = (110, 110, 110)
GOOD = (20, 120, 40)
BAD = (190, 30, 30)
MISSING = (225, 225, 225)
PALETTE = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189), (140, 86, 75), (227, 119, 194), (23, 190, 207))  # fmt: skip


def font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: one fixed size
        return ImageFont.load_default()


@dataclass(frozen=True)
class GridLayout:
    """Where everything of a grid goes; labels scale with the cell size so they stay readable."""

    rows: int
    columns: int
    cell_width: int
    cell_height: int

    @property
    def scale(self) -> float:
        return max(1.0, min(self.cell_width, self.cell_height) / 256)

    @property
    def label_width(self) -> int:  # row labels: sampler name and verdict
        return round(150 * self.scale)

    @property
    def header_height(self) -> int:  # column labels: step counts
        return round(24 * self.scale)

    @property
    def caption_height(self) -> int:  # under each cell: its time
        return round(18 * self.scale)

    @property
    def font_size(self) -> int:
        return round(13 * self.scale)

    @property
    def size(self) -> tuple[int, int]:
        width = self.label_width + self.columns * self.cell_width
        height = self.header_height + self.rows * (self.cell_height + self.caption_height)
        return width, height

    def cell_origin(self, row: int, column: int) -> tuple[int, int]:
        return self.label_width + column * self.cell_width, self.header_height + row * (
            self.cell_height + self.caption_height
        )


def verdict_text(measured: SamplerConvergence | None) -> tuple[str, tuple[int, int, int]]:
    if measured is None or measured.convergent is None:
        return "", MUTED
    return ("converges", GOOD) if measured.convergent else ("does not converge", BAD)


def render_grid(result: ComparisonResult, samplers: tuple[str, ...] | None = None) -> Image.Image:
    """Rows are samplers (name and verdict), columns step counts, each cell captioned with its time."""
    request = result.request
    samplers = samplers or request.samplers
    width, height = request.base.width, request.base.height
    layout = GridLayout(len(samplers), len(request.step_counts), width, height)
    canvas = Image.new("RGB", layout.size, BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    text_font, small_font = font(layout.font_size), font(max(8, round(layout.font_size * 0.85)))
    for column, steps in enumerate(request.step_counts):
        x, _ = layout.cell_origin(0, column)
        draw.text((x + width / 2, layout.header_height / 2), f"{steps} steps", fill=TEXT, font=text_font, anchor="mm")
    for row, sampler in enumerate(samplers):
        _, y = layout.cell_origin(row, 0)
        middle = y + height / 2
        draw.text((6 * layout.scale, middle), sampler, fill=TEXT, font=text_font, anchor="ls")
        verdict, colour = verdict_text(result.convergence_of(sampler))
        draw.text((6 * layout.scale, middle + 4 * layout.scale), verdict, fill=colour, font=small_font, anchor="lt")
        for column, steps in enumerate(request.step_counts):
            x, y = layout.cell_origin(row, column)
            cell = result.cell(sampler, steps)
            caption_y = y + height + layout.caption_height / 2
            if cell is None:
                draw.rectangle((x, y, x + width - 1, y + height - 1), fill=MISSING)
                draw.text((x + width / 2, caption_y), "not made", fill=MUTED, font=small_font, anchor="mm")
                continue
            canvas.paste(cell.image.convert("RGB"), (x, y))
            draw.text((x + width / 2, caption_y), f"{cell.seconds:.2f} s", fill=MUTED, font=small_font, anchor="mm")
    return canvas


def render_filmstrip(result: ComparisonResult, sampler: str) -> Image.Image:
    """One sampler's step progression as a single labelled row."""
    return render_grid(result, samplers=(sampler,))


MEASURES = (("pixel_mad_to_final", "pixel mean |difference| to the largest step count"),
            ("latent_mad_to_final", "latent mean |difference| to the largest step count"))  # fmt: skip


def render_chart(result: ComparisonResult, panel_size: tuple[int, int] = (460, 320)) -> Image.Image:
    """Distance to the largest step count vs steps (log axis), one line per sampler, one panel per measure;
    the legend gives each sampler's verdict and fitted floor."""
    measured = result.convergence
    panel_width, panel_height = panel_size
    legend_height = 22 * max(1, len(measured)) + 10
    canvas = Image.new("RGB", (panel_width * len(MEASURES), panel_height + legend_height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    text_font, small_font = font(13), font(11)
    steps = sorted({n for m in measured for n in m.steps}) or list(result.request.step_counts)
    for index, (name, title) in enumerate(MEASURES):
        left = index * panel_width
        _draw_panel(
            draw, (left, 0, left + panel_width, panel_height), title, steps, measured, name, text_font, small_font
        )
    for index, m in enumerate(measured):
        y = panel_height + 8 + index * 22
        colour = PALETTE[index % len(PALETTE)]
        draw.line((12, y + 8, 40, y + 8), fill=colour, width=3)
        verdict, verdict_colour = verdict_text(m)
        floor = "" if m.floor is None else f"  (floor {m.floor:.4f}, {m.relative_floor:.0%} of first distance)"
        draw.text((48, y), m.sampler, fill=TEXT, font=text_font)
        draw.text((230, y), (verdict or "too few step counts to tell") + floor, fill=verdict_colour, font=text_font)
    return canvas


def _draw_panel(draw, box, title, steps, measured, name, text_font, small_font) -> None:
    left, top, right, bottom = box
    plot = (left + 58, top + 30, right - 16, bottom - 40)
    draw.text(((left + right) / 2, top + 12), title, fill=TEXT, font=text_font, anchor="mm")
    values = [v for m in measured for v in getattr(m, name)]
    highest = max(values, default=0.0) or 1.0
    low_step, high_step = math.log(min(steps)), math.log(max(steps))
    span = (high_step - low_step) or 1.0

    def point(n: int, value: float) -> tuple[float, float]:
        x = plot[0] + (math.log(n) - low_step) / span * (plot[2] - plot[0])
        y = plot[3] - value / highest * (plot[3] - plot[1])
        return x, y

    draw.rectangle(plot, outline=MUTED)
    for fraction in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = plot[3] - fraction * (plot[3] - plot[1])
        draw.line((plot[0] - 4, y, plot[0], y), fill=MUTED)
        draw.text((plot[0] - 6, y), f"{highest * fraction:.3g}", fill=MUTED, font=small_font, anchor="rm")
    for n in steps:
        x, _ = point(n, 0)
        draw.line((x, plot[3], x, plot[3] + 4), fill=MUTED)
        draw.text((x, plot[3] + 6), str(n), fill=MUTED, font=small_font, anchor="mt")
    draw.text(((plot[0] + plot[2]) / 2, bottom - 12), "steps", fill=MUTED, font=small_font, anchor="mm")
    for index, m in enumerate(measured):
        colour = PALETTE[index % len(PALETTE)]
        points = [point(n, v) for n, v in zip(m.steps, getattr(m, name))]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for x, y in points:
            draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=colour)
