"""The line at the top that says which model is loaded, where, and whether its pictures can mean anything."""

from __future__ import annotations

from html import escape

from studio.types import ModelInfo
from studio.ui.i18n import say

RANDOM_WEIGHTS_NOTICE = "random weights (tiny test model): images are noise"

BANNER_CSS = """
.studio-banner { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem 1.25rem;
  padding: 0.6rem 0.9rem; border-radius: 10px; background: var(--block-background-fill);
  border: 1px solid var(--border-color-primary); font-size: 0.95rem; }
.studio-banner h1 { margin: 0; font-size: 1.25rem; font-weight: 700; }
.studio-banner .fact { color: var(--body-text-color-subdued); }
.studio-banner .fact b { color: var(--body-text-color); font-weight: 600; }
.studio-banner .warning { padding: 0.15rem 0.6rem; border-radius: 999px; font-weight: 600;
  background: #fff4d6; color: #8a5a00; border: 1px solid #f1c35b; }
"""


def banner_html(info: ModelInfo) -> str:
    facts = [
        f'<span class="fact">{escape(say("Model"))} <b>{escape(info.name)}</b></span>',
        f'<span class="fact">{escape(say("Device"))} <b>{escape(info.device)}</b> ({escape(info.dtype)})</span>',
    ]
    if info.random_weights:  # in the page's language when a page asks (page load, model switch)
        facts.append(f'<span class="warning" role="status">⚠ {escape(say(RANDOM_WEIGHTS_NOTICE))}</span>')
    return f'<div class="studio-banner"><h1>SDXL Studio</h1>{"".join(facts)}</div>'
