"""Prompt wildcards and per-image choices.

`__name__` picks one line of `name.txt` (from the user's wildcards folder, then the shipped ones), seeded by
the image's seed, so one seed always makes the same pick; read in order, image i takes line i (cycling).
`[[a, b, c]]` arrays (Fooocus's syntax) sweep one job over options: the arrays of a text form a Cartesian
product, numbered with the first array changing fastest, and image i takes combination i (cycling), so
`[[a, b]] [[x, y, z]]` with an image count of 6 makes every pair once. Wildcard files may use other
wildcards, a few levels deep.
"""

from __future__ import annotations

import math
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

    def expand(self, text: str, seed: int, index: int, in_order: bool = False) -> str:
        """The text with `[[...]]` arrays set to combination `index` and `__name__` wildcards filled: each
        with a line picked by `seed`, or, `in_order`, with line `index` of its file."""
        text = apply_arrays(text, index)
        rng = random.Random(seed)

        def pick(match: re.Match) -> str:
            lines = self.lines(match.group(1))
            return lines[index % len(lines)] if in_order else rng.choice(lines)

        for _ in range(MAX_DEPTH):
            if not WILDCARD.search(text):
                break
            text = WILDCARD.sub(pick, text)
        return text


def array_options(text: str) -> list[list[str]]:
    """The options of each `[[...]]` array in `text`, in order."""
    return [[option.strip() for option in match.group(1).split(",")] for match in CHOICES.finditer(text)]


def combination_count(text: str) -> int:
    """How many distinct prompts the arrays of `text` make (1 without arrays): the image count that makes
    each exactly once."""
    return math.prod(len(options) for options in array_options(text))


def apply_arrays(text: str, index: int) -> str:
    """`text` with its arrays set to combination `index` of their Cartesian product (first array fastest)."""
    remaining = index % combination_count(text)

    def choose(match: re.Match) -> str:
        nonlocal remaining
        options = [option.strip() for option in match.group(1).split(",")]
        remaining, chosen = divmod(remaining, len(options))
        return options[chosen]

    return CHOICES.sub(choose, text)
