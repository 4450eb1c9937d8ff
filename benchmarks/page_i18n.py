"""What the translated page costs a browser: seconds from opening the page to a ready Generate button, the
studio's page with its translations (issue 18A) against the same page without them, alternating, in one run.

`python -m benchmarks.page_i18n [--rounds N] [--locale zh-CN]` (tiny model, Debian chromium, CPU).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

CHROMIUM = "/usr/bin/chromium"


def _serve(services, translated: bool):
    from studio.ui import blocks

    localize = blocks.localize
    if not translated:  # the page as it was before: no markers, no translations
        blocks.localize = lambda demo, i18n: demo
    try:
        demo = blocks.build_ui(services)
    finally:
        blocks.localize = localize
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    i18n = demo.i18n_instance if translated else None
    demo.queue().launch(server_port=port, prevent_thread_lock=True, quiet=True, i18n=i18n)
    return demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--locale", default="zh-CN", help="the browser's language")
    args = parser.parse_args(argv)
    from playwright import sync_api

    from studio.services import build_services
    from studio.settings import Settings

    folder = Path(tempfile.mkdtemp())
    services = build_services(Settings(model="tiny", models_dir=folder / "m", output_dir=folder / "o", device="cpu"))
    pages = {"translated": _serve(services, True), "untranslated": _serve(services, False)}
    seconds: dict[str, list[float]] = {name: [] for name in pages}
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        context = browser.new_context(locale=args.locale)
        for _ in range(args.rounds):
            for name, demo in pages.items():
                page = context.new_page()
                start = time.perf_counter()
                page.goto(demo.local_url)
                page.locator("#studio-generate:not([disabled])").wait_for(timeout=120_000)
                seconds[name].append(time.perf_counter() - start)
                page.close()
        browser.close()
    for demo in pages.values():
        demo.close()
    medians = {name: statistics.median(times) for name, times in seconds.items()}
    print(f"page ready in a {args.locale} Chromium, {args.rounds} rounds alternating (median seconds):")
    for name, times in seconds.items():
        print(f"  {name:13} {medians[name]:6.2f}   [{', '.join(f'{t:.2f}' for t in times)}]")
    print(f"  ratio translated/untranslated: {medians['translated'] / medians['untranslated']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
