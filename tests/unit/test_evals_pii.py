"""The PII rule of exported eval sets (evals/pii.py): what is masked and what is kept."""

from __future__ import annotations

import pytest

from evals.pii import mask_pii


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("mail jane.doe@example.co.uk now", "mail [email] now"),
        ("call +1 (555) 010-9999.", "call [phone]."),
        ("ring 030 1234567 or 030/1234567", "ring [phone] or [phone]"),
        ("local 555-0199 today", "local [phone] today"),
        ("+49 30 1234 5678", "[phone]"),
        ("account 12345678901", "account [number]"),
        ("IBAN DE89370400440532013000", "IBAN DE[number]"),
    ],
)
def test_contact_and_account_data_is_masked(text: str, masked: str) -> None:
    assert mask_pii(text) == masked


@pytest.mark.parametrize(
    "text",
    ["In 1805 and 1812, on page 42.", "the war of 1805-1812", "on 12.05.2026 at 10.30", "ISO 2026-12-04",
     "version 3.11.2", "1,000,000 dollars", "pages 10-20"],
)  # fmt: skip
def test_years_dates_and_short_numbers_are_kept(text: str) -> None:
    assert mask_pii(text) == text
