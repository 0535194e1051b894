"""Teltonika Codec 8 / 8E: the byte-exact examples of Teltonika's protocol documentation, the
connection state machine, and fuzzing (arbitrary bytes raise TeltonikaError and nothing else)."""

from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from trackers.pings import PingError
from trackers.teltonika import (CLOSED, CODEC_8, CODEC_8E, NEED_DATA, AvlRecord, ImeiReceived, PacketReceived,
                                TeltonikaConnection, TeltonikaError, battery_pct, crc16_ibm, decode_avl_packet,
                                decode_imei, encode_avl_packet, encode_imei, record_to_ping)

# "Codec 8" and "Codec 8 Extended" examples from the Teltonika data sending protocols page
CODEC8_ONE = bytes.fromhex(
    "000000000000003608010000016B40D8EA30010000000000000000000000000000000105021503010101425E0F01F10000601A014E"
    "0000000000000000010000C7CF")
CODEC8_TWO_RECORDS = bytes.fromhex(
    "000000000000004308020000016B40D57B480100000000000000000000000000000001010101000000000000016B40D5C19801000000"
    "0000000000000000000000000101010101000000020000252C")
CODEC8E_ONE = bytes.fromhex(
    "000000000000004A8E010000016B412CEE000100000000000000000000000000000000010005000100010100010011001D0001001001"
    "5E2C880002000B000000003544C87A000E000000001DD7E06A00000100002994")
IMEI_HANDSHAKE = bytes.fromhex("000F333536333037303432343431303133")


def test_crc16_ibm_check_value():
    assert crc16_ibm(b"123456789") == 0xBB3D  # the CRC-16/ARC catalogue check value
    assert crc16_ibm(b"") == 0


def _crc_bitwise(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_crc16_two_bytes_a_step_equals_bitwise(data):
    assert crc16_ibm(data) == _crc_bitwise(data)


def test_codec8_example_every_field():
    packet = decode_avl_packet(CODEC8_ONE)
    assert packet.codec == CODEC_8 and packet.crc == 0xC7CF == crc16_ibm(CODEC8_ONE[8:-4])
    (rec,) = packet.records
    assert rec.timestamp_ms == 0x16B40D8EA30 == 1560161086000
    assert rec.fix_time == datetime(2019, 6, 10, 10, 4, 46, tzinfo=timezone.utc)
    assert (rec.priority, rec.lon, rec.lat, rec.altitude_m, rec.angle, rec.satellites, rec.speed_kmh) == (1, 0, 0, 0, 0, 0, 0)
    assert rec.event_io == 1
    # N1: 0x15=3, 0x01=1; N2: 0x42=0x5E0F; N4: 0xF1=0x601A; N8: 0x4E=0
    assert rec.io == {0x15: 3, 0x01: 1, 0x42: 0x5E0F, 0xF1: 0x601A, 0x4E: 0}
    assert rec.io[66] == 24079  # external voltage, mV: the vehicle's 24 V, not the beacon battery
    assert battery_pct(rec.io) is None


def test_codec8_two_records():
    packet = decode_avl_packet(CODEC8_TWO_RECORDS)
    assert packet.crc == 0x252C and len(packet.records) == 2
    assert [r.timestamp_ms for r in packet.records] == [0x16B40D57B48, 0x16B40D5C198]
    assert [r.io for r in packet.records] == [{1: 0}, {1: 1}]
    assert all(r.event_io == 1 and r.priority == 1 for r in packet.records)


def test_codec8e_example_every_field():
    packet = decode_avl_packet(CODEC8E_ONE)
    assert packet.codec == CODEC_8E and packet.crc == 0x2994 == crc16_ibm(CODEC8E_ONE[8:-4])
    (rec,) = packet.records
    assert rec.timestamp_ms == 0x16B412CEE00
    assert rec.fix_time == datetime(2019, 6, 10, 11, 36, 32, tzinfo=timezone.utc)
    assert (rec.priority, rec.lon, rec.lat, rec.altitude_m, rec.angle, rec.satellites, rec.speed_kmh) == (1, 0, 0, 0, 0, 0, 0)
    assert rec.event_io == 0x0001
    # N1: 0x0001=1; N2: 0x0011=0x1D; N4: 0x0010=0x015E2C88; N8: 0x000B=0x3544C87A, 0x000E=0x1DD7E06A; NX: none
    assert rec.io == {0x0001: 1, 0x0011: 0x001D, 0x0010: 0x015E2C88, 0x000B: 0x3544C87A, 0x000E: 0x1DD7E06A}


def test_examples_reencode_byte_exact():
    for raw in (CODEC8_ONE, CODEC8_TWO_RECORDS, CODEC8E_ONE):
        packet = decode_avl_packet(raw)
        assert encode_avl_packet(packet.records, packet.codec) == raw


def test_imei_handshake():
    assert decode_imei(IMEI_HANDSHAKE) == "356307042441013"
    assert encode_imei("356307042441013") == IMEI_HANDSHAKE
    for bad in (b"\x00\x0f35630704244101X", b"\x00\x02", b"\x00\x0f123", b"\x00"):
        with pytest.raises(TeltonikaError):
            decode_imei(bad)


@pytest.mark.parametrize("mutate,reason", [
    (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "crc"),                      # CRC off by one bit
    (lambda b: b[:20] + bytes([b[20] ^ 0x40]) + b[21:], "crc"),          # a data byte flipped
    (lambda b: b"\x00\x00\x00\x01" + b[4:], "preamble"),
    (lambda b: b[:7] + bytes([b[7] + 1]) + b[8:], "length"),
    (lambda b: b[:-5], "length"),
])
def test_corrupt_packets_raise_with_reason(mutate, reason):
    with pytest.raises(TeltonikaError) as err:
        decode_avl_packet(mutate(CODEC8_ONE))
    assert err.value.reason == reason


def _with_crc(data: bytes) -> bytes:
    return b"\0\0\0\0" + len(data).to_bytes(4, "big") + data + crc16_ibm(data).to_bytes(4, "big")


def test_well_framed_but_wrong_content_is_refused():
    data = CODEC8_ONE[8:-4]
    with pytest.raises(TeltonikaError, match="codec 0x10"):
        decode_avl_packet(_with_crc(b"\x10" + data[1:]))  # Codec 16 is not spoken
    with pytest.raises(TeltonikaError) as err:
        decode_avl_packet(_with_crc(data[:-1] + b"\x02"))  # counts differ
    assert err.value.reason == "count"
    with pytest.raises(TeltonikaError):
        decode_avl_packet(_with_crc(data[:1] + b"\x02" + data[2:-1] + b"\x02"))  # announces a record it lacks


def test_record_to_ping_and_battery():
    rec = AvlRecord(1763884800000, 0, 1.8533, 50.9513, 12, 254, 9, 87, 0, {113: 76, 66: 12600})
    ping = record_to_ping("356307042441013", rec)
    assert ping.beacon_id == "356307042441013" and ping.fix_time == datetime(2025, 11, 23, 8, 0, tzinfo=timezone.utc)
    assert (ping.lat, ping.lon, ping.speed_kmh, ping.heading, ping.altitude_m, ping.battery_pct) == \
        (50.9513, 1.8533, 87.0, 254.0, 12.0, 76.0)
    assert battery_pct({67: 3850}) == 50.0 and battery_pct({67: 4300}) == 100.0 and battery_pct({67: 3000}) == 0.0
    with pytest.raises(PingError) as err:
        record_to_ping("356307042441013", decode_avl_packet(CODEC8_ONE).records[0])  # 0 satellites
    assert err.value.field == "no_fix"


def test_negative_coordinates_and_altitude_round_trip():
    rec = AvlRecord(1763884800000, 1, -73.9857, -40.7484, -12, 359, 4, 0, 0, {1: 1, 200: b"\x01\x02"})
    (back,) = decode_avl_packet(encode_avl_packet([rec], CODEC_8E)).records
    assert back == rec


def feed(conn: TeltonikaConnection, data: bytes) -> list:
    conn.receive_data(data)
    events = []
    while (ev := conn.next_event()) is not NEED_DATA and ev is not CLOSED:
        events.append(ev)
        if isinstance(ev, ImeiReceived):
            assert conn.accept(True) == b"\x01"
    return events


def test_state_machine_byte_by_byte():
    conn = TeltonikaConnection()
    stream = IMEI_HANDSHAKE + CODEC8_ONE + CODEC8E_ONE
    events = []
    for i in range(len(stream)):
        events += feed(conn, stream[i:i + 1])
    assert isinstance(events[0], ImeiReceived) and events[0].imei == "356307042441013"
    assert [type(e) for e in events[1:]] == [PacketReceived, PacketReceived]
    assert conn.ack(events[1].packet) == b"\x00\x00\x00\x01"
    conn.receive_data(b"")
    assert conn.next_event() is CLOSED


def test_state_machine_reject_and_errors():
    conn = TeltonikaConnection()
    conn.receive_data(IMEI_HANDSHAKE + CODEC8_ONE)
    assert isinstance(conn.next_event(), ImeiReceived)
    assert conn.next_event() is NEED_DATA  # nothing is decoded until the server decides
    assert conn.accept(False) == b"\x00" and conn.next_event() is CLOSED
    conn = TeltonikaConnection()
    conn.receive_data(CODEC8_ONE)  # no handshake: the zero length is refused at once
    with pytest.raises(TeltonikaError):
        conn.next_event()
    assert conn.next_event() is CLOSED
    conn = TeltonikaConnection()
    feed(conn, IMEI_HANDSHAKE)
    conn.receive_data(b"\x00\x00\x00\x00\xff\xff\xff\xff")  # absurd length: refused before buffering it
    with pytest.raises(TeltonikaError, match="data length"):
        conn.next_event()
    conn = TeltonikaConnection()
    feed(conn, IMEI_HANDSHAKE + CODEC8_ONE[:10])
    conn.receive_data(b"")
    with pytest.raises(TeltonikaError, match="inside a frame"):
        conn.next_event()


# fuzzing --------------------------------------------------------------------------------------------

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=600))
def test_fuzz_decode_packet_raises_only_its_error(data):
    try:
        decode_avl_packet(data)
    except TeltonikaError:
        pass


@FUZZ
@given(st.sampled_from([CODEC8_ONE, CODEC8_TWO_RECORDS, CODEC8E_ONE]), st.data())
def test_fuzz_mutated_examples_with_valid_crc(example, data):
    """Corrupt the data field but fix the CRC up, so the fuzzing reaches the record parser."""
    body = bytearray(example[8:-4])
    for _ in range(data.draw(st.integers(1, 6))):
        body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(body)))
    body = bytes(body[:cut]) + data.draw(st.binary(max_size=40))
    try:
        packet = decode_avl_packet(_with_crc(body))
    except TeltonikaError:
        return
    for rec in packet.records:
        try:
            record_to_ping("356307042441013", rec)
        except PingError:
            pass


@FUZZ
@given(st.lists(st.binary(max_size=80), max_size=8), st.booleans())
def test_fuzz_connection_raises_only_its_error(chunks, handshake_first):
    conn = TeltonikaConnection()
    if handshake_first:
        chunks = [IMEI_HANDSHAKE, *chunks]
    try:
        for chunk in [*chunks, b""]:
            feed(conn, chunk)
    except TeltonikaError:
        assert conn.next_event() is CLOSED
