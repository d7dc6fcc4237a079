"""Reading JSON a user hands over (configurations, train specs) within limits: a bounded
number of bytes (``/dev/zero`` is refused instead of read forever), a bounded nesting depth,
no ``NaN``/``Infinity`` (not JSON: they could not be written back) and no integer too long
to convert. Every refusal is a ``JsonLimitError`` with one clear message."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

MAX_JSON_BYTES = 64 * 2**20
"""Largest JSON file read (a real O2 configuration or full_config.json is well below 1 MB)."""
MAX_JSON_DEPTH = 32
"""Deepest nesting accepted (O2 configurations nest 4 levels: task, parameter, values, row)."""


class JsonLimitError(ValueError):
    """JSON text that is too large, too deep or not strict JSON."""


def read_limited_bytes(path: str | os.PathLike[str], limit: int = MAX_JSON_BYTES) -> bytes:
    """At most ``limit`` bytes of ``path``; JsonLimitError when it has more (a device such as
    /dev/zero, or a file far larger than any configuration). OSError passes through."""
    with Path(path).open("rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise JsonLimitError(
            f"more than {limit // 2**20} MB: refused (a device such as /dev/zero, or the wrong file?)"
        )
    return data


def _reject_constant(name: str) -> Any:
    raise JsonLimitError(f"{name} is not valid JSON (write numbers as finite values or strings)")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise JsonLimitError(f"the number {text} is out of range (beyond a 64-bit float)")
    return value


def _check_depth(doc: Any, limit: int) -> None:
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            raise JsonLimitError(f"nested more than {limit} levels deep")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def loads_limited(text: str | bytes, *, max_depth: int = MAX_JSON_DEPTH, **kwargs: Any) -> Any:
    """``json.loads`` of strict JSON within the limits. ``json.JSONDecodeError`` (with its
    line and column) passes through; every other refusal is a JsonLimitError."""
    try:
        kwargs.setdefault("parse_float", _finite_float)
        doc = json.loads(text, parse_constant=_reject_constant, **kwargs)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise JsonLimitError(f"nested more than {max_depth} levels deep") from None
    except JsonLimitError:
        raise
    except UnicodeDecodeError as exc:
        raise JsonLimitError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:  # an integer of thousands of digits
        message = str(exc).split(";")[0]
        raise JsonLimitError(f"a number is too large: {message}") from None
    _check_depth(doc, max_depth)
    return doc
