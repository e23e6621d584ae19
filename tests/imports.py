"""What a source file imports, read from its syntax tree without running it: for tests that
keep one part of the code from depending on another."""
from __future__ import annotations

import ast
from pathlib import Path


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names
