"""HTML escaping for every page the project writes (reports, the data-quality summary):
every value from the data passes through :func:`esc`; pages carry :data:`CSP`."""

from __future__ import annotations

import html as _html
import re

# Explicit bidi embeddings, overrides and isolates (LRE RLE PDF LRO RLO, LRI RLI FSI PDI):
# one in a data string would reorder the report text after it ("Trojan Source"), so
# esc() shows them as visible [U+XXXX] codes instead.
BIDI_CONTROLS = {ord(c): f"[U+{ord(c):04X}]" for c in
                 "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"}


# No script, no network: styles inline and images as data: URLs only.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def esc(value: object) -> str:
    """HTML-escaped text of a value (None -> ""), quotes included; bidi control
    characters are made visible (see BIDI_CONTROLS)."""
    if value is None:
        return ""
    return _html.escape(str(value).translate(BIDI_CONTROLS), quote=True)


# a line-break opportunity after _ / . inside a word (identifiers such as
# expect_column_values_to_be_between, ml.model_drift, /v1/calendar/bookings), never in a
# number (0.123) nor in an escaped entity (&lt;/b&gt;)
BREAK_AT = re.compile(r"(?<=[A-Za-z0-9])([_/.])(?=[A-Za-z])")
BREAK_FROM = 14  # characters of a text from which it may break there


def breakable(value: object) -> str:
    """:func:`esc` of a value, with ``<wbr>`` after ``_``, ``/`` and ``.`` inside words
    when the text is long: a long identifier wraps at its separators instead of
    widening a table past the page (1,200 px) or being split at any letter; copying the
    text copies no extra character."""
    out = esc(value)
    return BREAK_AT.sub(r"\1<wbr>", out) if len(out) >= BREAK_FROM else out


__all__ = ["BIDI_CONTROLS", "BREAK_AT", "CSP", "breakable", "esc"]
