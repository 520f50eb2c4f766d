"""A gate verdict in words, the same everywhere: the CLI, the flow's summary,
gate/report.md and the comparison report (a leaf module: the report imports it
without the registry's MLflow code)."""

from __future__ import annotations

from typing import Any


def verdict_text(v: dict[str, Any]) -> str:
    """One family's verdict: "passed", "forced", or "failed: <reasons>"."""
    word = "forced" if v.get("forced") else ("passed" if v.get("passed") else "failed")
    reasons = "; ".join(str(r) for r in v.get("reasons") or [])
    return f"{word}: {reasons}" if reasons and not v.get("passed") else word
