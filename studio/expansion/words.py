"""Word lists for steering the local expander: the project's descriptive-word list and a prompt's own words."""

from __future__ import annotations

import functools
import re
from importlib import resources

POSITIVE_WORDS_FILE = "positive_words.txt"
# Words the expansion may repeat freely: repeating "a" or "with" is grammar, not redundancy.
STOPWORDS = frozenset(
    """a an the and or but nor of in on at to for from by with without into onto over under up down out
    off as is are was were be been being it its this that these those there here his her their our your
    my who whom which what when where while very so than then too also not no yes all any some each
    every one two""".split()  # noqa: SIM905
)
WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)


@functools.lru_cache(maxsize=1)
def positive_words() -> tuple[str, ...]:
    """The descriptive words and phrases of `positive_words.txt`, in file order, without duplicates."""
    text = resources.files(__package__).joinpath(POSITIVE_WORDS_FILE).read_text(encoding="utf-8")
    entries = (line.strip() for line in text.splitlines())
    return tuple(dict.fromkeys(entry for entry in entries if entry and not entry.startswith("#")))


def words_of(text: str) -> list[str]:
    """The words of `text`, lower-cased (letters and digits; punctuation separates words)."""
    return [word.lower() for word in WORD.findall(text)]


def prompt_words(prompt: str) -> frozenset[str]:
    """The prompt's own content words, which the expansion must not repeat."""
    return frozenset(word for word in words_of(prompt) if word not in STOPWORDS)
