"""The PII rule of exported eval sets (``citewise eval export-feedback``): what looks like contact or account data
is masked in every exported text (question, answer, correction, contexts, comment).

- an e-mail address (``name@host.tld``) becomes ``[email]``;
- a phone number, an optional ``+`` then 7 to 15 digits in groups joined by single spaces, dots, dashes,
  slashes or parentheses (``+1 (555) 010-9999``, ``030 1234567``, ``555-0199``), becomes ``[phone]`` (a range of two
  years, ``1805-1812``, and a date, ``12.05.2026``, are not);
- any other run of 6 or more digits (account, card, customer numbers) becomes ``[number]``.

Shorter numbers (years, counts, page numbers) are kept; names are not detected (a rule, not a model).
"""

from __future__ import annotations

import re

EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
PHONE = re.compile(r"(?<![\w+])\+?(?:\(\d{1,4}\)|\d{1,4})(?:[ .\-/]?\(\d{1,4}\)|[ .\-/]\d{2,8}){1,5}(?!\w)")
YEARS = re.compile(r"(1\d{3}|20\d{2})\s?[-–]\s?(1\d{3}|20\d{2})")
DATE = re.compile(r"\d{1,2}[./-]\d{1,2}[./-](\d{2}|\d{4})|\d{4}-\d{1,2}-\d{1,2}")
DIGITS = re.compile(r"\d{6,}")


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(c.isdigit() for c in text)
    separated = any(c in text for c in " .-/()+")
    if YEARS.fullmatch(text) or DATE.fullmatch(text):  # 1805-1812, 12.05.2026: years and dates stay
        return text
    return "[phone]" if 7 <= digits <= 15 and separated else text


def mask_pii(text: str) -> str:
    """``text`` with e-mails, phone numbers and long digit runs masked (the module's rule)."""
    text = EMAIL.sub("[email]", text)
    text = PHONE.sub(_phone, text)
    return DIGITS.sub("[number]", text)
