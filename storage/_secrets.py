"""Database passwords: remembered when a storage URL is read, removed from all output.

Every storage value hpsearch reads (``--storage``, ``HPSEARCH_STORAGE``, a worker's task) goes
through :func:`register_secrets_in` *before* it is parsed, so a password is known even when
the value turns out to be malformed. :func:`redact` then removes it, in every spelling it may
take (as typed, percent-encoded, decoded), from any text: messages, logs, the stored command
line, study and trial attributes. Credential-shaped text whose password was never registered
(``scheme://user:PASS@``, ``password=PASS`` in a query string or a libpq keyword DSN) is masked
too, so a URL from an older study or another tool is not shown in clear either. A password
shorter than :data:`MIN_BARE_SECRET` characters is masked only in those credential shapes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TextIO
from urllib.parse import quote, quote_plus, unquote, unquote_plus

MASK = "***"
# A password shorter than this is masked only where it stands as a credential (user:PW@,
# password=PW): replacing every "x" or "pw" in all output would make messages unreadable.
MIN_BARE_SECRET = 4

_SECRETS: set[str] = set()

# scheme://user:PASS@host: PASS runs to the last "@" of the word, so a password with an
# unencoded "@" (which SQLAlchemy would cut at the first one) is masked whole.
_USERINFO = re.compile(
    r"(?P<pre>[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"`]*:)(?P<secret>[^\s'\"`]+)(?=@)"
)
# password=PASS in a query string (?password=, &password=) or a libpq keyword DSN, where the
# value may be single-quoted (password='a b'). sslpassword unlocks a client key: also secret.
_KEYWORD = re.compile(
    r"(?P<pre>(?<![A-Za-z0-9_])(?:ssl)?password\s*=\s*)"
    r"(?P<secret>'(?:[^'\\]|\\.)*'?|[^\s&;'\"`]+)",
    re.IGNORECASE,
)
# user:PASS@ without a scheme: only for values read as a storage URL (register_secrets_in),
# where a mistyped URL may have lost its scheme.
_LOOSE_USERINFO = re.compile(r"[^\s:/@'\"`]*:(?P<secret>[^\s@'\"`/][^\s'\"`]*)(?=@)")
SECRET_QUERY_KEYS = ("password", "sslpassword")


def _spellings(secret: str) -> set[str]:
    """The ways ``secret`` can appear in text: as given, decoded and percent-encoded."""
    out = {secret}
    for decode in (unquote, unquote_plus):
        out.add(decode(secret))
    for value in list(out):
        out |= {quote(value, safe=""), quote_plus(value, safe=""), quote(value)}
        out.add(value.replace("\\", "\\\\").replace("'", "\\'"))  # libpq quoting
    return {s for s in out if len(s) >= MIN_BARE_SECRET and s != MASK}


def register_secret(secret: str | None) -> None:
    """Remember ``secret`` (and its encoded spellings) so :func:`redact` removes it."""
    if secret:
        _SECRETS.update(_spellings(str(secret)))


def _unquote_dsn(value: str) -> str:
    if value.startswith("'"):
        value = value[1:-1] if value.endswith("'") and len(value) > 1 else value[1:]
        value = re.sub(r"\\(.)", r"\1", value)
    return value


def register_secrets_in(text: str) -> None:
    """Remember every password written in ``text``, in any URL or DSN form, parsed or not."""
    for pattern in (_USERINFO, _LOOSE_USERINFO):
        for match in pattern.finditer(text):
            register_secret(match.group("secret"))
    for match in _KEYWORD.finditer(text):
        raw = match.group("secret")
        register_secret(raw)
        register_secret(_unquote_dsn(raw))


def _mask_match(match: re.Match[str]) -> str:
    return match.group("pre") + MASK


def redact(text: str) -> str:
    """``text`` without any database password: registered ones, and credential-shaped text."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    if "@" in text:
        text = _USERINFO.sub(_mask_match, text)
    if "password" in text.lower():
        text = _KEYWORD.sub(_mask_match, text)
    return text


def _mask_loose(match: re.Match[str]) -> str:
    return match.group(0)[: match.start("secret") - match.start()] + MASK


def redact_storage_value(text: str) -> str:
    """A storage value (a URL, maybe malformed) fit to quote: :func:`redact`, and any
    ``user:PASS@`` even without a scheme."""
    text = redact(text)
    if "@" in text:
        text = _LOOSE_USERINFO.sub(
            lambda m: m.group(0)[: m.start("secret") - m.start()] + MASK, text
        )
    return text


def redact_value(value: Any) -> Any:
    """``value`` (a JSON-like attribute value) with :func:`redact` applied to every string."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {redact_value(k): redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value


class RedactingStream:
    """A text stream that removes database passwords from everything written to it."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(redact(text))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
