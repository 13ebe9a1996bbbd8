"""The one rule for showing text that comes from the data (class and column names, ids,
--group-by values, cell values quoted in messages, a baseline's strings) where people read it.

- :func:`shown`, for the terminal, stderr and every text format: control characters (C0 with
  ESC and NUL, DEL, C1) and bidirectional controls are written escaped (``\\x1b``,
  ``\\u202e``), so a name cannot move the cursor, open a hyperlink, retitle the terminal or
  reorder what is read around it. Tab, line feed and carriage return read ``\\t``, ``\\n``,
  ``\\r``.
- :func:`csv_text`, a text cell of a CSV report: :func:`shown`, and a leading ``'`` when it
  would start a spreadsheet formula (``=``, ``+``, ``-``, ``@``, tab, carriage return; as
  OWASP recommends). Numbers xent writes itself never pass through it.

JSON and Parquet keep every value exactly; this module is for what is shown.
"""

from __future__ import annotations

import math
import re

# C0 (with tab, line breaks, ESC, NUL), DEL and C1; the bidirectional embeddings, overrides,
# isolates and marks; and the Unicode line and paragraph separators (a line break elsewhere)
_UNSAFE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
# the same class for Arrow's regex kernels (RE2 spells a code point \x{...})
UNSAFE_RE2 = (
    r"[\x00-\x1f\x7f-\x{9f}\x{61c}\x{200e}\x{200f}\x{2028}\x{2029}"
    r"\x{202a}-\x{202e}\x{2066}-\x{2069}]"
)
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}

# what a spreadsheet reads as the start of a formula (a tab or CR before one is skipped)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _escaped(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(text: str) -> str:
    """``text`` with its control and bidirectional characters escaped: ``"a\\x1b[31mb"`` is
    shown as ``a\\x1b[31mb`` (a backslash and the code), never as a colour change."""
    return _UNSAFE.sub(_escaped, text)


def needs_escape(text: str) -> bool:
    """Whether :func:`shown` would change ``text``."""
    return _UNSAFE.search(text) is not None


def csv_text(text: str) -> str:
    """A text cell (a name, an id) of a CSV report: :func:`shown`, with a ``'`` before it
    when a spreadsheet would read it as a formula. A signed number (an id -10 read from a
    CSV as text, a class named +1) is a number to a spreadsheet, not a formula: as it is."""
    formula = text.startswith(FORMULA_STARTS) and not _is_number(text)
    return ("'" if formula else "") + shown(text)


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text)) and text.strip() == text
    except ValueError:
        return False
