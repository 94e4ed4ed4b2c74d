"""What every `refuge` command prints with: exit codes, JSON, aligned tables, sizes."""

from __future__ import annotations

import json
import sys
from typing import Any, Callable

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


def print_json(doc: Any) -> None:
    json.dump(doc, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def print_table(rows: list[dict[str, Any]], columns: list[tuple[str, str | Callable]]) -> None:
    cells = [[str(c(r) if callable(c) else r.get(c, "")) for _, c in columns] for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, (h, _) in enumerate(columns)]
    print("  ".join(h.ljust(w) for (h, _), w in zip(columns, widths)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"
