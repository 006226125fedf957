"""Problems found in a workflow, each naming the node, the input or param, and what
was expected; and the error type that carries them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a workflow, found by validation or when a node ran: the one
    shape the CLI prints, its JSON carries, the editor marks on a node and an HTTP API
    would return.

    ``code`` is a stable machine-readable kind (``unknown_node_type``, ``missing_input``,
    ``type_mismatch``, ``bad_link``, ``cycle``, ``bad_param``, ``unknown_param``,
    ``malformed_json``, ``bad_document``, ``missing_file`` from ``nodegraph validate``;
    at run time ``bad_input``, the node's own complaint about ``field``, and
    ``node_failed``, an exception, with its ``traceback``); ``field_kind`` says whether
    ``field`` is an ``input`` or a ``param`` when that is known; ``severity`` is
    ``error`` or ``warning``.
    """

    code: str
    message: str
    node_id: str | None = None
    node_title: str | None = None
    field: str | None = None
    expected: str | None = None
    severity: str = "error"
    line: int | None = None
    column: int | None = None
    field_kind: str | None = None
    traceback: str | None = None

    def __str__(self) -> str:
        where = []
        if self.node_id is not None:
            where.append(f"node {self.node_title or '?'} (#{self.node_id})")
        if self.field:
            kind = f"{self.field_kind} " if self.field_kind else ""
            where.append(f"{kind}'{self.field}'")
        if self.line is not None:
            where.append(f"line {self.line}, column {self.column}")
        prefix = ", ".join(where)
        tag = "" if self.severity == "error" else f"{self.severity}: "
        if not prefix:
            return f"{tag}{self.message}"
        joint = " failed: " if self.code == "node_failed" else ": "
        return f"{tag}{prefix}{joint}{self.message}"

    def to_json(self) -> dict[str, Any]:
        """Plain data, without empty fields."""
        return {k: v for k, v in asdict(self).items() if v is not None}


def errors(problems: Iterable[Problem]) -> list[Problem]:
    """Only the problems that block a run."""
    return [p for p in problems if p.severity == "error"]


class WorkflowError(Exception):
    """A workflow that cannot be loaded or run; ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        if not problems:  # never an empty error: say at least that something is wrong
            problems = [Problem("bad_document", "the workflow cannot be run, and no reason "
                                "was recorded (please report this as a bug)")]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
