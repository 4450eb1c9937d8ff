"""Who may use the studio: `user:pass` pairs (for the UI's login and HTTP basic auth on the API) and API
tokens (`Authorization: Bearer <token>`). No gradio or FastAPI here, so the rules are testable alone.

Each API caller is an owner of jobs: `user:<name>` for a user (basic auth, or the bearer token derived from
that user's password, see `derived_token`), `token:<hash prefix>` for a configured token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
from dataclasses import dataclass
from pathlib import Path

from studio.settings import SettingsError

ANONYMOUS = "anonymous"
MAX_AUTH_FILE_BYTES = 1024 * 1024
MAX_TOKEN_NAMES = 1000  # names token holders may log in to the UI with, all tokens together, until restart


def parse_credential(text: str, where: str = "--auth") -> tuple[str, str]:
    user, colon, password = text.strip().partition(":")
    if not colon or not user or not password:
        raise SettingsError(f"{where}: '{user or text.strip()}…' is not user:password (both parts non-empty)")
    return user, password


def read_auth_file(path: Path | str) -> list[tuple[str, str]]:
    """Lines `user:password`; blank lines and lines starting with # are ignored."""
    path = Path(path).expanduser()
    try:
        if path.stat().st_size > MAX_AUTH_FILE_BYTES:
            raise SettingsError(f"--auth-file {path}: larger than {MAX_AUTH_FILE_BYTES} bytes")
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise SettingsError(f"--auth-file {path}: cannot be read ({error.strerror or error})") from None
    pairs = []
    for number, line in enumerate(lines, 1):
        if line.strip() and not line.lstrip().startswith("#"):
            pairs.append(parse_credential(line, f"--auth-file {path} line {number}"))
    if not pairs:
        raise SettingsError(f"--auth-file {path}: holds no user:password line")
    return pairs


def derived_token(user: str, password: str) -> str:
    """A user's API bearer token, derived from their credentials: `python -m studio.auth user:pass` prints it."""
    return hashlib.sha256(f"studio-api-token\0{user}\0{password}".encode()).hexdigest()


@dataclass(frozen=True)
class Auth:
    users: tuple[tuple[str, str], ...] = ()
    tokens: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.users or self.tokens)

    def check_password(self, user: str, password: str) -> bool:
        """For the UI's login form (gradio calls it with the typed user and password)."""
        ok = False
        for known_user, known_password in self.users:
            # compare every entry, in constant time, so timing does not tell which user exists
            ok |= hmac.compare_digest(known_user.encode(), user.encode()) & hmac.compare_digest(
                known_password.encode(), password.encode()
            )
        return ok

    def owner_of(self, authorization: str | None) -> str | None:
        """The owner named by an `Authorization` header, ANONYMOUS when auth is off, None when refused."""
        if not self.enabled:
            return ANONYMOUS
        if not authorization:
            return None
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and value:
            for token in self.tokens:
                if hmac.compare_digest(token.encode(), value.encode()):
                    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:12]
            for user, password in self.users:
                if hmac.compare_digest(derived_token(user, password).encode(), value.encode()):
                    return f"user:{user}"
            return None
        if scheme.lower() == "basic" and value:
            try:
                decoded = base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return None
            user, _, password = decoded.partition(":")
            return f"user:{user}" if self.check_password(user, password) else None
        return None


class UiLogins:
    """The UI's login check (gradio calls `check` with the typed name and password) and the owner each
    logged-in name stands for (`owner_of`), so a user's UI and API calls are one owner with one set of images.

    A user logs in with their name and password and is `user:<name>`. A token holder (token-only setups) logs
    in with a name of their choosing and the token as password, and is that token's owner. gradio remembers
    only the name, so a name is bound to the first token that logs in with it (until restart): another token
    is refused that name, and no token may take a user's name.
    """

    def __init__(self, auth: Auth):
        self.auth = auth
        self._user_names = frozenset(user for user, _ in auth.users)
        self._token_names: dict[str, str] = {}  # a name logged in with a token -> that token's owner
        self._lock = threading.Lock()

    def check(self, user: str, password: str) -> bool:
        if self.auth.check_password(user, password):
            return True
        owner = self.auth.owner_of(f"Bearer {password}")
        if owner == f"user:{user}":  # a user's derived token, under that user's own name
            return True
        if owner is None or not owner.startswith("token:") or user in self._user_names:
            return False
        with self._lock:
            if user not in self._token_names and len(self._token_names) >= MAX_TOKEN_NAMES:
                return False
            return self._token_names.setdefault(user, owner) == owner

    def owner_of(self, name: str | None) -> str | None:
        """The owner a logged-in name stands for; None for a name nobody logged in with."""
        if not name:
            return None
        if name in self._user_names:
            return f"user:{name}"
        with self._lock:
            return self._token_names.get(name)


def main(argv: list[str] | None = None) -> int:
    """`python -m studio.auth user:pass` prints that user's derived API token."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m studio.auth user:password", file=sys.stderr)
        return 2
    try:
        print(derived_token(*parse_credential(args[0])))
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
