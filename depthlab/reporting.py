"""Plain-text / markdown tables for binaries (metrics tables, paper comparisons)."""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence


def _fmt(value, digits: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(rows: Sequence[Dict[str, object]], columns: Optional[List[str]] = None,
                   digits: int = 4) -> str:
    """Rows of dicts -> a GitHub markdown table (missing cells print as '-')."""
    if not rows:
        return "(no rows)"
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c), digits) for c in columns) + " |")
    return "\n".join(lines)


def metrics_table(named: Dict[str, Dict[str, float]], keys: Iterable[str], digits: int = 4) -> str:
    """{'run name': {metric: value}} -> markdown table with one row per run."""
    keys = list(keys)
    rows = [dict({"run": name}, **{k: v.get(k) for k in keys}) for name, v in named.items()]
    return markdown_table(rows, ["run"] + keys, digits)
