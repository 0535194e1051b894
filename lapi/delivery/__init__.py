"""Alert delivery from the outbox: live feeds (WebSocket, SSE), webhooks, MQTT."""
