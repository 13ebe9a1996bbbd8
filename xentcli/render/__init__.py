"""Reports: one module per kind (compute, compare, explain, inspect), each with a Rich view
that draws itself (``__rich_console__``) and the text formats; :mod:`.common` holds what they
share. Nothing here computes a figure: every number comes from the finished result."""

from __future__ import annotations

from xentcli.render.common import drawn, rstrip_lines
from xentcli.render.compute import ComputeView, render_text

__all__ = ["ComputeView", "drawn", "render_text", "rstrip_lines"]
