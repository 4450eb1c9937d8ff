"""The Gradio front end: layout, event wiring and the `/generate` API over the shared engine.

Nothing here imports torch or diffusers, and nothing is built at import time: `build_ui(services)` makes
a fresh app whose per-session state lives in `gr.State`.
"""

from studio.ui.blocks import build_ui

__all__ = ["build_ui"]
