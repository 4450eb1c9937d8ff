"""A1111 emphasis in prompt text, parsed in linear time: `(a)` is weighted 1.1, `[a]` 1/1.1, `(a:1.3)` 1.3,
nested groups multiply, `\\(` is a literal bracket and a bracket without a partner is plain text.

compel's own parser (pyparsing) needs seconds for a long prompt and minutes for nested brackets (hitting
Python's recursion limit on deep ones), so the studio parses the syntax here and hands compel the weighted
fragments. compel encodes the whole prompt once more for every fragment weighted below 1, so their number is
bounded (`MAX_DEEMPHASISED`) where requests are validated, as is the nesting (weights multiply: 1.1 to the
2,000th overflows). No torch here: validation uses it without a model.
"""

from __future__ import annotations

import re

EMPHASIS_UP = 1.1  # A1111: each ( ) multiplies attention by 1.1, each [ ] divides by it
EMPHASIS_DOWN = round(1 / EMPHASIS_UP, 4)  # 0.9091, the weight compel has always been given for [ ]
# Each fragment weighted below 1 costs compel one more encoding of the whole prompt (up to ~50 CLIP chunks at
# the 4,000-character limit), so a prompt may hold this many; real prompts use a handful.
MAX_DEEMPHASISED = 16
MAX_EMPHASIS_DEPTH = 16  # ((((a)))) is 4 deep, 1.1**4 = 1.46; at 16 a plain ( ) group alone weighs 4.6
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")  # the weight in `(text:1.3)`

Fragment = tuple[str, float]


def has_emphasis(text: str) -> bool:
    return any(char in text for char in "()[]")


def _pairs(text: str) -> dict[int, int]:
    """Opening bracket index -> closing index, for the brackets that pair up (escaped ones never do)."""
    pairs: dict[int, int] = {}
    open_at: list[int] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            index += 2
            continue
        if char in "([":
            open_at.append(index)
        elif char in ")]" and open_at and text[open_at[-1]] == ("(" if char == ")" else "["):
            pairs[open_at.pop()] = index
        index += 1
    return pairs


def _explicit_weight(text: str, start: int, end: int) -> tuple[int, float] | None:
    """For a `(` group from `start` to `end` that ends in `:<number>`: (index of that colon, the number).

    Scans back from `end` over the number only, so each character is looked at by one group at most."""
    index = end - 1
    while index > start and text[index].isspace():
        index -= 1
    number_end = index + 1
    while index > start and (text[index].isdecimal() or text[index] in ".-"):
        index -= 1
    number = text[index + 1 : number_end]
    while index > start and text[index].isspace():
        index -= 1
    if index <= start or text[index] != ":" or text[index - 1] == "\\" or not _NUMBER.fullmatch(number):
        return None
    return index, float(number)


def _groups(text: str) -> tuple[dict[int, int], dict[int, float], dict[int, int]]:
    """(pairs, opening index -> the group's factor, colon index -> closing index for explicit weights)."""
    pairs = _pairs(text)
    factors: dict[int, float] = {}
    weight_text: dict[int, int] = {}
    for start, end in pairs.items():
        if text[start] == "[":
            factors[start] = EMPHASIS_DOWN
            continue
        explicit = _explicit_weight(text, start, end)
        factors[start] = EMPHASIS_UP if explicit is None else explicit[1]
        if explicit is not None:
            weight_text[explicit[0]] = end
    return pairs, factors, weight_text


def weighted_fragments(text: str) -> tuple[Fragment, ...]:
    """The prompt as (text, weight) fragments the way compel builds them: each stripped, empty ones dropped,
    neighbours of equal weight joined by a space; `(("", 1.0),)` for an empty prompt."""
    pairs, factors, weight_text = _groups(text)
    closing = set(pairs.values())
    pieces: list[Fragment] = []
    weight, outer = 1.0, []
    buffer: list[str] = []

    def flush() -> None:
        if buffer:
            pieces.append(("".join(buffer), weight))
            buffer.clear()

    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            following = text[index + 1]
            buffer.append(following if following in "()" else char + following)
            index += 2
            continue
        if index in pairs:
            flush()
            outer.append(weight)
            weight *= factors[index]
        elif index in closing:
            flush()
            weight = outer.pop()
        elif index in weight_text:  # `:1.3` of `(text:1.3)` is syntax, not text
            index = weight_text[index]
            continue
        else:
            buffer.append(char)
        index += 1
    flush()
    merged: list[Fragment] = []
    for piece, piece_weight in pieces:
        piece = piece.strip()
        if not piece:
            continue
        if merged and merged[-1][1] == piece_weight:
            merged[-1] = (f"{merged[-1][0]} {piece}", piece_weight)
        else:
            merged.append((piece, piece_weight))
    return tuple(merged) or (("", 1.0),)


def to_compel_syntax(text: str) -> str:
    """The prompt in compel's syntax: `(a:1.3)` -> `(a)1.3`, `(a)` -> `(a)1.1`, `[a]` -> `(a)0.9091`;
    escapes kept and unpaired brackets escaped. (The studio hands compel `weighted_fragments`; this text is
    what compel's pooled embedding reads, as it always has.)"""
    pairs, factors, weight_text = _groups(text)
    closing = {end: start for start, end in pairs.items()}
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            out.append(text[index : index + 2])
            index += 2
            continue
        if index in pairs:
            out.append("(")
        elif index in closing:
            start = closing[index]
            factor = factors[start]
            out.append(f"){factor:.4f}" if text[start] == "[" else f"){factor:g}")
        elif index in weight_text:
            index = weight_text[index]
            continue
        elif char in "([":
            out.append("\\(")  # an unclosed bracket is text, not emphasis
        elif char in ")]":
            out.append("\\" + char)
        else:
            out.append(char)
        index += 1
    return "".join(out)


def emphasis_problem(text: str) -> str | None:
    """Why the prompt's emphasis would cost too much or mean nothing, or None when it is fine."""
    pairs = _pairs(text)
    closing = set(pairs.values())
    depth = deepest = 0
    for index in sorted((*pairs, *closing)):
        depth += 1 if index in pairs else -1
        deepest = max(deepest, depth)
    if deepest > MAX_EMPHASIS_DEPTH:
        return f"nests brackets {deepest} deep; at most {MAX_EMPHASIS_DEPTH} are allowed (or escape them: \\( )"
    deemphasised = sum(1 for _, weight in weighted_fragments(text) if weight < 1)
    if deemphasised > MAX_DEEMPHASISED:
        return (
            f"has {deemphasised} de-emphasised parts ([...] or a weight below 1); at most {MAX_DEEMPHASISED} are "
            "allowed, as each one costs a whole extra encoding of the prompt"
        )
    return None
