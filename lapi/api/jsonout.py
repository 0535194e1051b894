"""The one JSON encoder of API answers, WebSocket and SSE feeds: times as ISO 8601, text as UTF-8
(every answer says charset=utf-8), anything else as its string."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=lambda o: o.isoformat() if isinstance(o, datetime) else str(o))
