"""Watchlist entries and lists as typed in: validation, CSV import and export.  Pure, no I/O.

One rule set serves the API, the CLI and CSV files, so an entry refused in one is refused in all,
with a message naming the field (``valid_until: must be after valid_from``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from lapi.matching import normalise_pattern

# field -> maximum length of the text fields an entry carries besides its pattern
TEXT_LIMITS = {"category": 100, "legal_purpose": 500, "reason": 500, "note": 2000, "source": 200}
LIST_NAME_MAX = 100
MIN_PLAIN_CHARS = 2  # shorter plain plates cannot be told from fragments
ENTRY_FIELDS = ("plate", "list", "category", "legal_purpose", "reason", "priority", "valid_from", "valid_until",
                "note", "source")
CSV_COLUMNS = ENTRY_FIELDS  # the export header; the import accepts the same (``pattern`` for ``plate`` too)
MAX_COST_LIMIT = 2.0  # the index tolerates at most one real edit: thresholds below 2


def parse_list_name(value: Any, field: str = "list") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field}: must be a non-empty string")
    name = value.strip()
    if len(name) > LIST_NAME_MAX or not name.isprintable():  # no control characters, DEL and C1 included
        raise ValueError(f"{field}: at most {LIST_NAME_MAX} printable characters, got {value!r}")
    return name


def parse_max_cost(value: Any, field: str = "max_cost") -> float:
    """A list's threshold: the highest lookalike-weighted edit cost still a hit (0.8: lookalikes only)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < MAX_COST_LIMIT:
        raise ValueError(f"{field}: must be a number >= 0 and < {MAX_COST_LIMIT:g} (0.8: exact and lookalike "
                         f"matches; 1 and above: also one real edit), got {value!r}")
    return round(float(value), 2)


def parse_time_field(value: Any, field: str) -> datetime | None:
    """ISO 8601 with an offset, or None/'' for "no bound"."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{field}: needs a UTC offset")
        return value.astimezone(timezone.utc)
    if not isinstance(value, str):
        raise ValueError(f"{field}: must be an ISO 8601 time with offset, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{field}: not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{field}: time needs a UTC offset (e.g. 'Z' or '+01:00'): {value!r}")
    return parsed.astimezone(timezone.utc)


def parse_pattern(value: Any, field: str = "plate") -> tuple[str, str]:
    """(normalised pattern, text as typed) of a plate or wildcard pattern."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field}: required, a plate or a pattern ('?' one character, '*' any run)")
    try:
        norm = normalise_pattern(value)
    except ValueError as err:
        raise ValueError(f"{field}: {err}") from None
    if "?" not in norm and "*" not in norm and len(norm) < MIN_PLAIN_CHARS:
        raise ValueError(f"{field}: a plate needs {MIN_PLAIN_CHARS}-10 letters/digits, got {value!r}")
    return norm, value.strip()


def parse_entry(fields: Mapping[str, Any], *, partial: bool = False, default_list: str = "default") -> dict[str, Any]:
    """Validate an entry as typed (API body, CSV row) -> store columns.

    ``partial``: an update, only the fields present are checked and returned.  Raises ValueError
    naming the field.
    """
    unknown = [k for k in fields if k not in ENTRY_FIELDS and k != "pattern"]
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown field (known: {', '.join(ENTRY_FIELDS)})")
    out: dict[str, Any] = {}
    plate_key = "pattern" if "pattern" in fields else "plate"
    if plate_key in fields or not partial:
        out["plate_norm"], out["plate_text"] = parse_pattern(fields.get(plate_key), plate_key)
    if "list" in fields or not partial:
        out["list_name"] = parse_list_name(fields.get("list") or default_list)
    for key, limit in TEXT_LIMITS.items():
        if key in fields or not partial:
            value = fields.get(key)
            value = "" if value is None else value
            if not isinstance(value, str) or len(value) > limit:
                raise ValueError(f"{key}: must be a string of at most {limit} characters")
            out[key] = value.strip()
    if "priority" in fields or not partial:
        priority = fields.get("priority")
        priority = 1 if priority is None or priority == "" else priority
        if isinstance(priority, str):
            try:
                priority = int(priority)
            except ValueError:
                raise ValueError("priority: must be an integer 1-5") from None
        if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 5:
            raise ValueError("priority: must be an integer 1-5")
        out["priority"] = priority
    for key in ("valid_from", "valid_until"):
        if key in fields or not partial:
            out[key] = parse_time_field(fields.get(key), key)
    start, end = out.get("valid_from"), out.get("valid_until")
    if start is not None and end is not None and end <= start:
        raise ValueError("valid_until: must be after valid_from")
    return out


def valid_at(valid_from: datetime | None, valid_until: datetime | None, at: datetime) -> bool:
    """Whether an entry with these bounds is in force at ``at`` (from inclusive, until exclusive)."""
    return (valid_from is None or valid_from <= at) and (valid_until is None or at < valid_until)


def parse_watchlist_csv(text: str, default_list: str = "default") -> list[dict[str, Any]]:
    """CSV with a header: ``plate`` (or ``pattern``) required; the other :data:`CSV_COLUMNS` optional.

    Raises ValueError naming the line and field of the first bad row, so nothing is half-imported.
    """
    reader = csv.DictReader(io.StringIO(text), strict=True)  # an unterminated quote is an error, not a value
    try:
        return _parse_rows(reader, default_list)
    except csv.Error as err:
        raise ValueError(f"line {reader.line_num}: malformed CSV: {err}") from None


def _parse_rows(reader: csv.DictReader, default_list: str) -> list[dict[str, Any]]:
    header = [(f or "").strip().lower() for f in (reader.fieldnames or [])]
    if "plate" not in header and "pattern" not in header:
        raise ValueError("CSV needs a header row with a 'plate' (or 'pattern') column")
    for name in header:
        if name not in CSV_COLUMNS and name != "pattern":
            raise ValueError(f"unknown column {name!r} (known: {', '.join(CSV_COLUMNS)})")
    rows = []
    for line_no, raw in enumerate(reader, start=2):
        if None in raw:
            raise ValueError(f"line {line_no}: more values than header columns")
        rec = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        try:
            rows.append(parse_entry(rec, default_list=default_list))
        except ValueError as err:
            raise ValueError(f"line {line_no}: {err}") from None
    if not rows:
        raise ValueError("CSV has no data rows")
    return rows


def _csv_time(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(timezone.utc).isoformat()


def watchlist_csv(entries: Iterable[Mapping[str, Any]]) -> str:
    """Entries (store rows) as CSV that :func:`parse_watchlist_csv` reads back to the same entries."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        writer.writerow([e["plate_text"] or e["plate_norm"], e["list_name"], e["category"], e["legal_purpose"],
                         e["reason"], e["priority"], _csv_time(e["valid_from"]), _csv_time(e["valid_until"]),
                         e["note"], e["source"]])
    return out.getvalue()
