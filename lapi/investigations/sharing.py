"""Shared watchlists: a list marked as shared with named partner services (a joint cell of police,
customs, Tracfin, armed forces), and the JSON format a list travels in, with its metadata, its legal
purpose and where it came from.

Pure part: validation of partner names, the export document and the reading of an imported one.
An export names the partner it is for (who must be among the list's partners); an import keeps the
document's provenance (issuing service, list, who exported it and when) on the new list and in
each entry's ``source``, so a hit on an imported entry says whose information it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from lapi.watchlists import ENTRY_FIELDS, parse_entry, parse_list_name

FORMAT = "lapi-watchlist/1"
PARTNER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
MAX_PARTNERS = 50
MAX_ENTRIES = 100_000


def parse_partners(value: Any, key: str = "shared_with") -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_PARTNERS or not all(
            isinstance(v, str) and PARTNER.fullmatch(v) for v in value):
        raise ValueError(f"{key}: must be a list of at most {MAX_PARTNERS} partner service names (letters, digits, "
                         "'_', '.', ':' or '-', 1-64 characters)")
    return sorted(set(value))


def parse_purpose(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 2000:
        raise ValueError("purpose: must be a string of at most 2000 characters (the legal purpose of the list)")
    return value.strip()


def export_document(listing: Mapping[str, Any], entries: Sequence[Mapping[str, Any]], partner: str, service: str,
                    exported_by: str, exported_at: datetime) -> dict[str, Any]:
    """The list as it is handed to ``partner``."""
    return {
        "format": FORMAT, "service": service, "partner": partner, "exported_by": exported_by,
        "exported_at": exported_at.isoformat(),
        "list": {"name": listing["name"], "description": listing["description"], "max_cost": listing["max_cost"],
                 "purpose": listing["purpose"], "provenance": listing["provenance"]},
        "entries": [{"id": e["id"], "plate": e["plate_norm"], "category": e["category"],
                     "legal_purpose": e["legal_purpose"], "reason": e["reason"], "priority": e["priority"],
                     "valid_from": e["valid_from"].isoformat() if e["valid_from"] else None,
                     "valid_until": e["valid_until"].isoformat() if e["valid_until"] else None,
                     "note": e["note"], "source": e["source"]} for e in entries],
    }


def read_document(doc: Any, name: str | None, imported_by: str, imported_at: datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(list fields, entry rows) of an imported document, ``name`` overriding its list's; ValueError
    naming the field."""
    if not isinstance(doc, Mapping) or doc.get("format") != FORMAT:
        raise ValueError(f"format: must be {FORMAT!r} (a list exported by a LAPI service)")
    for key in ("service", "exported_by", "exported_at"):
        if not isinstance(doc.get(key), str) or not doc[key] or len(doc[key]) > 200:
            raise ValueError(f"{key}: required, a string of at most 200 characters")
    meta = doc.get("list")
    if not isinstance(meta, Mapping):
        raise ValueError("list: required, an object with the list's name, description, max_cost and purpose")
    original = parse_list_name(meta.get("name"), "list.name")
    target = parse_list_name(name, "as") if name else original
    description = meta.get("description", "")
    if not isinstance(description, str) or len(description) > 2000:
        raise ValueError("list.description: must be a string of at most 2000 characters")
    purpose = parse_purpose(meta.get("purpose", ""))
    if not purpose:
        raise ValueError("list.purpose: required: a shared list must say what it may be used for")
    entries = doc.get("entries")
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise ValueError(f"entries: must be a list of at most {MAX_ENTRIES} entries")
    origin = f"{doc['service']}/{original}"
    rows = []
    for i, raw in enumerate(entries):
        if not isinstance(raw, Mapping):
            raise ValueError(f"entries[{i}]: must be an object")
        fields = {k: v for k, v in raw.items() if k in ENTRY_FIELDS and k != "list"}
        source = raw.get("source") or ""
        fields["source"] = (f"{origin}#{raw.get('id')}" + (f" ({source})" if source else ""))[:200]
        try:
            rows.append(parse_entry({**fields, "list": target}))
        except ValueError as err:
            raise ValueError(f"entries[{i}].{err}") from None
    provenance = {"service": doc["service"], "list": original, "partner": doc.get("partner"),
                  "exported_by": doc["exported_by"], "exported_at": doc["exported_at"],
                  "imported_by": imported_by, "imported_at": imported_at.isoformat(), "entries": len(rows),
                  "earlier": meta.get("provenance") or None}
    listing = {"name": target, "description": description, "purpose": purpose, "provenance": provenance,
               "max_cost": meta.get("max_cost")}
    return listing, rows
