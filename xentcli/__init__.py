"""xent: cross-entropy and prediction-quality reports for model outputs.

The package is a library too: ``from xentcli import compute, compare, Evaluator, XentError``
(see :mod:`xentcli.api`). They are imported when first used, so ``xent --help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "ComparisonReport",
    "Evaluator",
    "Report",
    "XentError",
    "__version__",
    "compare",
    "compute",
]

if TYPE_CHECKING:
    from xentcli.api import ComparisonReport, Evaluator, Report, compare, compute
    from xentcli.errors import XentError


def __getattr__(name: str) -> Any:
    if name == "XentError":
        from xentcli.errors import XentError

        return XentError
    if name in __all__:
        from xentcli import api

        return getattr(api, name)
    raise AttributeError(f"module 'xentcli' has no attribute {name!r}")
