"""Passwords never leave tuner: every URL it prints or stores shows ``user:***@host``.

Storage and Redis URLs may carry a password (``postgresql://u:s3cret@host/db``). tuner echoes
URLs in errors, summaries, JSON, study user attrs, dashboard notes, report pages and the ledger,
and drivers (SQLAlchemy, psycopg, redis-py) echo them in their exception messages too. So masking
happens on text, not on one known field: any ``scheme://user:password@`` in a string is masked,
and so is any password literally known from a URL the user gave (it may appear without its URL,
e.g. ``password=s3cret`` in a libpq DSN).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote

MASK = "***"
# scheme://[user]:password@ — the password is everything up to the last "@" before the host.
_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@'\"]*:)(?P<pw>[^\s/'\"]*)@")
_KEYWORD = re.compile(r"(?P<head>\bpassword\s*[=:]\s*)(?P<pw>'[^']*'|\"[^\"]*\"|[^\s,;&)]+)",
                      re.IGNORECASE)
_known: set[str] = set()


def mask_url(url: str) -> str:
    """``redis://u:s3cret@host:6379/3`` -> ``redis://u:***@host:6379/3``; other URLs unchanged."""
    return _USERINFO.sub(lambda m: f"{m['head']}{MASK}@", url)


def password_of(url: str) -> str | None:
    """The password in ``url``'s userinfo as written (maybe percent-encoded), or None."""
    match = _USERINFO.search(url)
    return match["pw"] or None if match else None


def remember_secrets(urls: Iterable[str | None]) -> None:
    """Note the passwords of URLs the user gave, so they are masked wherever they show up."""
    for url in urls:
        password = password_of(url) if url else None
        if password:
            _known.update({password, unquote(password)})


def mask_secrets(text: str, urls: Iterable[str | None] = ()) -> str:
    """``text`` with URL passwords, ``password=...`` values and known passwords masked."""
    remember_secrets(urls)
    text = _USERINFO.sub(lambda m: f"{m['head']}{MASK}@", text)
    text = _KEYWORD.sub(lambda m: f"{m['head']}{MASK}", text)
    for secret in sorted(_known, key=len, reverse=True):
        if len(secret) >= 3:  # a one- or two-letter password would mask half the message
            text = text.replace(secret, MASK)
    return text


def mask_tree(value: object) -> object:
    """Mask every string inside a JSON-like value (dicts, lists, tuples)."""
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {key: mask_tree(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_tree(item) for item in value]
    return value


def missing_sqlite_file(storage: str) -> bool:
    """True for a ``sqlite:///`` URL whose database file does not exist (in-memory excluded)."""
    prefix = "sqlite:///"
    if not storage.startswith(prefix):
        return False
    path = storage[len(prefix):].split("?")[0]
    return path not in ("", ":memory:") and not Path(path).exists()
