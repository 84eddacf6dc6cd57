"""Typed readers for the environment variables that configure a node.

Every variable read here is documented in docs/configuration.md. A value that
cannot be parsed stops the process with a message naming the variable: a node
that silently falls back to a default on a typo is worse than one that does not
start.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


class ConfigurationError(Exception):
    """A configuration variable is present but unusable."""


def env_str(name: str, default: str = "") -> str:
    """The variable's value, or the content of the file named by ``NAME_FILE``.

    Secrets are usually mounted as files (Docker/Kubernetes secrets, systemd
    credentials), so every string variable may be given either way.
    """
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(f"{name}_FILE: cannot read {file_name}: {exc}") from exc
    return os.environ.get(name) or default


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name}: expected true or false, got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name}: expected a whole number, got {raw!r}") from exc


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    """A comma-separated list; blank items are dropped."""
    raw = env_str(name)
    if not raw.strip():
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = env_str(name, default).strip().lower() or default
    if value not in choices:
        raise ConfigurationError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def load_or_create_secret_key(data_dir: Path) -> str:
    """Return SECRET_KEY from the environment, or one generated once for this node.

    There is deliberately no fixed default: a key committed to a repository
    signs every session cookie of every node that forgot to set it. A generated
    key is written with owner-only permissions into the data folder so that it
    survives restarts (sessions and signed links stay valid).
    """
    return _configured_or_generated("SECRET_KEY", data_dir / "secret_key")


# A generated key has 512 random bits; one set by hand must not be a password.
MIN_KEY_ENCRYPTION_KEY_LENGTH = 32


def load_or_create_key_encryption_key(data_dir: Path) -> str:
    """Return the node's key-encryption key: from ``LIENTHONG_KEY_ENCRYPTION_KEY``
    (or ``..._FILE``), or one generated once into ``<data folder>/key_encryption_key``.

    It encrypts the signing keys the node holds (lienthong.trust.keystore).
    Like SECRET_KEY there is no fixed default, and losing it makes every
    stored signing key unusable, so it is kept beside the data and backed up
    with it — or, better, given from a secret store that is backed up apart
    from the database.
    """
    name = "LIENTHONG_KEY_ENCRYPTION_KEY"
    key = _configured_or_generated(name, data_dir / "key_encryption_key")
    if len(key) < MIN_KEY_ENCRYPTION_KEY_LENGTH:
        raise ConfigurationError(
            f"{name}: at least {MIN_KEY_ENCRYPTION_KEY_LENGTH} characters are needed, "
            f"got {len(key)} (generate one with: python3 -c "
            "'import secrets; print(secrets.token_urlsafe(64))')"
        )
    return key


def _configured_or_generated(name: str, key_file: Path) -> str:
    """The variable ``name`` (or ``NAME_FILE``), else ``key_file``, else a new key written there."""
    configured = env_str(name)
    if configured:
        return configured
    if key_file.exists():
        return key_file.read_text(encoding="utf-8").strip()
    # Owner-only: the folder holds the keys, the SQLite database and demo passwords.
    key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_urlsafe(64)
    # Written whole under a name of its own, then linked into place: two processes
    # starting at once must neither each keep their own key nor read a file the
    # other has created but not written yet (os.link fails if the name exists).
    partial = key_file.with_name(f".{key_file.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(partial, key_file)
        except FileExistsError:
            return key_file.read_text(encoding="utf-8").strip()
    finally:
        partial.unlink(missing_ok=True)
    return key
