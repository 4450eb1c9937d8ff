"""The one rule for names that pick a file from a user's library folder (LoRAs, checkpoints): a plain file
stem or folder name, never a path. Requests from the network name files only this way."""

from __future__ import annotations

import re

LIBRARY_NAME = re.compile(r"[\w .()+-]+")  # no path separators; with `is_library_name`, no leading dot


def is_library_name(name: object) -> bool:
    """Whether `name` can name a file in a library folder: word characters, spaces and `.()+-` only, not
    starting with a dot (so never `..`, `/etc/passwd` or `org/repo`)."""
    return isinstance(name, str) and LIBRARY_NAME.fullmatch(name) is not None and not name.startswith(".")
