"""Point a repository's default DVC remote at `params.storage`, credentials left out.

`genforge storage dvc-remote` runs `dvc remote add --force --default` (and
`dvc remote modify ... endpointurl` for a custom S3 endpoint) — the documented way
to configure DVC; push/pull with a diagnosis live in transfer.py. Only the URL and endpoint go into `.dvc/config`, which is committed
to git; DVC's S3 client reads the credentials from the environment at push/pull
time. A config that holds credentials anyway (someone ran `dvc remote modify
secret_access_key ...`) is refused with the fix named.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from genforge.config import StorageConfig
from genforge.dvc_repo import dvc_executable
from genforge.errors import GenforgeError
from genforge.storage.s3 import resolve

# Remote names per backend: switching backends keeps the other remote configured.
REMOTE_NAMES = {"local": "local", "s3": "s3"}
SECRET_OPTIONS = ("access_key_id", "secret_access_key", "session_token", "password")
SECRET_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def remote_url(cfg: StorageConfig) -> str:
    """The DVC remote URL of `params.storage`: a directory, or s3://bucket/prefix."""
    return resolve(cfg).dvc_url if cfg.backend == "s3" else cfg.dvc_remote


def _dvc(repo: Path, *args: str) -> None:
    result = subprocess.run(
        [dvc_executable(), *args], cwd=repo, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        detail = " / ".join((result.stderr or result.stdout).strip().splitlines()[-2:])
        raise GenforgeError(f"`dvc {' '.join(args)}` failed in {repo}: {detail}")


def configure_dvc_remote(cfg: StorageConfig, repo: Path | str = ".") -> str:
    """Make `params.storage` the default DVC remote of `repo`; return "name -> url".

    The endpoint written is `storage.s3_endpoint` only: when it is null, DVC's S3
    client falls back to AWS_ENDPOINT_URL at run time, like every other boto3 user.
    """
    repo = Path(repo)
    if not (repo / ".dvc").is_dir():
        raise GenforgeError(f"{repo.resolve()} is not a DVC repository (no .dvc/ directory)")
    name, url = REMOTE_NAMES[cfg.backend], remote_url(cfg)
    _dvc(repo, "remote", "add", "--force", "--default", name, url)
    if cfg.backend == "s3" and cfg.s3_endpoint:
        _dvc(repo, "remote", "modify", name, "endpointurl", cfg.s3_endpoint)
    assert_no_credentials(repo / ".dvc")
    return f"{name} -> {url}" + (f" (endpoint {cfg.s3_endpoint})" if cfg.s3_endpoint else "")


def assert_no_credentials(dvc_dir: Path, environ: Mapping[str, str] | None = None) -> None:
    """Refuse a committed DVC config (`.dvc/config`) that holds credentials.

    Looks for credential options in any remote and for the environment's credential
    values anywhere in the file.
    """
    from dvc.config import Config

    environ = os.environ if environ is None else environ
    config_path = dvc_dir / "config"
    if not config_path.is_file():
        return
    remotes = Config(dvc_dir=str(dvc_dir), validate=False).load_one("repo").get("remote", {})
    for name, options in remotes.items():
        for option in SECRET_OPTIONS:
            if option in options:
                raise GenforgeError(
                    f"{config_path}: remote {name!r} holds {option}; remove it with "
                    f"`dvc remote modify --unset {name} {option}`: credentials belong in "
                    "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or .dvc/config.local, never committed)"
                )
    text = config_path.read_text()
    for var in SECRET_VARS:
        value = environ.get(var)
        if value and len(value) >= 4 and value in text:
            raise GenforgeError(f"{config_path} contains the value of {var}: remove it")
