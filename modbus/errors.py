"""Exceptions raised by the meter layer.

Two families: `MeterMapError` is a configuration problem found before any I/O;
`MeterReadError` means one poll produced no reading (the caller keeps its last good
reading and judges staleness by its age).
"""


class MeterMapError(ValueError):
    """A register map (usually a custom map from the config file) is invalid.

    `problems` lists every problem found, each naming the config key it concerns.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class MeterReadError(Exception):
    """A poll of the meter failed: no connection, timeout, or an unusable reply."""


class MeterExceptionReply(MeterReadError):
    """The meter answered with a Modbus exception (e.g. 2 = illegal data address)."""

    def __init__(self, function_code: int, address: int, exception_code: int) -> None:
        super().__init__(
            f"meter answered exception {exception_code} to function {function_code} "
            f"at address {address}"
        )
        self.exception_code = exception_code


class SunSpecError(MeterReadError):
    """The device is reachable but does not present the expected SunSpec model."""
