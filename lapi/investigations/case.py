"""Case archives: what an investigation hands to another service, in a form it can check.

A case archive is a zip file holding the evidence (reads, passes, hits, routes as GeoJSON, crops,
the audit trail of the consultations made under the procedure), ``manifest.json`` listing every
file with its size and SHA-256, and ``signature.json``: HMAC-SHA256 of the manifest's exact bytes
under the service's case key (``investigations.case_key_env``), which the receiving service holds
too.  Verification recomputes both: a file changed, added or removed, or a manifest edited, fails.
Pure code, no I/O besides the bytes handed in.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

FORMAT = "lapi-case/1"
ALGORITHM = "HMAC-SHA256"
MANIFEST, SIGNATURE = "manifest.json", "signature.json"
MAX_MEMBERS = 100_000


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=True,
                      default=lambda o: o.isoformat() if isinstance(o, datetime) else str(o)).encode()


def key_id(key: bytes) -> str:
    """A short public name of a key (its SHA-256, cut), so a receiver knows which key to use."""
    return hashlib.sha256(b"lapi-case-key:" + key).hexdigest()[:16]


def sign(manifest: bytes, key: bytes) -> str:
    return hmac.new(key, manifest, hashlib.sha256).hexdigest()


@dataclass
class CaseArchive:
    """The archive's files before they are packed (path -> bytes) and what the manifest says of them."""

    meta: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)

    def add_json(self, path: str, obj: Any) -> None:
        self.files[path] = _dumps(obj)

    def manifest(self) -> bytes:
        entries = [{"path": p, "bytes": len(b), "sha256": hashlib.sha256(b).hexdigest()}
                   for p, b in sorted(self.files.items())]
        return _dumps({"format": FORMAT, **self.meta, "files": entries})

    def pack(self, key: bytes) -> tuple[bytes, str, str]:
        """(zip bytes, manifest SHA-256, signature)."""
        manifest = self.manifest()
        signature = sign(manifest, key)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(MANIFEST, manifest)
            for path, data in sorted(self.files.items()):
                z.writestr(path, data)
            z.writestr(SIGNATURE, _dumps({"algorithm": ALGORITHM, "key_id": key_id(key), "signature": signature,
                                          "signed": MANIFEST}))
        return buf.getvalue(), hashlib.sha256(manifest).hexdigest(), signature


@dataclass(frozen=True)
class Verification:
    ok: bool
    problems: list[str]
    manifest: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        m = self.manifest or {}
        return {"ok": self.ok, "problems": self.problems, "procedure": m.get("procedure"),
                "created_at": m.get("created_at"), "created_by": m.get("created_by"),
                "files": len(m.get("files", []))}


def verify(data: bytes, key: bytes) -> Verification:
    """Check an archive against ``key``: signature of the manifest, then every file's size and hash,
    and that the archive holds exactly the files the manifest lists."""
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        names = z.namelist()
        if len(names) > MAX_MEMBERS:
            return Verification(False, [f"archive has {len(names)} members, more than any case archive"], None)
        manifest_bytes, signature_bytes = z.read(MANIFEST), z.read(SIGNATURE)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as err:
        return Verification(False, [f"not a case archive: {err}"], None)
    problems = []
    try:
        manifest = json.loads(manifest_bytes)
        signature = json.loads(signature_bytes)
    except ValueError as err:
        return Verification(False, [f"manifest or signature is not JSON: {err}"], None)
    if signature.get("algorithm") != ALGORITHM:
        problems.append(f"signature algorithm {signature.get('algorithm')!r} is not {ALGORITHM}")
    elif signature.get("key_id") != key_id(key):
        problems.append(f"signed with key {signature.get('key_id')!r}, not with this key ({key_id(key)})")
    elif not hmac.compare_digest(str(signature.get("signature", "")), sign(manifest_bytes, key)):
        problems.append("signature does not match the manifest: the manifest was altered or another key signed it")
    if manifest.get("format") != FORMAT:
        problems.append(f"manifest format {manifest.get('format')!r} is not {FORMAT}")
    listed = {}
    for entry in manifest.get("files", []):
        listed[entry.get("path")] = entry
    for name in names:
        if name in (MANIFEST, SIGNATURE):
            continue
        entry = listed.pop(name, None)
        if entry is None:
            problems.append(f"{name}: in the archive but not in the manifest")
            continue
        content = z.read(name)
        if len(content) != entry.get("bytes") or hashlib.sha256(content).hexdigest() != entry.get("sha256"):
            problems.append(f"{name}: content differs from the manifest (SHA-256)")
    problems += [f"{path}: listed in the manifest but missing from the archive" for path in sorted(listed, key=str)]
    return Verification(not problems, problems, manifest)
