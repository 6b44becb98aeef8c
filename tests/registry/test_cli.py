"""`defkit registry login|logout` against the htpasswd registry, run as the real command."""

from __future__ import annotations

import json
import os
import pathlib
import stat
import subprocess
import sys

from tests.registry_fixture import RunningRegistry


def defkit(home: pathlib.Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("APPTAINER_", "SINGULARITY_", "DOCKER_"))}
    env["HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "defkit", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=60)


def test_login_and_logout(auth_registry: RunningRegistry, tmp_path: pathlib.Path) -> None:
    user, password = auth_registry.username or "", auth_registry.password or ""
    wrong = defkit(tmp_path, "registry", "login", "-u", user, "--password-stdin",
                   auth_registry.host, stdin="wrong-password\n")
    assert wrong.returncode == 1
    assert wrong.stderr.count("\n") == 1 and wrong.stderr.startswith(
        f"error: {auth_registry.host}: access denied for credentials of '{user}'")
    assert "wrong-password" not in wrong.stderr + wrong.stdout
    assert not (tmp_path / ".apptainer").exists()

    good = defkit(tmp_path, "registry", "login", "-u", user, "--password-stdin",
                  f"docker://{auth_registry.host}", stdin=f"{password}\n")
    assert good.returncode == 0, good.stderr
    config_file = tmp_path / ".apptainer" / "docker-config.json"
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert list(json.loads(config_file.read_text())["auths"]) == [auth_registry.host]
    assert password not in good.stdout + good.stderr

    gone = defkit(tmp_path, "registry", "logout", auth_registry.host)
    assert gone.returncode == 0 and "Removed" in gone.stdout
    assert json.loads(config_file.read_text())["auths"] == {}


def test_unreachable_login_is_one_line(tmp_path: pathlib.Path) -> None:
    from tests.registry_fixture import free_port

    host = f"127.0.0.1:{free_port()}"
    result = defkit(tmp_path, "registry", "login", "-u", "a", "--password-stdin", host, stdin="b\n")
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {host}: cannot reach {host}")
    assert result.stderr.count("\n") == 1


def test_parse_does_not_load_the_registry_client() -> None:
    code = ("import sys; from defkit.cli import main; main(['parse', '--help']); "
            "print('httpx' in sys.modules, 'defkit.registry.client' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip().splitlines()[-1] == "False False"
