"""Small helpers every benchmark shares: the results table, the machine description, resident memory."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Sequence


def format_table(rows: Sequence[dict], columns: Sequence[tuple[str, str, str]]) -> str:
    """Rows of dicts as a fixed-width text table. `columns` are (key, header, format spec) triples; a
    missing or None value shows as '-'. The first column is left-aligned, the others right-aligned."""
    cells = [[header for _key, header, _spec in columns]]
    for row in rows:
        line = []
        for key, _header, spec in columns:
            value = row.get(key)
            line.append("-" if value is None else format(value, spec) if spec else str(value))
        cells.append(line)
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    text = []
    for number, line in enumerate(cells):
        text.append(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))
            ).rstrip()
        )
        if number == 0:
            text.append("  ".join("-" * w for w in widths))
    return "\n".join(text)


def rss_bytes() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def cpu_model() -> str:
    try:
        for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    import diffusers
    import torch

    info = {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "python": platform.python_version(),
        "cuda_available": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    return info
