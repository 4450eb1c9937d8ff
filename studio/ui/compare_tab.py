"""The "Compare samplers" tab: one prompt and seed over samplers x step counts, with convergence verdicts.

Uses the main settings (prompt, negative, seed, size, CFG, styles, LoRAs) by name; the grid runs in a worker
thread (the engine's lock serialises it with queue jobs), reports each cell, and Stop ends it keeping the
finished cells (each saved as a normal studio PNG). The grid, chart, metrics and filmstrips are written to
`<output dir>/comparisons/<time>_<seed>/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from studio.compare import CellDone, comparison_limit, run_comparison, write_comparison
from studio.compare_render import render_chart, render_grid
from studio.jobs import JobControl
from studio.schedulers import SAMPLER_NAMES
from studio.types import InvalidRequest, ProgressEvent
from studio.ui.comparison import (
    TABLE_HEADERS,
    Outcome,
    comparison_folder,
    comparison_request,
    follow_in_thread,
    table_rows,
    verdict_lines,
)
from studio.ui.fields import request_from_values
from studio.ui.guard import guarded, guarded_stream
from studio.ui.i18n import request_locale, say
from studio.ui.messages import user_message
from studio.ui.session import Session

if TYPE_CHECKING:
    from studio.services import Services

DEFAULT_SAMPLERS = ["DDIM", "Euler a"]  # the lecture's pair: one converges, one keeps adding noise
DEFAULT_STEP_COUNTS = "10,20,40,80"
COMPARE_SAMPLERS = "Compare samplers"


@dataclass(frozen=True)
class CompareWidgets:
    samplers: gr.Dropdown
    step_counts: gr.Textbox
    run: gr.Button
    stop: gr.Button
    progress: gr.Markdown
    grid: gr.Image
    chart: gr.Image
    table: gr.Dataframe
    verdicts: gr.Markdown


def build_compare_tab() -> CompareWidgets:
    samplers_limit, steps_limit = comparison_limit("samplers"), comparison_limit("step_counts")
    gr.Markdown(
        "Same prompt, seed, size and guidance as the main settings; rows are samplers, columns step counts. "
        "A converging sampler settles on one picture as steps grow; an ancestral one keeps changing it."
    )
    with gr.Row(equal_height=True):
        samplers = gr.Dropdown(
            choices=list(SAMPLER_NAMES),
            value=[name for name in DEFAULT_SAMPLERS if name in SAMPLER_NAMES],
            multiselect=True,
            max_choices=int(samplers_limit.high),
            label=f"Samplers (up to {int(samplers_limit.high)})",
            scale=3,
            elem_id="studio-compare-samplers",
        )
        step_counts = gr.Textbox(
            value=DEFAULT_STEP_COUNTS,
            label=f"Step counts (up to {int(steps_limit.high)})",
            max_lines=1,
            scale=2,
            elem_id="studio-compare-steps",
        )
    with gr.Row():
        run = gr.Button("Run comparison", variant="primary", elem_id="studio-compare-run")
        stop = gr.Button("Stop", variant="stop", interactive=False, elem_id="studio-compare-stop")
    progress = gr.Markdown("", elem_id="studio-compare-progress")
    grid = gr.Image(label="Grid", type="pil", interactive=False, elem_id="studio-compare-grid")
    verdicts = gr.Markdown("", elem_id="studio-compare-verdicts")
    chart = gr.Image(
        label="Convergence chart", show_label=False, type="pil", interactive=False, elem_id="studio-compare-chart"
    )
    table = gr.Dataframe(
        headers=list(TABLE_HEADERS), label="Measures", interactive=False, elem_id="studio-compare-table"
    )
    return CompareWidgets(samplers, step_counts, run, stop, progress, grid, chart, table, verdicts)


def compare_handler(services: Services):
    """The Run handler: a generator of widget-name -> value dicts (names are CompareWidgets fields, plus
    "seed" for the main seed box), so it is testable without a browser."""

    def run(session: Session, samplers: list[str], step_counts: str, **values: Any):
        if not str(values.get("prompt") or "").strip():
            raise InvalidRequest("prompt", "write a prompt first, then run the comparison")
        base = request_from_values(values, services.manager.info)
        request = comparison_request(base, samplers, step_counts, services.manager.info_for(base.model).size_limit)
        control = JobControl()
        session.comparison = control
        count = len(request.cells())
        yield {
            "seed": str(request.base.seed),
            "progress": say(f"Queued {count} cells · seed {request.base.seed}"),
            "stop": True,
        }

        store = services.store.space(session.owner_id())  # this user's own images (all of them without logins)

        def work(report):
            result = run_comparison(
                services.engine, request, store, on_cell=report, on_progress=report, control=control
            )
            paths = (
                write_comparison(result, comparison_folder(store.root, request.base.seed))
                if result.cells
                else {}
            )
            return result, paths

        done = 0
        try:
            for item in follow_in_thread(work, on_abandon=control.stop, name="sampler-comparison"):
                if isinstance(item, CellDone):
                    done += 1
                    yield {"progress": say(f"Cell {done}/{count} done: {item.cell.sampler}, {item.cell.steps} steps")}
                elif isinstance(item, ProgressEvent):
                    sampler, steps = request.cells()[item.image_index]
                    yield {
                        "progress": say(
                            f"Cell {item.image_index + 1}/{count} ({sampler}, {steps} steps) · step {item.step}/{item.total_steps}"
                        )
                    }
                elif isinstance(item, Outcome):
                    if item.error is not None:
                        raise item.error
                    result, paths = item.value
                    state = "Stopped" if result.stopped else "Done"
                    where = f" · saved in the outputs folder as `{shown_folder(paths)}`" if paths else ""
                    yield {
                        "progress": say(f"{state}: {len(result.cells)} of {count} cells{where}"),
                        "grid": render_grid(result) if result.cells else None,
                        "chart": render_chart(result) if result.convergence else None,
                        "table": table_rows(result),
                        "verdicts": verdict_lines(result),
                    }
        finally:
            if session.comparison is control:
                session.comparison = None

    return run


def shown_folder(paths: dict) -> str:
    """Where a comparison was saved, as the page shows it: `comparisons/<date>_<time>_<seed>` inside the
    outputs folder, never the server's own path to it."""
    parts = Path(paths["grid"]).parent.parts
    return "/".join(parts[parts.index("comparisons") :]) if "comparisons" in parts else parts[-1]


def wire_compare(services: Services, widgets) -> None:
    compare = widgets.compare
    targets = {name: getattr(compare, name) for name in ("progress", "grid", "chart", "table", "verdicts")}
    targets["seed"] = widgets.settings["seed"]
    handler = compare_handler(services)

    def run_in_ui(session: Session, samplers: list[str], step_counts: str, **values: Any):
        for update in handler(session, samplers, step_counts, **values):
            update.pop("stop", None)  # the buttons are locked by `begin` below
            yield {targets[name]: value for name, value in update.items()}

    def begin() -> dict:
        return {compare.run: gr.update(interactive=False), compare.stop: gr.update(interactive=True)}

    def end(error: BaseException | None) -> dict:
        updates = {compare.run: gr.update(interactive=True), compare.stop: gr.update(interactive=False)}
        if error is not None:  # never leave "Queued…" or a cell's progress on the page
            updates[compare.progress] = say(f"Comparison failed: {user_message(error, COMPARE_SAMPLERS, request_locale())}")
        return updates

    def stop(session: Session):
        if session.comparison is None:
            return gr.skip()
        session.comparison.stop()
        return say("Stopping after this step; finished cells are kept…")

    private = {"api_visibility": "private"}
    compare.run.click(
        guarded_stream(COMPARE_SAMPLERS, run_in_ui, begin, end),
        inputs=[widgets.session, compare.samplers, compare.step_counts],
        inputs_kwargs=widgets.settings,
        outputs=[*targets.values(), compare.stop, compare.run],
        show_progress="hidden",
        api_name="ui_compare_samplers",
        **private,
    )
    compare.stop.click(
        guarded("Stop", stop), inputs=widgets.session, outputs=compare.progress, queue=False, **private
    )
