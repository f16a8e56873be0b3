"""HTML escaping for every page the project writes (reports, the data-quality summary):
every value from the data passes through :func:`esc`; pages carry :data:`CSP`."""

from __future__ import annotations

import html as _html

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


__all__ = ["BIDI_CONTROLS", "CSP", "esc"]
