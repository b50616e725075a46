"""Nameplate notations: macro evcap_notation_parts against the capture regex.

``evcap_notation_parts`` splits a notation ('250 kVA', '208Y/120', ...)
into its numbers and unit text without regex captures (PostgreSQL takes
tens of microseconds per row to place captures). The reference is the
definition it replaced: ``regexp_match`` with the anchored pattern's three
capture groups, on every server, over texts chosen to catch the edges
(exponents, letters after digits, blanks of every kind, invalid texts).
"""

from __future__ import annotations

import re

import jinja2
import psycopg
from conftest import REPO_ROOT

MACROS = (REPO_ROOT / "macros" / "evcap_notations.sql").read_text()

TEXTS = [
    "250 kVA",
    "0.25 MVA",
    "50",
    "208Y/120",
    "120/240",
    "0.4 kV",
    "400 V",
    "25000Y/14400",
    " 1e3 kva ",
    "1e400",
    "1e99",
    "5E",
    "5e3e",
    "5e3kV",
    "abc",
    "",
    "   ",
    "12 3",
    "1.5.3",
    "+.5e-2kV\t",
    "-3",
    "250kVA\n",
    "\t250\r\nkVA\x0b\x0c",
    "1/2/3",
    "100 kV A",
    "208 y / 120 V",
    "208 Y/ 120V ",
    "1234567890123456",
    "123456789012345",
    "123456789012345.123",
    ".",
    ".5",
    "5.",
    "1e",
    "1e+",
    "e5",
    "/120",
    "120/",
    "kVA",
    "250 kVA 3",
    "2,5 kVA",
    "0x10",
]


def _capture_pattern() -> str:
    """The pattern with capture groups (the definition before the macro)."""
    number = re.search(
        r"macro evcap_notation_number\(\) -%}\s*(\S+)\s*{%- endmacro", MACROS
    )
    assert number is not None
    n = number.group(1)
    return rf"^\s*({n})\s*(?:[yY]?\s*/\s*({n}))?\s*([a-zA-Z]*)\s*$"


def _parts_sql(column: str) -> str:
    """The macro rendered (plain Jinja: it calls only macros of its file)."""
    template = jinja2.Environment().from_string(
        MACROS + "{{ evcap_notation_parts('" + column + "') }}"
    )
    return template.render()


def test_parts_equal_the_capture_regex(pg_dsn: str) -> None:
    query = f"""
        select
            texts.notation_text,
            {_parts_sql("texts.notation_text")} as parts,
            regexp_match(texts.notation_text, %(pattern)s) as expected
        from unnest(cast(%(texts)s as text[])) as texts (notation_text)
    """
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(
            query, {"texts": TEXTS, "pattern": _capture_pattern()}
        ).fetchall()
    assert len(rows) == len(TEXTS)
    differ = [
        (text, parts, expected) for text, parts, expected in rows if parts != expected
    ]
    assert differ == []
    # the corpus holds both kinds: parsed texts and rejected ones
    assert sum(parts is None for _, parts, _ in rows) >= 10
    assert sum(parts is not None for _, parts, _ in rows) >= 20
