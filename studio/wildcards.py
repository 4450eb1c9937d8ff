"""Prompt wildcards and per-image choices.

`__name__` picks one line of `name.txt` (from the user's wildcards folder, then the shipped ones), seeded by
the image's seed, so one seed always makes the same pick. `[[a, b, c]]` gives image i of a job the i-th
choice (cycling), the way Fooocus's array syntax lets one job sweep over options. Wildcard files may use
other wildcards, a few levels deep.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

from studio.types import InvalidRequest

SHIPPED_WILDCARDS = Path(__file__).parent / "wildcards"
WILDCARD = re.compile(r"__([A-Za-z0-9_\-]+?)__")
CHOICES = re.compile(r"\[\[([^\[\]]*)\]\]")
MAX_DEPTH = 5
MAX_WILDCARD_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class WildcardLibrary:
    folders: tuple[Path, ...] = (SHIPPED_WILDCARDS,)

    def names(self) -> tuple[str, ...]:
        return tuple(sorted({path.stem for folder in self.folders for path in Path(folder).glob("*.txt")}))

    def lines(self, name: str) -> tuple[str, ...]:
        for folder in self.folders:
            path = Path(folder) / f"{name}.txt"  # the name pattern allows no path separators
            if path.is_file():
                if path.stat().st_size > MAX_WILDCARD_FILE_BYTES:
                    raise InvalidRequest("prompt", f"wildcard file {path.name} is larger than 1 MB")
                lines = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines())
                lines = tuple(line for line in lines if line and not line.startswith("#"))
                if lines:
                    return lines
        raise InvalidRequest("prompt", f"__{name}__ names no wildcard file; known: {', '.join(self.names()) or 'none'}")

    def expand(self, text: str, seed: int, index: int) -> str:
        """The text with `[[...]]` choices made for image `index` and `__name__` wildcards filled for `seed`."""
        text = CHOICES.sub(lambda match: _choice(match.group(1), index), text)
        rng = random.Random(seed)
        for _ in range(MAX_DEPTH):
            if not WILDCARD.search(text):
                break
            text = WILDCARD.sub(lambda match: rng.choice(self.lines(match.group(1))), text)
        return text


def _choice(options: str, index: int) -> str:
    choices = [option.strip() for option in options.split(",")]
    return choices[index % len(choices)]
