"""RFC 8785 canonical JSON, byte-identical to ``src/lib/protocol/canonical-json.ts``.

Object members sorted by UTF-16 code units, no whitespace, strings escaped as ECMAScript's
``JSON.stringify`` does, numbers in the ECMAScript Number-to-String form (shortest round-trip
digits; exponent form below 1e-6 and from 1e21). What the oracle verifies signatures over.
"""

import json
import math
from decimal import Decimal


class CanonicalJsonError(ValueError):
    """A value has no JSON representation (NaN, Infinity, a non-JSON type)."""


def _number(value):
    if isinstance(value, int) and abs(value) < 10**21:
        return str(value)
    value = float(value)
    if not math.isfinite(value):
        raise CanonicalJsonError(f"non-finite number {value}")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # repr() gives the shortest digits that round-trip, as ECMAScript does.
    parts = Decimal(repr(abs(value))).as_tuple()
    raw = "".join(map(str, parts.digits))
    digits = raw.rstrip("0") or "0"
    k = len(digits)
    n = parts.exponent + len(raw)
    # ECMAScript Number::toString with value = 0.digits × 10^n and k significant digits.
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"


def canonicalize(value):
    """The RFC 8785 canonical JSON text of ``value``."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonicalize(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value.keys(), key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canonicalize(value[k]) for k in keys) + "}"
    raise CanonicalJsonError(f"{type(value).__name__} has no JSON representation")


def canonical_bytes(value):
    """UTF-8 bytes of ``canonicalize(value)``."""
    return canonicalize(value).encode("utf-8")
