"""One error type for everything a user can get wrong, so the CLI can print it and exit 2."""

from __future__ import annotations

from collections.abc import Iterable


class ScenarioError(Exception):
    """A problem in a scenario (or results) file the user must fix.

    Carries the file, the field path and the line where known, so the message
    points at the exact place instead of at a traceback.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        path: str | None = None,
        line: int | None = None,
        problems: list[ScenarioError] | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.path = path
        self.line = line
        self.problems = problems or []
        super().__init__(self.render())

    def where(self) -> str:
        """'file:line at field.path', as far as known."""
        parts = []
        if self.file:
            parts.append(self.file + (f":{self.line}" if self.line else ""))
        if self.path:
            parts.append(f"at '{self.path}'")
        return " ".join(parts)

    def render(self) -> str:
        """The message as the command line prints it (every problem, one a line)."""
        if self.problems:
            head = f"{self.file}: {len(self.problems)} problem(s) in the scenario:" if self.file else self.message
            return head + "\n" + "\n".join("  - " + p.render() for p in self.problems)
        where = self.where()
        return f"{where}: {self.message}" if where else self.message


def did_you_mean(name: str, options: Iterable[object]) -> str:
    """Return a ' (did you mean X?)' hint, or '' when nothing is close."""
    import difflib

    close = difflib.get_close_matches(str(name), sorted(map(str, options)), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
