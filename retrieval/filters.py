"""User-facing filters (``key=value`` strings or a JSON object) turned into index filters."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from citewise.errors import InvalidRequest
from citewise.index import ACL_FIELD, TENANT_FIELD, Condition, Filter, IsEmpty, Match, MatchAny, Prefix, Range

FILTER_KEYS = ("doc_id", "source", "file_type", "lang", "tag", "modified_after", "modified_before")
HELP = (
    "filters are doc_id=ID, source=PATH_PREFIX, file_type=pdf, lang=zh (ISO 639-1), tag=key=value, "
    "modified_after=DATE, modified_before=DATE (ISO dates or epoch seconds)"
)


def parse_filter_args(items: Iterable[str]) -> Filter | None:
    """``["file_type=pdf", "tag=team=legal"]`` → Filter; repeated keys of one kind match any of their values."""
    pairs: list[tuple[str, str]] = []
    for raw in items:
        key, sep, value = raw.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InvalidRequest(f"filter {raw!r} must look like key=value; {HELP}")
        pairs.append((key.strip(), value.strip()))
    return build_filter(pairs)


def parse_filter_object(data: Mapping[str, Any] | None) -> Filter | None:
    """``{"file_type": ["pdf", "docx"], "tag": {"team": "legal"}}`` → Filter (the API's JSON form)."""
    pairs: list[tuple[str, str]] = []
    for key, value in (data or {}).items():
        if key == "tag" and isinstance(value, Mapping):
            pairs.extend(("tag", f"{k}={v}") for k, v in value.items())
        elif isinstance(value, list | tuple):
            pairs.extend((key, str(v)) for v in value)
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            pairs.append((key, str(value)))
        else:
            raise InvalidRequest(f"filter {key!r} has an unusable value {value!r}; {HELP}")
    return build_filter(pairs)


def build_filter(pairs: Iterable[tuple[str, str]]) -> Filter | None:
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        if key not in FILTER_KEYS:
            raise InvalidRequest(f"unknown filter {key!r}; {HELP}")
        grouped.setdefault(key, []).append(value)
    must: list[Condition] = []
    for key, values in grouped.items():
        if key in ("doc_id", "file_type", "lang"):
            vals = tuple(values) if key == "doc_id" else tuple(v.lower().lstrip(".") for v in values)
            must.append(Match(key, vals[0]) if len(vals) == 1 else MatchAny(key, vals))
        elif key == "source":
            must.append(Filter(should=tuple(Prefix("source", v) for v in values)))
        elif key == "tag":
            for value in values:
                tag_key, sep, tag_value = value.partition("=")
                if not sep or not tag_key or not tag_value:
                    raise InvalidRequest(f"tag filter {value!r} must look like key=value; {HELP}")
                must.append(Match("tag_pairs", f"{tag_key}={tag_value}"))
        elif key == "modified_after":
            must.append(Range("modified_at", gte=max(parse_time(v) for v in values)))
        else:
            must.append(Range("modified_at", lte=min(parse_time(v) for v in values)))
    return Filter(must=tuple(must)) if must else None


def parse_time(value: str) -> float:
    """ISO date/datetime (UTC when no zone is given) or epoch seconds → epoch seconds."""
    try:
        number = float(value)
        if math.isfinite(number):
            return number
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"date {value!r} is not an ISO date (2024-05-31) or epoch seconds") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def access_filter(tenant: str, groups: Iterable[str] | None = None) -> Filter:
    """Only the chunks ``tenant`` may read; with ``groups``, also only those whose ACL allows one of them.

    A chunk ingested without ``--acl`` is open to its whole tenant; one with ACL groups only to callers in one of
    them. ``groups=None`` means no ACL check (an operator or admin); ``()`` means a caller in no group.
    """
    tenant_only = Match(TENANT_FIELD, tenant)
    if groups is None:
        return Filter(must=(tenant_only,))
    wanted = tuple(sorted(set(groups)))
    acl: tuple[Condition, ...] = (IsEmpty(ACL_FIELD), MatchAny(ACL_FIELD, wanted)) if wanted else (IsEmpty(ACL_FIELD),)
    return Filter(must=(tenant_only, Filter(should=acl)))
