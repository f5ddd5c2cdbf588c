"""Short, URL-safe, time-sortable ids: a one-letter prefix, 10 chars of milliseconds, 6 random chars.

The store makes them; the MCP server and the agent recognise asset ids in what users type, without
depending on the store (the agent reaches images only through MCP).
"""

from __future__ import annotations

import re
import secrets

# Crockford's base32 (no i, l, o, u), lower case: ids survive URLs, file names and being read aloud.
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_TIME_CHARS = 10  # 50 bits of milliseconds: good until the year 37648
_RANDOM_CHARS = 6  # 30 random bits: collisions within one millisecond are about one in a billion

ASSET_PREFIX = "a"
JOB_PREFIX = "j"
# What an asset id looks like, for callers telling ids apart from paths or base64 (`a01jd5k2m8q3xyz7f`).
ASSET_ID_PATTERN = re.compile(rf"^{ASSET_PREFIX}[{_ALPHABET}]{{{_TIME_CHARS + _RANDOM_CHARS}}}$")


def _base32(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def new_id(prefix: str, now: float) -> str:
    """A fresh id such as `a01jd5k2m8q3xyz7f`; ids made later sort after ids made earlier."""
    millis = max(0, int(now * 1000))
    return prefix + _base32(millis, _TIME_CHARS) + _base32(secrets.randbits(5 * _RANDOM_CHARS), _RANDOM_CHARS)
