"""DVC on a real S3 server (`rclone serve s3`): remote from params, push, pull, and failures.

The failure a user meets: the S3 server goes away right before or during a push.
They must get a clear error, keep an intact local cache, and finish the job by
pushing again once the server is back — and a fresh clone must then pull the data.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.storage.conftest import genforge, write_params
from tests.storage.servers import BIN, S3Server

pytestmark = pytest.mark.integration
BUCKET = "genforge-dvc"
GIT_ID = ["-c", "user.name=genforge-test", "-c", "user.email=test@localhost"]


def run(cmd: list[str], cwd: Path, env: dict[str, str], ok: bool = True):
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    if ok:
        assert result.returncode == 0, f"{cmd}: {result.stdout}\n{result.stderr}"
    return result


def dvc(repo: Path, env: dict[str, str], *args: str, ok: bool = True):
    return run([str(BIN / "dvc"), *args], repo, env, ok)


def make_repo(root: Path, s3: S3Server, env: dict[str, str], sizes: dict[str, int]) -> Path:
    """A git + DVC repo whose params point at `s3`, with `data/` DVC-tracked and committed."""
    repo = root / "repo"
    repo.mkdir()
    run(["git", "init", "-q"], repo, env)
    dvc(repo, env, "init", "-q")
    dvc(repo, env, "config", "core.analytics", "false")
    write_params(repo / "params.yaml", s3, BUCKET)
    result = genforge("storage", "dvc-remote", env=env, cwd=repo)
    assert result.returncode == 0, result.stderr
    (repo / "data").mkdir()
    for name, size in sizes.items():
        (repo / "data" / name).write_bytes(os.urandom(size))
    dvc(repo, env, "add", "data")
    run(["git", "add", "-A"], repo, env)
    run(["git", *GIT_ID, "commit", "-qm", "data"], repo, env)
    return repo


def digest(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): digest(p) for p in sorted(root.rglob("*")) if p.is_file()
    }


def assert_objects_whole(md5_dir: Path) -> int:
    """Every DVC object under `md5_dir` holds exactly the content its md5 name says."""
    objects = [p for p in md5_dir.rglob("*") if p.is_file() and not p.name.startswith(".rclone")]
    for obj in objects:
        if not obj.name.endswith(".dir"):  # .dir manifests are named by their listing's md5
            assert digest(obj) == obj.parent.name + obj.name, obj
    return len(objects)


def assert_cache_intact(repo: Path, data: dict[str, str]) -> None:
    assert assert_objects_whole(repo / ".dvc/cache/files/md5") > 0
    assert tree(repo / "data") == data


def assert_remote_objects_whole(s3: S3Server) -> None:
    """No partial object is visible in the bucket (rclone hides its temp uploads)."""
    assert_objects_whole(s3.data / BUCKET / "dvc")


def clone_and_pull(root: Path, repo: Path, env: dict[str, str]) -> dict[str, str]:
    clone = root / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], root, env)
    dvc(clone, env, "pull")
    return tree(clone / "data")


def test_remote_from_params_push_then_fresh_clone_pulls(s3, tmp_path):
    s3.make_bucket(BUCKET)
    env = s3.client_env()
    repo = make_repo(tmp_path, s3, env, {"a.bin": 50_000, "b.bin": 1_000})
    config = (repo / ".dvc/config").read_text()
    assert f"s3://{BUCKET}/dvc" in config and s3.endpoint in config
    assert s3.access_key not in config and s3.secret_key not in config

    pushed = genforge("storage", "push", env=env, cwd=repo)
    assert pushed.returncode == 0 and "3 files pushed" in pushed.stdout, pushed.stderr
    assert clone_and_pull(tmp_path, repo, env) == tree(repo / "data")


def test_server_stopped_before_push_clear_error_cache_intact_retry_succeeds(s3, tmp_path):
    s3.make_bucket(BUCKET)
    env = s3.client_env()
    repo = make_repo(tmp_path, s3, env, {"a.bin": 30_000, "b.bin": 2_000})
    data = tree(repo / "data")
    s3.stop()

    failed = genforge("storage", "push", env=env, cwd=repo)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    line = failed.stderr.strip()
    assert line.startswith("error: `dvc push` to s3://genforge-dvc/dvc not started: S3 endpoint")
    assert "down or unreachable" in line and "The local DVC cache is intact" in line
    assert_cache_intact(repo, data)

    s3.start()
    retried = genforge("storage", "push", env=env, cwd=repo)
    assert retried.returncode == 0, retried.stderr
    assert clone_and_pull(tmp_path, repo, env) == data


def remote_objects(s3: S3Server) -> int:
    return sum(1 for p in (s3.data / BUCKET).rglob("*") if p.is_file() and "md5" in p.parts)


def test_server_stopped_during_push_fails_fast_then_retry_completes(s3, tmp_path):
    """DVC alone retries each remaining object for many minutes; the watchdog stops it."""
    s3.make_bucket(BUCKET)
    env = s3.client_env()
    files = {f"f{i:03d}.bin": 2_000 for i in range(400)}
    repo = make_repo(tmp_path, s3, env, files)
    dvc(repo, env, "remote", "modify", "--local", "s3", "jobs", "2")  # a push that lasts
    data = tree(repo / "data")
    cmd = [sys.executable, "-m", "genforge.cli", "storage", "push"]
    push = subprocess.Popen(cmd, cwd=repo, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while remote_objects(s3) < 20 and push.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert push.poll() is None, "the push must still be running when the server stops"
    s3.stop()
    stopped = time.monotonic()
    _, stderr = push.communicate(timeout=120)
    # DVC alone retries for many minutes; the watchdog stops it after ~8 s, and DVC's
    # Ctrl-C clean-up took up to a minute on a loaded 2-core machine.
    assert push.returncode == 1 and time.monotonic() - stopped < 90
    assert "stopped: S3 endpoint" in stderr and "down or unreachable" in stderr, stderr
    assert "The local DVC cache is intact" in stderr and "Traceback" not in stderr
    assert 20 <= remote_objects(s3) < len(files)  # a partial push, every object whole
    assert_remote_objects_whole(s3)
    assert_cache_intact(repo, data)

    s3.start()
    retried = genforge("storage", "push", env=env, cwd=repo)
    assert retried.returncode == 0, retried.stderr
    assert_remote_objects_whole(s3)
    assert clone_and_pull(tmp_path, repo, env) == data


def test_credentials_in_dvc_config_are_refused(s3, tmp_path):
    s3.make_bucket(BUCKET)
    env = s3.client_env()
    repo = make_repo(tmp_path, s3, env, {"a.bin": 10})
    dvc(repo, env, "remote", "add", "backup", "s3://elsewhere/dvc")
    dvc(repo, env, "remote", "modify", "backup", "secret_access_key", s3.secret_key)
    result = genforge("storage", "dvc-remote", env=env, cwd=repo)
    assert result.returncode == 1
    assert "holds secret_access_key" in result.stderr and s3.secret_key not in result.stderr
