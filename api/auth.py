"""API keys, tenants and roles.

``CITEWISE_API_KEYS_FILE`` names a JSON file ``{"<key>": {"tenant": "acme", "role": "reader", "groups": ["hr"]}}``;
roles are ordered ``reader < writer < admin``. ``groups`` (optional) are the ACL groups of the key: documents
ingested with ``--acl`` are readable only by keys in one of their groups (admin keys read all of their tenant).
Keys are kept only as SHA-256 digests. Without the file the API is open:
every caller is tenant ``default`` with the admin role (``citewise serve`` allows that on loopback only).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from citewise.errors import AuthError, ConfigError, Forbidden
from citewise.storage import read_json_setting
from citewise.types import DEFAULT_TENANT, NAME

ROLES = ("reader", "writer", "admin")
_RANK = {role: i for i, role in enumerate(ROLES)}


@dataclass(frozen=True)
class Principal:
    """Who is calling: their tenant, role, ACL groups (``None``: no ACL check) and a non-secret key id for logs."""

    tenant: str
    role: str
    key_id: str
    groups: tuple[str, ...] | None = None

    def require(self, role: str) -> Principal:
        if _RANK[self.role] < _RANK[role]:
            raise Forbidden(f"this route needs the {role!r} role; your key has {self.role!r}")
        return self


OPEN = Principal(tenant=DEFAULT_TENANT, role="admin", key_id="open")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyRing:
    """The known keys (by digest); ``open`` when no keys file is configured."""

    def __init__(self, principals: dict[str, Principal] | None) -> None:
        self._principals = principals

    @property
    def open(self) -> bool:
        return self._principals is None

    @property
    def tenants(self) -> set[str]:
        return {p.tenant for p in (self._principals or {}).values()} or {DEFAULT_TENANT}

    @classmethod
    def load(cls, path: Path | None) -> KeyRing:
        """Read the keys file; ``ConfigError`` says exactly what is wrong with it."""
        if path is None:
            return cls(None)
        where = f"CITEWISE_API_KEYS_FILE={path}"
        data = read_json_setting(path, "CITEWISE_API_KEYS_FILE")
        if not isinstance(data, dict) or not data:
            raise ConfigError(f'{where}: expected a non-empty object {{"<key>": {{"tenant": ..., "role": ...}}}}')
        principals: dict[str, Principal] = {}
        for n, (key, entry) in enumerate(data.items(), 1):
            label = f"{where}: entry {n} (key {key[:4]}…)"
            if len(key) < 16:
                raise ConfigError(f"{label}: keys must be at least 16 characters long")
            if not isinstance(entry, dict):
                raise ConfigError(f'{label}: expected {{"tenant": "...", "role": "reader|writer|admin"}}')
            tenant, role = entry.get("tenant"), entry.get("role")
            if not isinstance(tenant, str) or not NAME.match(tenant):
                raise ConfigError(f"{label}: tenant must be 1-64 letters, digits, '.', '_' or '-'; got {tenant!r}")
            if role not in ROLES:
                raise ConfigError(f"{label}: role must be one of {', '.join(ROLES)}; got {role!r}")
            groups = entry.get("groups", [])
            if not isinstance(groups, list) or not all(isinstance(g, str) and NAME.match(g) for g in groups):
                raise ConfigError(
                    f'{label}: groups must be a list of names (1-64 letters, digits, ".", "_" or "-"); got {groups!r}'
                )
            digest = _digest(key)
            if any(p.key_id == digest[:8] for p in principals.values()):  # conversations are kept per key id
                raise ConfigError(f"{label}: its id {digest[:8]} (SHA-256 prefix) is another key's too; replace it")
            acl_groups = None if role == "admin" else tuple(sorted(set(groups)))
            principals[digest] = Principal(tenant=tenant, role=str(role), key_id=digest[:8], groups=acl_groups)
        return cls(principals)

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller of an ``Authorization: Bearer <key>`` header; ``AuthError`` when missing or unknown."""
        if self._principals is None:
            return OPEN
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("missing credentials: send the header 'Authorization: Bearer <your API key>'")
        principal = self._principals.get(_digest(token.strip()))
        if principal is None:
            raise AuthError("unknown API key; check the key or ask an admin for one")
        return principal
