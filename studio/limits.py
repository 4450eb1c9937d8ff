"""A field's limits and the error that names the field: the vocabulary every boundary check speaks.

No torch and no studio imports here, so any module can check its input with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


class InvalidRequest(ValueError):
    """Bad input, named by its field and the limit it broke; front ends show it as it is."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


def number_text(number: float) -> str:
    """A number as a person writes it: whole ones in full (9223372036854775807, never 9.22337e+18)."""
    if isinstance(number, int) or (isinstance(number, float) and number.is_integer()):
        return str(int(number))
    return f"{number:g}"


@dataclass(frozen=True)
class Limit:
    """Inclusive bounds of a number (`low`..`high`, on a grid of `multiple_of`) or a string's length (`high`)."""

    low: float = 0
    high: float = math.inf
    multiple_of: int | None = None

    def check(self, name: str, value: Any) -> None:
        if isinstance(value, str):
            if len(value) > self.high:
                raise InvalidRequest(name, f"is {len(value)} characters long; at most {int(self.high)} are allowed")
            return
        low, high = number_text(self.low), number_text(self.high)
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidRequest(name, f"must be a finite number between {low} and {high}")
        if not self.low <= value <= self.high:
            raise InvalidRequest(name, f"is {number_text(value)}; it must be between {low} and {high}")
        if self.multiple_of and value % self.multiple_of:
            raise InvalidRequest(name, f"is {number_text(value)}; it must be a multiple of {self.multiple_of}")


MAX_ECHO = 80  # characters of a client's value or key quoted back in an error


def echo(value: Any) -> str:
    """A client's value or key made safe to quote in an error: valid UTF-8 (a lone surrogate becomes
    `\\ud800`) and at most MAX_ECHO characters."""
    text = value if isinstance(value, str) else repr(value)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= MAX_ECHO else text[: MAX_ECHO - 1] + "…"


def check_text(name: str, value: str) -> str:
    """`value`, if it can be written as UTF-8. JSON's `"\\ud800"` escape decodes to a lone surrogate, which is
    no character: no PNG chunk, file or response can hold it, so it is refused here, at the boundary."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(name, "holds a lone surrogate (\\ud800-\\udfff), which is not text") from None
    return value
