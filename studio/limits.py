"""A field's limits and the error that names the field: the vocabulary every boundary check speaks.

No torch and no studio imports here, so any module can check its input with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
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


def limited(default: Any, limit: Limit, help: str) -> Any:
    """A dataclass field with its limit and help beside it, read by widgets, CLI help and validation."""
    return field(default=default, metadata={"limit": limit, "help": help})


def text_list(name: str, value: Any) -> tuple[str, ...]:
    """A JSON list of texts, each checked, as a tuple."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise InvalidRequest(name, "must be a list of names")
    return tuple(check_text(f"{name}[{index}]", item) for index, item in enumerate(value))


def coerce(name: str, value: Any, expected: type) -> Any:
    """An untrusted JSON value as the field's type (int, float, str, bool); never a guess between them."""
    if expected is bool:  # JSON's true/false only: 0, 1 or "yes" are refused, not guessed at
        if not isinstance(value, bool):
            raise InvalidRequest(name, "must be true or false")
        return value
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, expected) or isinstance(value, bool):
        raise InvalidRequest(name, f"must be {'a number' if expected in (int, float) else 'text'}")
    if isinstance(value, float) and not math.isfinite(value):  # JSON's NaN and Infinity, or 1e999
        raise InvalidRequest(name, "must be a finite number")
    if isinstance(value, str):
        check_text(name, value)
    return value
