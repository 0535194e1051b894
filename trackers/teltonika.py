"""Teltonika Codec 8 / Codec 8 Extended over TCP: a pure decoder and connection state machine.

No sockets here (the h11 approach): :class:`TeltonikaConnection` is fed received bytes and
yields events; the caller decides what to store and sends the bytes it is handed back.  The
server around it is :mod:`trackers.server`.

Wire format (Teltonika "Codec" documentation):

* handshake: 2-byte length + ASCII IMEI; the server answers ``01`` (accept) or ``00`` (reject);
* AVL packet: 4 zero bytes, 4-byte data length, then the data field (codec id ``08``/``8E``,
  record count, records, record count again) and a 4-byte CRC-16/IBM of the data field;
  the server acknowledges with the record count as a 4-byte big-endian integer.

Every malformed input raises :class:`TeltonikaError` (a :class:`~trackers.errors.DecodeError`)
and nothing else.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from trackers.errors import DecodeError
from trackers.pings import Ping, PingError

CODEC_8 = 0x08
CODEC_8E = 0x8E
MAX_DATA_LENGTH = 64 * 1024       # real devices send at most ~1.3 KB (FMB) to a few KB per packet
IMEI_LENGTHS = range(8, 18)       # IMEIs are 15 digits; a little slack for test and legacy units

# IO element ids mapped to ping fields (FMB "Data Sending Parameters ID" tables)
IO_EXTERNAL_VOLTAGE_MV = 66
IO_BATTERY_VOLTAGE_MV = 67
IO_BATTERY_LEVEL_PCT = 113
# single Li-ion cell: ~3.5 V empty, ~4.2 V full; only used when the device sends no level (IO 113)
_BATTERY_MV_EMPTY, _BATTERY_MV_FULL = 3500, 4200

_GPS = struct.Struct(">QBiiHHBH")          # timestamp ms, priority, lon, lat, altitude, angle, satellites, speed
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class TeltonikaError(DecodeError):
    """A malformed handshake or AVL packet."""


@dataclass(slots=True)
class AvlRecord:
    """One AVL record as the device sent it.  Treat as immutable: not ``frozen`` because a frozen
    dataclass costs ~3 µs more to build, a tenth of a ping's whole server budget (``lapi bench pings``)."""

    timestamp_ms: int
    priority: int
    lon: float
    lat: float
    altitude_m: int
    angle: int
    satellites: int
    speed_kmh: int
    event_io: int
    io: dict[int, int | bytes] = field(default_factory=dict)
    # the width each fixed-size IO value came in (1, 2, 4 or 8 bytes), so re-encoding is byte-exact
    io_sizes: dict[int, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def fix_time(self) -> datetime:
        ms = self.timestamp_ms  # positional timedelta: a third cheaper than milliseconds=
        return _EPOCH + timedelta(0, ms // 1000, ms % 1000 * 1000)


@dataclass(frozen=True)
class AvlPacket:
    codec: int
    records: tuple[AvlRecord, ...]
    crc: int


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()
_CRC_TABLE16: tuple[int, ...] | None = None


def _crc_table16() -> tuple[int, ...]:
    """Two bytes a step: a 16-bit reflected CRC's next value depends only on crc ^ (b0 | b1 << 8)."""
    t = _CRC_TABLE
    return tuple((t[x & 0xFF] >> 8) ^ t[((x >> 8) ^ t[x & 0xFF]) & 0xFF] for x in range(1 << 16))


def crc16_ibm(data: bytes) -> int:
    """CRC-16/IBM (ARC): polynomial 0xA001 reflected, initial value 0 (table-driven, two bytes a step)."""
    global _CRC_TABLE16
    table16 = _CRC_TABLE16 or _crc_table16()
    _CRC_TABLE16 = table16
    crc, even = 0, len(data) & ~1
    for word in struct.unpack_from(f"<{even // 2}H", data):
        crc = table16[crc ^ word]
    if even != len(data):
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ data[-1]) & 0xFF]
    return crc


# decoding ------------------------------------------------------------------------------------------

_IO_FORMATS = {False: ((1, struct.Struct(">BB")), (2, struct.Struct(">BH")), (4, struct.Struct(">BI")),
                      (8, struct.Struct(">BQ"))),
               True: ((1, struct.Struct(">HB")), (2, struct.Struct(">HH")), (4, struct.Struct(">HI")),
                      (8, struct.Struct(">HQ")))}
_HEAD = {False: struct.Struct(">BB"), True: struct.Struct(">HH")}
_COUNT = {False: struct.Struct(">B"), True: struct.Struct(">H")}
_NX = struct.Struct(">HH")


def _decode_record(data: bytes, pos: int, extended: bool) -> tuple[AvlRecord, int]:
    """The record at ``pos`` and where the next one starts; struct.error when cut short."""
    ts, priority, lon, lat, alt, angle, sats, speed = _GPS.unpack_from(data, pos)
    pos += _GPS.size
    if alt >= 0x8000:
        alt -= 0x10000  # altitude is a signed metre count (below sea level near the Dutch polders)
    count = _COUNT[extended]
    # total IO count: informative only, devices disagree on whether NX is in it
    event_io, _total = _HEAD[extended].unpack_from(data, pos)
    pos += _HEAD[extended].size
    io: dict[int, int | bytes] = {}
    sizes: dict[int, int] = {}
    for value_size, fmt in _IO_FORMATS[extended]:
        (n,) = count.unpack_from(data, pos)
        pos += count.size
        step = fmt.size
        for _ in range(n):
            io_id, value = fmt.unpack_from(data, pos)
            pos += step
            io[io_id] = value
            sizes[io_id] = value_size
    if extended:
        (n,) = count.unpack_from(data, pos)
        pos += 2
        for _ in range(n):
            io_id, length = _NX.unpack_from(data, pos)
            pos += 4
            if pos + length > len(data):
                raise struct.error("NX value runs past the data")
            io[io_id] = data[pos:pos + length]
            pos += length
    return AvlRecord(ts, priority, lon / 1e7, lat / 1e7, alt, angle, sats, speed, event_io, io, sizes), pos


def decode_data_field(data: bytes) -> tuple[int, tuple[AvlRecord, ...]]:
    """Codec id .. second record count (what the CRC covers) -> (codec, records)."""
    if len(data) < 3:
        raise TeltonikaError("truncated", f"data field of {len(data)} bytes is too short")
    codec, count = data[0], data[1]
    if codec not in (CODEC_8, CODEC_8E):
        raise TeltonikaError("codec", f"codec 0x{codec:02X} is not supported (only 0x08 and 0x8E)")
    if count == 0:
        raise TeltonikaError("count", "packet holds no records")
    extended, pos, records = codec == CODEC_8E, 2, []
    body = data[:-1]  # records may not run into the trailing count
    for i in range(count):
        try:
            record, pos = _decode_record(body, pos, extended)
        except struct.error:
            raise TeltonikaError("truncated", f"record {i + 1} of {count} is cut short at byte {pos}") from None
        records.append(record)
    if pos != len(body):
        raise TeltonikaError("length", f"records end at byte {pos}, data field has {len(body)} before the count")
    if data[-1] != count:
        raise TeltonikaError("count", f"record counts differ: {count} at the start, {data[-1]} at the end")
    return codec, tuple(records)


def decode_avl_packet(frame: bytes) -> AvlPacket:
    """A whole AVL packet (preamble .. CRC) -> :class:`AvlPacket`; the CRC is checked."""
    if len(frame) < 12:
        raise TeltonikaError("truncated", f"packet of {len(frame)} bytes is shorter than its 12-byte frame")
    if frame[:4] != b"\0\0\0\0":
        raise TeltonikaError("preamble", f"packet must start with 4 zero bytes, got {frame[:4].hex()}")
    length = int.from_bytes(frame[4:8], "big")
    if length != len(frame) - 12:
        raise TeltonikaError("length", f"data length says {length} bytes, packet carries {len(frame) - 12}")
    data = frame[8:8 + length]
    sent_crc = int.from_bytes(frame[8 + length:], "big")
    crc = crc16_ibm(data)
    if sent_crc != crc:
        raise TeltonikaError("crc", f"CRC 0x{sent_crc:08X} does not match the data (0x{crc:04X})")
    codec, records = decode_data_field(data)
    return AvlPacket(codec, records, crc)


def decode_imei(frame: bytes) -> str:
    """The handshake frame (2-byte length + ASCII digits) -> IMEI string."""
    if len(frame) < 2:
        raise TeltonikaError("truncated", "IMEI frame needs a 2-byte length")
    length = int.from_bytes(frame[:2], "big")
    if length not in IMEI_LENGTHS or len(frame) != 2 + length:
        raise TeltonikaError("imei", f"IMEI length {length} is not {IMEI_LENGTHS.start}-{IMEI_LENGTHS.stop - 1} "
                                     f"digits (or does not match the {len(frame) - 2} bytes sent)")
    raw = frame[2:]
    if not raw.isdigit():
        raise TeltonikaError("imei", f"IMEI must be ASCII digits, got {raw[:20]!r}")
    return raw.decode("ascii")


# encoding (simulated devices: tests and `lapi bench pings`) ------------------------------------------

def encode_imei(imei: str) -> bytes:
    raw = imei.encode("ascii")
    return len(raw).to_bytes(2, "big") + raw


def _encode_io(io: dict[int, int | bytes], sizes: dict[int, int], extended: bool) -> bytes:
    id_size = count_size = 2 if extended else 1
    groups: dict[int, list[tuple[int, int]]] = {1: [], 2: [], 4: [], 8: []}
    nx: list[tuple[int, bytes]] = []
    for io_id, value in io.items():
        if isinstance(value, bytes):
            if not extended:
                raise ValueError("variable-length IO values need Codec 8 Extended")
            nx.append((io_id, value))
        else:
            size = sizes.get(io_id) or next(s for s in (1, 2, 4, 8) if value < 1 << (8 * s))
            groups[size].append((io_id, value))
    out = bytearray()
    for size, items in groups.items():
        out += len(items).to_bytes(count_size, "big")
        for io_id, value in items:
            out += io_id.to_bytes(id_size, "big") + value.to_bytes(size, "big")
    if extended:
        out += len(nx).to_bytes(2, "big")
        for io_id, raw in nx:
            out += io_id.to_bytes(2, "big") + len(raw).to_bytes(2, "big") + raw
    total = sum(len(v) for v in groups.values()) + len(nx)
    return total.to_bytes(count_size, "big") + bytes(out)


def encode_avl_packet(records: list[AvlRecord] | tuple[AvlRecord, ...], codec: int = CODEC_8E) -> bytes:
    """The inverse of :func:`decode_avl_packet`, for simulated devices."""
    extended = codec == CODEC_8E
    body = bytearray([codec, len(records)])
    for rec in records:
        body += _GPS.pack(rec.timestamp_ms, rec.priority, round(rec.lon * 1e7), round(rec.lat * 1e7),
                          rec.altitude_m & 0xFFFF, rec.angle, rec.satellites, rec.speed_kmh)
        body += rec.event_io.to_bytes(2 if extended else 1, "big") + _encode_io(rec.io, rec.io_sizes, extended)
    body.append(len(records))
    return b"\0\0\0\0" + len(body).to_bytes(4, "big") + bytes(body) + crc16_ibm(body).to_bytes(4, "big")


# records -> pings ------------------------------------------------------------------------------------

def battery_pct(io: dict[int, int | bytes]) -> float | None:
    """Battery level from IO 113 (percent), else estimated from IO 67 (battery millivolts).

    External voltage (IO 66) is the vehicle's supply, not the beacon's battery: not mapped.
    """
    level = io.get(IO_BATTERY_LEVEL_PCT)
    if isinstance(level, int) and 0 <= level <= 100:
        return float(level)
    mv = io.get(IO_BATTERY_VOLTAGE_MV)
    if isinstance(mv, int) and mv > 0:
        frac = (mv - _BATTERY_MV_EMPTY) / (_BATTERY_MV_FULL - _BATTERY_MV_EMPTY)
        return round(100.0 * min(1.0, max(0.0, frac)), 1)
    return None


def record_to_ping(imei: str, rec: AvlRecord) -> Ping:
    """One AVL record -> :class:`Ping` (not yet validated: :func:`trackers.pings.check_ping` does that).

    A record with no satellites carries no fix (the GPS element is zero or the last known
    position with a fresh time), so it is refused rather than stored as a position.
    """
    if rec.satellites == 0:
        raise PingError("no_fix", "record has no GPS fix (0 satellites)")
    return Ping(beacon_id=imei, fix_time=rec.fix_time, lat=rec.lat, lon=rec.lon, speed_kmh=float(rec.speed_kmh),
                heading=float(rec.angle), altitude_m=float(rec.altitude_m), battery_pct=battery_pct(rec.io))


# connection state machine --------------------------------------------------------------------------

@dataclass(frozen=True)
class ImeiReceived:
    imei: str


@dataclass(frozen=True)
class PacketReceived:
    packet: AvlPacket


class NeedData:
    """More bytes are needed before the next event."""


class ConnectionClosed:
    """The peer closed its side (EOF at a frame boundary)."""


NEED_DATA = NeedData()
CLOSED = ConnectionClosed()
Event = ImeiReceived | PacketReceived | NeedData | ConnectionClosed


class TeltonikaConnection:
    """Server side of one device connection: bytes in (:meth:`receive_data`), events out.

    States: ``imei`` (awaiting handshake) -> ``decide`` (IMEI reported, awaiting :meth:`accept`)
    -> ``data`` (AVL packets) ; ``closed`` after EOF, rejection or an error.
    """

    def __init__(self) -> None:
        self.state = "imei"
        self.imei: str | None = None
        self._buf = bytearray()
        self._eof = False

    def receive_data(self, data: bytes) -> None:
        """Feed received bytes; ``b""`` means the peer closed its side."""
        if self.state == "closed":
            raise TeltonikaError("closed", "data after the connection was closed")
        if data:
            self._buf += data
        else:
            self._eof = True

    def _fail(self, err: TeltonikaError) -> TeltonikaError:
        self.state = "closed"
        self._buf.clear()
        return err

    def next_event(self) -> Event:
        """The next complete event, :data:`NEED_DATA`, or :data:`CLOSED`; raises TeltonikaError on bad bytes."""
        if self.state == "closed":
            return CLOSED
        if self.state == "decide":
            return NEED_DATA
        buf = self._buf
        if self.state == "imei":
            if len(buf) >= 2:
                length = int.from_bytes(buf[:2], "big")
                if length not in IMEI_LENGTHS:
                    raise self._fail(TeltonikaError("imei", f"handshake announces {length} IMEI digits, expected 15"))
                if len(buf) >= 2 + length:
                    frame = bytes(buf[:2 + length])
                    del buf[:2 + length]
                    try:
                        self.imei = decode_imei(frame)
                    except TeltonikaError as err:
                        raise self._fail(err) from None
                    self.state = "decide"
                    return ImeiReceived(self.imei)
        else:  # data
            if len(buf) >= 8:
                if buf[:4] != b"\0\0\0\0":
                    raise self._fail(TeltonikaError("preamble", f"packet must start with 4 zero bytes, got {bytes(buf[:4]).hex()}"))
                length = int.from_bytes(buf[4:8], "big")
                if not 3 <= length <= MAX_DATA_LENGTH:
                    raise self._fail(TeltonikaError("length", f"data length {length} is outside 3-{MAX_DATA_LENGTH} bytes"))
                if len(buf) >= 12 + length:
                    frame = bytes(buf[:12 + length])
                    del buf[:12 + length]
                    try:
                        return PacketReceived(decode_avl_packet(frame))
                    except TeltonikaError as err:
                        raise self._fail(err) from None
        if self._eof:
            if buf:
                raise self._fail(TeltonikaError("truncated", f"connection closed inside a frame ({len(buf)} bytes pending)"))
            self.state = "closed"
            return CLOSED
        return NEED_DATA

    def accept(self, ok: bool) -> bytes:
        """The handshake answer to send: ``01`` and on to AVL data, or ``00`` and closed."""
        if self.state != "decide":
            raise TeltonikaError("state", f"no IMEI awaiting a decision (state {self.state})")
        self.state = "data" if ok else "closed"
        return b"\x01" if ok else b"\x00"

    def ack(self, packet: AvlPacket) -> bytes:
        """The acknowledgement to send once the packet's records are safely stored."""
        return len(packet.records).to_bytes(4, "big")
