"""A progress bar over virtual time (with the wall-clock ETA), or nothing when progress is off."""

from __future__ import annotations


class VirtualProgress:
    """A rich progress bar over `total` virtual seconds, as a context manager; `update(t)` moves it."""

    def __init__(self, total: float, enabled: bool, name: str) -> None:
        self.enabled = enabled
        self.total = total
        self.name = name

    def __enter__(self) -> VirtualProgress:
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._p = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:.0f}/{task.total:.0f} virtual s"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                transient=False,
            )
            self._p.__enter__()
            self._task = self._p.add_task(self.name, total=self.total)
        return self

    def update(self, t: float) -> None:
        if self.enabled:
            self._p.update(self._task, completed=min(t, self.total))

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._p.update(self._task, completed=self.total)
            self._p.__exit__(*exc)
