"""Modbus I/O: the only module that imports pymodbus (its API changes between minor
versions, so it stays behind this seam).

`ModbusClient` reads registers for the meter reader; `RegisterServer` serves a bank of
registers: the simulated meter's, or the holding register an EMS writes the site's limit to.
"""

import asyncio
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, cast

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerType
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from modbus.errors import MeterExceptionReply, MeterReadError
from modbus.link import MeterLink, RtuOverTcpLink, SerialLink, TcpLink
from modbus.meter_map import READ_HOLDING_REGISTERS, READ_INPUT_REGISTERS


class ModbusClient:
    """Reads registers over one link, one request at a time.

    Any failure raises `MeterReadError` and drops the connection, so the next read
    starts on a clean stream (a late reply cannot be taken for the next one);
    the next read reconnects.
    """

    def __init__(self, link: MeterLink, *, timeout_s: float, retries: int = 0) -> None:
        self._link = link
        self._timeout_s = timeout_s
        self._retries = retries
        self._client: Any = None  # created on first use: pymodbus needs a running loop
        self._lock = asyncio.Lock()  # RTU lines and gateways take one request at a time

    async def read(self, function_code: int, address: int, count: int, unit_id: int) -> list[int]:
        if function_code not in (READ_HOLDING_REGISTERS, READ_INPUT_REGISTERS):
            raise ValueError(f"unsupported read function code {function_code}")
        async with self._lock:
            client = await self._connected_client()
            read = (
                client.read_holding_registers
                if function_code == READ_HOLDING_REGISTERS
                else client.read_input_registers
            )
            try:
                reply = await read(address, count=count, device_id=unit_id)
            except (ModbusException, OSError) as exc:  # OSError: serial port errors
                client.close()
                raise MeterReadError(f"{self._describe()}: {exc}") from exc
            if reply.isError():
                raise MeterExceptionReply(function_code, address, int(reply.exception_code))
            registers = list(reply.registers)
            if len(registers) != count:
                client.close()
                raise MeterReadError(
                    f"{self._describe()}: asked {count} registers, got {len(registers)}"
                )
            return registers

    async def write(self, address: int, values: Sequence[int], unit_id: int) -> None:
        """Write holding registers (function 16): what an EMS does to the LC's limit register.
        A refusal raises `MeterExceptionReply`, a failure `MeterReadError`."""
        async with self._lock:
            client = await self._connected_client()
            try:
                reply = await client.write_registers(address, list(values), device_id=unit_id)
            except (ModbusException, OSError) as exc:
                client.close()
                raise MeterReadError(f"{self._describe()}: {exc}") from exc
            if reply.isError():
                raise MeterExceptionReply(16, address, int(reply.exception_code))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    async def _connected_client(self) -> Any:
        if self._client is None:
            self._client = self._new_client()
        if not self._client.connected and not await self._client.connect():
            raise MeterReadError(f"{self._describe()}: cannot connect")
        return self._client

    def _new_client(self) -> Any:
        # reconnect_delay=0: no background reconnect task; `read` reconnects on demand,
        # so an absent meter costs one quick connect attempt per poll.
        common: dict[str, Any] = {
            "timeout": self._timeout_s,
            "retries": self._retries,
            "reconnect_delay": 0,
        }
        match self._link:
            case TcpLink(host, port):
                return AsyncModbusTcpClient(host, port=port, framer=FramerType.SOCKET, **common)
            case RtuOverTcpLink(host, port):
                return AsyncModbusTcpClient(host, port=port, framer=FramerType.RTU, **common)
            case SerialLink(device, baudrate, parity, stopbits, bytesize):
                return AsyncModbusSerialClient(
                    device,
                    framer=FramerType.RTU,
                    baudrate=baudrate,
                    parity=parity,
                    stopbits=stopbits,
                    bytesize=bytesize,
                    **common,
                )

    def _describe(self) -> str:
        match self._link:
            case TcpLink(host, port) | RtuOverTcpLink(host, port):
                return f"{host}:{port}"
            case SerialLink(device):
                return device


class RegisterServer:
    """Serves holding and input registers at fixed (possibly sparse) addresses.

    `tables` maps a read function code (3 holding, 4 input) to address -> value.
    Values can be changed with `write` while the server runs; the set of addresses is
    fixed, and reads of any other address answer exception 2 (illegal data address),
    as a real device does. `stop` drops every connection (the meter is unplugged);
    `start` again listens on the same port.

    With `on_write`, clients may write the holding registers (functions 6 and 16):
    `on_write(address, values)` sees each write first and refuses it by returning False
    (exception 3, illegal data value); without it every register is read-only.

    With `admits`, each new connection's peer address goes to `admits(host)` before any of its
    requests is read; False closes the connection at once (Modbus has no authentication: the
    peer's address is all there is to check).
    """

    def __init__(
        self,
        tables: Mapping[int, Mapping[int, int]],
        *,
        link: TcpLink | RtuOverTcpLink,
        unit_id: int = 1,
        on_write: Callable[[int, list[int]], bool] | None = None,
        admits: Callable[[str], bool] | None = None,
    ) -> None:
        self._tables = {function_code: dict(table) for function_code, table in tables.items()}
        if not any(self._tables.values()):
            raise ValueError("a register server needs at least one register")
        self._link = link
        self._unit_id = unit_id
        self._on_write = on_write
        self._admits = admits
        self._server: Any = None

    @property
    def link(self) -> TcpLink | RtuOverTcpLink:
        """Where clients connect; after the first start the port is the bound one."""
        return self._link

    def registers(self, function_code: int) -> Mapping[int, int]:
        return MappingProxyType(self._tables[function_code])

    def write(self, function_code: int, address: int, values: Sequence[int]) -> None:
        table = self._tables[function_code]
        for offset, value in enumerate(values):
            if address + offset not in table:
                raise KeyError(
                    f"register {address + offset} (function {function_code}) is not served"
                )
            table[address + offset] = value & 0xFFFF

    async def start(self) -> None:
        if self._server is not None:
            return
        framer = FramerType.RTU if isinstance(self._link, RtuOverTcpLink) else FramerType.SOCKET
        address = (self._link.host, self._link.port)
        server = (
            ModbusTcpServer(self._device(), framer=framer, address=address)
            if self._admits is None
            else _CheckedTcpServer(self._admits, self._device(), framer=framer, address=address)
        )
        await server.serve_forever(background=True)
        self._server = server
        # With port 0 the OS picked a free port; keep it so a restart reuses it.
        listener = cast(asyncio.Server, server.transport)
        bound_port = int(listener.sockets[0].getsockname()[1])
        self._link = type(self._link)(self._link.host, bound_port)

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await server.shutdown()

    def recheck_clients(self) -> None:
        """Close the open connections `admits` refuses now (its allow-list changed)."""
        if isinstance(self._server, _CheckedTcpServer):
            self._server.close_refused()

    def _device(self) -> Any:
        # pymodbus fixes the valid addresses when the device is built; the values it
        # holds are placeholders, overwritten from `_tables` by `_serve` on every read.
        addresses = sorted(set().union(*self._tables.values()))
        runs: list[list[int]] = []
        for address in addresses:
            if runs and address == runs[-1][-1] + 1:
                runs[-1].append(address)
            else:
                runs.append([address])
        readonly = self._on_write is None
        blocks = [
            SimData(run[0], values=[0] * len(run), datatype=DataType.REGISTERS, readonly=readonly)
            for run in runs
        ]
        return SimDevice(id=self._unit_id, simdata=blocks, action=self._serve)

    async def _serve(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if set_values is not None:
            return self._written(address, [int(value) for value in set_values])
        # Holding and input registers share one pymodbus block; answer from the table of
        # the requested function, so a read with the wrong function fails as on a device.
        table = self._tables.get(function_code, {})
        for offset in range(count):
            if address + offset not in table:
                return ExcCodes.ILLEGAL_ADDRESS
            registers[address - start_address + offset] = table[address + offset]
        return None

    def _written(self, address: int, values: list[int]) -> ExcCodes | None:
        holding = self._tables.get(READ_HOLDING_REGISTERS, {})
        if any(address + offset not in holding for offset in range(len(values))):
            return ExcCodes.ILLEGAL_ADDRESS
        if self._on_write is None or not self._on_write(address, values):
            return ExcCodes.ILLEGAL_VALUE
        holding.update(zip(range(address, address + len(values)), values, strict=True))
        return None


class _CheckedTcpServer(ModbusTcpServer):
    """A TCP server that closes each connection `admits` refuses as soon as it is made."""

    def __init__(self, admits: Callable[[str], bool], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._admits = admits

    def handle_new_connection(self) -> Any:
        handler: Any = super().handle_new_connection()  # its connection_made is wrapped
        made = handler.connection_made

        def connection_made(transport: asyncio.BaseTransport) -> None:
            made(transport)
            if not self._admits(_peer_host(transport)):
                handler.close()  # drops it from the server's connections, closes the socket

        handler.connection_made = connection_made
        return handler

    def close_refused(self) -> None:
        for handler in list(self.active_connections.values()):
            if handler.transport is not None and not self._admits(_peer_host(handler.transport)):
                handler.close()


def _peer_host(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if peer else ""
