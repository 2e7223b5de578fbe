"""Where a meter is: the physical link, as plain data (no I/O, no pymodbus)."""

from dataclasses import dataclass
from typing import Literal

Parity = Literal["N", "E", "O"]


@dataclass(frozen=True, slots=True)
class TcpLink:
    """Modbus TCP (MBAP framing), e.g. a meter with an Ethernet port."""

    host: str
    port: int = 502


@dataclass(frozen=True, slots=True)
class RtuOverTcpLink:
    """RTU frames carried over TCP, e.g. an Ethernet/RS-485 gateway in transparent mode."""

    host: str
    port: int = 502


@dataclass(frozen=True, slots=True)
class SerialLink:
    """Modbus RTU on a local serial port (RS-485 adapter).

    `device` is a path such as /dev/ttyUSB0, or any URL pyserial understands. Line
    settings differ between vendors, so all of them are configurable; the defaults
    are the common 9600 8N1.
    """

    device: str
    baudrate: int = 9600
    parity: Parity = "N"
    stopbits: int = 1
    bytesize: int = 8


MeterLink = TcpLink | RtuOverTcpLink | SerialLink
