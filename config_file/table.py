"""Reading typed values out of a parsed TOML table, with errors that name the key.

Every section parser (router, metrics, balancer, meter, chargers) uses one `Table` per
section, so an installer always sees `section.key: problem` and unknown keys are caught.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from typing import Any, TypeVar

from ocpp_knowledge.identity import BadIdentity, check_identity

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file problem; the message names the key and what is wrong with it."""


_MISSING = object()

# What a charger can write into the last segment of its URL path as it is: RFC 3986 `pchar`
# without percent-encoding, and without ':' (Part 4 §3.1.1: it separates the Basic-auth user
# from the password, and the identity is that user).
_NOT_IN_PATH_SEGMENT = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=@]")


def charger_identity(key: str, value: object) -> str:
    """A charger identity from the config, one a charger can put in its URL path."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}: expected a charger identity (a non-empty string), got {value!r}")
    bad = sorted(set(_NOT_IN_PATH_SEGMENT.findall(value)))
    if bad:
        raise ConfigError(
            f"{key}: {value!r} has characters a URL path cannot carry ({''.join(bad)!r}); "
            "use letters, digits and - . _ ~ ! $ & ' ( ) * + , ; = @"
        )
    try:
        check_identity(value)
    except BadIdentity as bad_identity:
        raise ConfigError(f"{key}: {value[:60]!r}: {bad_identity}") from None
    return value


class Table:
    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a table, got {type(data).__name__}")
        self._data = data
        self._where = where
        self._read: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self._where}.{name}" if self._where else name

    def has(self, name: str) -> bool:
        return name in self._data

    def _get(self, name: str, default: Any) -> Any:
        self._read.add(name)
        value = self._data.get(name, default)
        if value is _MISSING:
            raise ConfigError(f"{self.key(name)}: required key is missing{self._near(name)}")
        return value

    def _near(self, known: str) -> str:
        """A hint at a key in the file that looks like a misspelling of `known`."""
        typos = difflib.get_close_matches(known, set(self._data) - self._read, n=1, cutoff=0.7)
        return f" (is {self.key(typos[0])} a misspelling of it?)" if typos else ""

    def string(self, name: str, default: Any = _MISSING) -> str:
        value = self._get(name, default)
        if not isinstance(value, str):
            raise ConfigError(f"{self.key(name)}: expected a string, got {value!r}")
        return value

    def number(
        self,
        name: str,
        default: Any = _MISSING,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        value = self._get(name, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ConfigError(f"{self.key(name)}: expected a number, got {value!r}")
        if minimum is not None and value < minimum:
            raise ConfigError(f"{self.key(name)}: must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{self.key(name)}: must be at most {maximum}, got {value}")
        return float(value)

    def optional_number(self, name: str, minimum: float | None = None) -> float | None:
        return self.number(name, minimum=minimum) if name in self._data else self._get(name, None)

    def integer(
        self,
        name: str,
        default: Any = _MISSING,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int:
        value = self._get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{self.key(name)}: expected an integer, got {value!r}")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise ConfigError(
                f"{self.key(name)}: must be between {minimum} and {maximum}, got {value}"
            )
        return value

    def boolean(self, name: str, default: Any = _MISSING) -> bool:
        value = self._get(name, default)
        if not isinstance(value, bool):
            raise ConfigError(f"{self.key(name)}: expected true or false, got {value!r}")
        return value

    def choice(self, name: str, choices: Iterable[str], default: Any = _MISSING) -> str:
        options = list(choices)
        value = self.string(name, default)
        if value not in options:
            raise ConfigError(f"{self.key(name)}: must be one of {options}, got {value!r}")
        return value

    def optional_list(self, name: str, expected: str) -> list[tuple[str, Any]] | None:
        """The entries of the list at `name`, each with its key (`name[i]`), or None when it
        is left out. An empty list or another value is an error saying it `expected`."""
        value = self.raw(name, None)
        if value is None:
            return None
        key = self.key(name)
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{key}: expected a non-empty list of {expected}")
        return [(f"{key}[{index}]", entry) for index, entry in enumerate(value)]

    def table(self, name: str, default: Any = _MISSING) -> Table:
        return Table(self._get(name, default), self.key(name))

    def tables(self, name: str) -> list[Table]:
        """An array of tables (`[[name]]`), possibly empty."""
        value = self._get(name, [])
        if not isinstance(value, list):
            raise ConfigError(f"{self.key(name)}: expected an array of tables")
        return [Table(item, f"{self.key(name)}[{index}]") for index, item in enumerate(value)]

    def raw(self, name: str, default: Any = _MISSING) -> Any:
        return self._get(name, default)

    def raw_table(self) -> dict[str, Any]:
        """The whole table, for a parser of its own that checks every key itself."""
        self._read.update(self._data)
        return dict(self._data)

    def finish(self) -> None:
        """Fail on keys nobody read: a typo must not silently fall back to a default."""
        unknown = sorted(set(self._data) - self._read)
        if unknown:
            near = difflib.get_close_matches(unknown[0], self._read, n=1, cutoff=0.6)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise ConfigError(f"{self.key(unknown[0])}: unknown key{hint}")

    def identity(self, name: str) -> str:
        return charger_identity(self.key(name), self._get(name, _MISSING))
