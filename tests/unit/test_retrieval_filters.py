"""User filters (``key=value`` strings and the API's JSON object) → index filters, and their errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from citewise.errors import InvalidRequest
from citewise.index import TENANT_FIELD, Filter, Match, MatchAny, Prefix, Range
from retrieval.filters import FILTER_KEYS, access_filter, parse_filter_args, parse_filter_object, parse_time

EPOCH_2024_05_31 = datetime(2024, 5, 31, tzinfo=UTC).timestamp()


def test_no_filters_is_none() -> None:
    assert parse_filter_args([]) is None
    assert parse_filter_object(None) is None
    assert parse_filter_object({}) is None


@pytest.mark.parametrize(
    ("arg", "condition"),
    [
        ("doc_id=abc123", Match("doc_id", "abc123")),
        ("file_type=PDF", Match("file_type", "pdf")),
        ("file_type=.docx", Match("file_type", "docx")),
        ("lang=ZH", Match("lang", "zh")),
        ("source=/data/reports/", Filter(should=(Prefix("source", "/data/reports/"),))),
        ("tag=team=legal", Match("tag_pairs", "team=legal")),
        ("modified_after=2024-05-31", Range("modified_at", gte=EPOCH_2024_05_31)),
        ("modified_before=2024-05-31", Range("modified_at", lte=EPOCH_2024_05_31)),
        ("modified_after=1717113600", Range("modified_at", gte=1717113600.0)),
    ],
)
def test_each_key(arg: str, condition: object) -> None:
    assert parse_filter_args([arg]) == Filter(must=(condition,))  # type: ignore[arg-type]


def test_every_documented_key_is_covered() -> None:
    assert set(FILTER_KEYS) == {"doc_id", "source", "file_type", "lang", "tag", "modified_after", "modified_before"}


def test_repeated_key_matches_any_value_and_keys_combine() -> None:
    flt = parse_filter_args(["file_type=pdf", "file_type=docx", "source=/a/", "source=/b/", "tag=x=1", "tag=y=2"])
    assert flt == Filter(
        must=(
            MatchAny("file_type", ("pdf", "docx")),
            Filter(should=(Prefix("source", "/a/"), Prefix("source", "/b/"))),
            Match("tag_pairs", "x=1"),  # tags: every one must hold
            Match("tag_pairs", "y=2"),
        )
    )


def test_date_range_keeps_the_narrowest_bounds() -> None:
    flt = parse_filter_args(["modified_after=100", "modified_after=200", "modified_before=900", "modified_before=800"])
    assert flt == Filter(must=(Range("modified_at", gte=200.0), Range("modified_at", lte=800.0)))


def test_value_may_contain_equals_and_spaces_are_trimmed() -> None:
    assert parse_filter_args([" tag = a=b=c "]) == Filter(must=(Match("tag_pairs", "a=b=c"),))


def test_iso_datetimes_with_and_without_zone() -> None:
    assert parse_time("2024-05-31T02:00:00+02:00") == EPOCH_2024_05_31
    assert parse_time("2024-05-31T00:00:00") == EPOCH_2024_05_31  # no zone: UTC


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("file_type", "must look like key=value"),
        ("=pdf", "must look like key=value"),
        ("file_type=", "must look like key=value"),
        ("author=me", "unknown filter 'author'"),
        ("tag=legal", "tag filter 'legal' must look like key=value"),
        ("tag==x", "tag filter '=x' must look like key=value"),
        ("modified_after=yesterday", "date 'yesterday' is not an ISO date"),
        ("modified_before=nan", "date 'nan' is not an ISO date"),
    ],
)
def test_bad_filters_say_what_to_do(arg: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        parse_filter_args([arg])
    assert message in err.value.message
    if "unknown" in message or "key=value" in message:
        assert "doc_id=ID" in err.value.message  # lists the valid filters


def test_json_object_form() -> None:
    flt = parse_filter_object(
        {"file_type": ["pdf", "docx"], "tag": {"team": "legal"}, "doc_id": "d1", "modified_after": 100}
    )
    assert flt == Filter(
        must=(
            MatchAny("file_type", ("pdf", "docx")),
            Match("tag_pairs", "team=legal"),
            Match("doc_id", "d1"),
            Range("modified_at", gte=100.0),
        )
    )


@pytest.mark.parametrize("value", [None, True, {"a": 1}, 1.5j])
def test_json_object_rejects_unusable_values(value: object) -> None:
    with pytest.raises(InvalidRequest, match="unusable value"):
        parse_filter_object({"doc_id": value})


def test_json_object_rejects_unknown_keys() -> None:
    with pytest.raises(InvalidRequest, match="unknown filter 'owner'"):
        parse_filter_object({"owner": "me"})


def test_access_filter_and_combination() -> None:
    tenant = access_filter("acme")
    assert tenant == Filter(must=(Match(TENANT_FIELD, "acme"),))
    user = parse_filter_args(["doc_id=x"])
    assert tenant & user == Filter(must=(tenant, user))
    assert tenant & None == tenant
