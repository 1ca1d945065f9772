"""Logging setup: the node id in every line, rich output on a terminal, plain text otherwise."""

from __future__ import annotations

import logging
import sys

_FORMAT = "%(asctime)s %(levelname)-7s [%(node)s] %(name)s: %(message)s"


class _NodeIdFilter(logging.Filter):
    """Stamps every record with the node id so each line says which node wrote it."""

    def __init__(self, node_id: str) -> None:
        super().__init__()
        self.node_id = node_id

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "node"):
            record.node = self.node_id
        return True


def setup_logging(
    node_id: str = "-",
    level: str | int = "INFO",
    file: str | None = None,
    rich_console: bool | None = None,
) -> None:
    """Configure the root logger; call once from the CLI (library code only gets loggers)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    root.setLevel(level if isinstance(level, int) else level.upper())
    id_filter = _NodeIdFilter(node_id)
    if rich_console is None:
        rich_console = sys.stderr.isatty()
    console: logging.Handler
    if rich_console:
        from rich.logging import RichHandler

        console = RichHandler(show_path=False, rich_tracebacks=False)
        console.setFormatter(logging.Formatter("[%(node)s] %(name)s: %(message)s"))
    else:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter(_FORMAT))
    console.addFilter(id_filter)
    root.addHandler(console)
    if file:
        fh = logging.FileHandler(file, encoding="utf-8")
        fh.setFormatter(logging.Formatter(_FORMAT))
        fh.addFilter(id_filter)
        root.addHandler(fh)
