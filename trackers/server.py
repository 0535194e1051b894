"""The asyncio TCP server around :class:`~trackers.teltonika.TeltonikaConnection`.

All protocol logic is in the pure state machine; this only moves bytes, asks the ingest whether
an IMEI is allowed, and acknowledges a packet once its records are committed.  A malformed
packet raises :class:`~trackers.teltonika.TeltonikaError`: it is counted, logged with the IMEI,
and closes that connection only (no acknowledgement, so the device resends it).
"""

from __future__ import annotations

import asyncio
import logging

from trackers.ingest import PingIngest
from trackers.pings import Ping, PingError
from trackers.teltonika import (NEED_DATA, ImeiReceived, PacketReceived, TeltonikaConnection, TeltonikaError,
                                record_to_ping)

log = logging.getLogger(__name__)
PROTOCOL = "teltonika"


class TeltonikaServer:
    def __init__(self, ingest: PingIngest, host: str = "127.0.0.1", port: int = 5027,
                 idle_timeout_s: float = 900.0) -> None:
        self.ingest, self.host, self.port = ingest, host, port
        self.idle_timeout_s = idle_timeout_s
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, limit=1 << 17)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("Teltonika (Codec 8/8E) server listening on %s:%d", self.host, self.port)

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()
        self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = TeltonikaConnection()
        self.ingest.stats.connections[PROTOCOL] += 1
        peer = writer.get_extra_info("peername")
        self._writers.add(writer)
        try:
            # one idle deadline, moved on each read: asyncio.wait_for would build a Task per read
            async with asyncio.timeout(None) as idle:
                await self._serve(conn, reader, writer, idle, peer)
        except TeltonikaError as err:
            self.ingest.stats.decode_error(PROTOCOL, err.reason)
            log.warning("teltonika IMEI %s from %s: %s; closing this connection", conn.imei or "?", peer, err)
        except TimeoutError:
            log.info("teltonika IMEI %s from %s idle for %.0f s; closing", conn.imei or "?", peer, self.idle_timeout_s)
        except (ConnectionError, OSError) as err:  # peer gone
            log.warning("teltonika IMEI %s from %s: %s; closing this connection", conn.imei or "?", peer, err)
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _serve(self, conn: TeltonikaConnection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     idle: asyncio.Timeout, peer: object) -> None:
        """Events until the device closes, is refused, or a store failure leaves its packet unacknowledged."""
        stats, loop = self.ingest.stats, asyncio.get_running_loop()
        while True:
            event = conn.next_event()
            if event is NEED_DATA:
                idle.reschedule(loop.time() + self.idle_timeout_s)
                data = await reader.read(65536)
                idle.reschedule(None)  # waiting on our own store is not the device being idle
                conn.receive_data(data)
            elif isinstance(event, ImeiReceived):
                ok = self.ingest.allowed(event.imei)
                writer.write(conn.accept(ok))
                await writer.drain()
                if not ok:
                    stats.reject(PROTOCOL, "unknown_beacon")
                    log.warning("teltonika IMEI %s from %s refused: not a registered beacon", event.imei, peer)
                    return
            elif isinstance(event, PacketReceived):
                stats.packets[PROTOCOL] += 1
                imei = conn.imei or ""
                candidates: list[Ping | tuple[str, PingError]] = []
                for record in event.packet.records:
                    try:
                        candidates.append(record_to_ping(imei, record))
                    except PingError as err:
                        candidates.append((imei, err))
                try:
                    await self.ingest.submit(self.ingest.screen(PROTOCOL, candidates), PROTOCOL, counted=False,
                                             seen=imei)
                except Exception as err:  # noqa: BLE001 - store down: no ack, the device resends later
                    log.warning("teltonika IMEI %s: storing %d records failed (%s); closing without ack",
                                imei, len(candidates), err)
                    return
                writer.write(conn.ack(event.packet))  # every record is dealt with: stored, duplicate or refused
                await writer.drain()
            else:  # the device closed the connection
                return
