"""The one error a rule can raise: what is wrong, and the JSON path of the bad node."""

from __future__ import annotations


class RuleError(ValueError):
    """An invalid rule; `path` names the bad node, e.g. `rule.and[2].value`."""

    def __init__(self, path: str, message: str, code: str = "invalid_rule") -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
        self.code = code


def child(path: str, key: str | int) -> str:
    """`path` extended by an object key or a list index."""
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"
