"""API tokens and roles, free of I/O.

A token is ``lapi_`` followed by 32 random bytes (URL-safe base64).  Only its SHA-256 is stored,
so a copy of the database cannot be replayed against the API; the secret is shown once, when it
is made.  Each token is bound to one principal (a person or a device), one role and, for the
agents who consult data, the reference of their individual authorisation (habilitation).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

ROLES = ("camera", "beacon", "analyst", "supervisor", "consumer", "admin")
# individually authorised agents: consulting data needs a habilitation reference on the token
HABILITATION_REQUIRED = ("analyst", "supervisor")
TOKEN_PREFIX = "lapi_"
SECRET_BYTES = 32
MAX_PRINCIPAL = 100
MAX_HABILITATION = 200


@dataclass(frozen=True)
class Principal:
    """Who a request acts for, as its token says."""

    token_id: int
    name: str
    role: str
    habilitation: str = ""


def new_token() -> str:
    """A fresh random token secret."""
    return TOKEN_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def token_hash(token: str) -> bytes:
    """What the database keeps of a token (32 bytes)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def plausible_token(token: str) -> bool:
    """Shape check before any lookup (a token of another system, or garbage, is not looked up)."""
    return token.startswith(TOKEN_PREFIX) and 20 <= len(token) <= 100 and token.isascii() and token.isprintable()


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, None when absent or another scheme."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def check_principal_name(name: str) -> str:
    """A principal name: 1-100 printable characters, trimmed."""
    name = (name or "").strip()
    if not name or len(name) > MAX_PRINCIPAL or not name.isprintable():
        raise ValueError(f"principal: 1-{MAX_PRINCIPAL} printable characters")
    return name


def check_grant(role: str, habilitation: str) -> tuple[str, str]:
    """Validate a role and habilitation reference for a new token; returns them trimmed."""
    if role not in ROLES:
        raise ValueError(f"role: must be one of {', '.join(ROLES)}, got {role!r}")
    habilitation = (habilitation or "").strip()
    if len(habilitation) > MAX_HABILITATION or not habilitation.isprintable():
        raise ValueError(f"habilitation: at most {MAX_HABILITATION} printable characters")
    if role in HABILITATION_REQUIRED and not habilitation:
        raise ValueError(f"habilitation: required for the {role} role (the reference of the agent's "
                         "individual authorisation to consult, e.g. an arrêté or a decision number)")
    return role, habilitation
