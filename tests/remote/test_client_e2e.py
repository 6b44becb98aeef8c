"""`defkit build --remote` against the real `defkit serve` on 127.0.0.1, end to end: the CLI in a
subprocess, as a user runs it (no mocks)."""

from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.remote.conftest import (
    RemoteServer,
    _free_port,
    needs_builder,
    status,
    write_busybox_recipe,
)

pytestmark = needs_builder


def _env(token: str | None, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DEFKIT_REMOTE", "SOURCE_DATE_EPOCH"))}
    # No user remote files: XDG_CONFIG_HOME and HOME are the test's (set by the caller).
    env["SOURCE_DATE_EPOCH"] = "0"
    if token is not None:
        env["DEFKIT_REMOTE_TOKEN"] = token
    env.update(extra)
    return env


def defkit(*args: str, env: dict[str, str], timeout: float = 300
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "defkit", *args], env=env, text=True,
                          capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture()
def home(tmp_path: pathlib.Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}


def _submitted_id(text: str) -> str:
    match = re.search(r"remote build (\S+) submitted", text)
    assert match, text
    return match.group(1)


def test_remote_build_equals_a_local_build_and_enters_the_local_cache(
        remote_server: RemoteServer, busybox_recipe: pathlib.Path, tmp_path: pathlib.Path,
        home: dict[str, str]) -> None:
    env = _env(remote_server.token, **home)
    remote = tmp_path / "remote.sif"
    done = defkit("build", "--remote", remote_server.url, str(busybox_recipe), "-o", str(remote),
                  env=env)
    assert done.returncode == 0, done.stderr
    assert "build context:" in done.stderr and "uploaded" in done.stderr
    assert "building step one" in done.stderr  # the server's log, shown here
    assert "cache stored" in done.stderr
    assert remote_server.token not in done.stderr + done.stdout
    # A local build of the same inputs, cache off: the same bytes.
    local = tmp_path / "local.sif"
    built = defkit("build", "--no-cache", str(busybox_recipe), "-o", str(local), env=env)
    assert built.returncode == 0, built.stderr
    assert remote.read_bytes() == local.read_bytes()
    # A local build with the cache: the remote result is a hit under the same key.
    again = tmp_path / "again.sif"
    hit = defkit("build", str(busybox_recipe), "-o", str(again), env=env)
    assert hit.returncode == 0, hit.stderr
    assert "cache hit" in hit.stderr and "native engine" not in hit.stderr
    assert again.read_bytes() == local.read_bytes()
    # A second remote build of the same inputs needs no server at all.
    remote_server.stop()
    second = tmp_path / "second.sif"
    cached = defkit("build", "--remote", remote_server.url, str(busybox_recipe), "-o",
                    str(second), env=env)
    assert cached.returncode == 0, cached.stderr
    assert "cache hit" in cached.stderr and "submitted" not in cached.stderr
    assert second.read_bytes() == local.read_bytes()


def test_the_context_is_not_uploaded_twice(remote_server: RemoteServer,
                                           busybox_recipe: pathlib.Path,
                                           tmp_path: pathlib.Path,
                                           home: dict[str, str]) -> None:
    env = _env(remote_server.token, **home)
    first = defkit("build", "--remote", remote_server.url, "--no-cache", str(busybox_recipe),
                   "-o", str(tmp_path / "a.sif"), "--json", env=env)
    assert first.returncode == 0, first.stderr
    assert remote_server.token not in first.stdout + first.stderr
    assert '"event": "output"' in first.stdout and "building step two" in first.stdout
    # The client deletes the context after its build; a new build sends the same bytes, with
    # the same checksum (a deterministic archive).
    checksums = re.findall(r"sha256\.[0-9a-f]{64}", first.stdout)
    second = defkit("build", "--remote", remote_server.url, "--no-cache", str(busybox_recipe),
                    "-o", str(tmp_path / "b.sif"), "--json", env=env)
    assert second.returncode == 0, second.stderr
    assert checksums[0] in second.stdout


def test_the_log_streams_while_the_build_runs(remote_server: RemoteServer,
                                              tmp_path: pathlib.Path,
                                              home: dict[str, str]) -> None:
    recipe = write_busybox_recipe(tmp_path / "slow", sleep=4)
    process = subprocess.Popen(
        [sys.executable, "-m", "defkit", "build", "--remote", remote_server.url, "--no-cache",
         str(recipe), "-o", str(tmp_path / "slow.sif")],
        env=_env(remote_server.token, **home), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
        text=True)
    assert process.stderr is not None
    arrived: dict[str, float] = {}
    for line in process.stderr:
        for text in ("building step one", "building step two"):
            if text in line and not line.startswith("+"):
                arrived.setdefault(text, time.monotonic())
    process.wait(timeout=300)
    ended = time.monotonic()
    assert process.returncode == 0
    # Step one was shown while the build slept, seconds before step two and the end.
    assert arrived["building step two"] - arrived["building step one"] >= 3
    assert ended - arrived["building step one"] >= 3


def test_ctrl_c_cancels_the_build_on_the_server(remote_server: RemoteServer,
                                                tmp_path: pathlib.Path,
                                                home: dict[str, str]) -> None:
    recipe = write_busybox_recipe(tmp_path / "long", sleep=120)
    process = subprocess.Popen(
        [sys.executable, "-m", "defkit", "build", "--remote", remote_server.url, "--no-cache",
         str(recipe), "-o", str(tmp_path / "long.sif")],
        env=_env(remote_server.token, **home), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
        text=True)
    assert process.stderr is not None
    seen: list[str] = []
    for line in process.stderr:
        seen.append(line)
        if "building step one" in line:
            break
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    process.wait(timeout=60)
    assert process.returncode == 130, rest
    assert time.monotonic() - started < 30
    assert "cancelled" in rest
    assert not (tmp_path / "long.sif").exists()
    build_id = _submitted_id("".join(seen))
    deadline = time.monotonic() + 60
    while True:
        info = status(remote_server, build_id).json()["data"]
        if info["isComplete"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert info["isComplete"] and not info.get("imageSize")


def test_a_wrong_token_is_refused_in_one_line(remote_server: RemoteServer,
                                              busybox_recipe: pathlib.Path,
                                              tmp_path: pathlib.Path,
                                              home: dict[str, str]) -> None:
    wrong = "not-the-token-0123456789"
    done = defkit("build", "--remote", remote_server.url, "--no-cache", str(busybox_recipe),
                  "-o", str(tmp_path / "x.sif"), env=_env(wrong, **home))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "refused the token" in lines[0], done.stderr
    assert wrong not in done.stderr and "Traceback" not in done.stderr
    missing = defkit("build", "--remote", remote_server.url, "--no-cache", str(busybox_recipe),
                     "-o", str(tmp_path / "x.sif"), env=_env(None, **home))
    assert missing.returncode == 1
    assert "needs a token" in missing.stderr.strip().splitlines()[-1], missing.stderr


def test_an_unreachable_host_is_one_line(busybox_recipe: pathlib.Path, tmp_path: pathlib.Path,
                                         home: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    done = defkit("build", "--remote", url, "--no-cache", str(busybox_recipe), "-o",
                  str(tmp_path / "x.sif"), env=_env("token", **home))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("error: cannot reach the remote")


def test_a_failed_build_shows_the_end_of_its_log(remote_server: RemoteServer,
                                                 tmp_path: pathlib.Path,
                                                 home: dict[str, str]) -> None:
    recipe = write_busybox_recipe(tmp_path / "broken")
    recipe.write_text(recipe.read_text().replace("echo building step two",
                                                 "echo about to fail; exit 3"))
    done = defkit("build", "--remote", remote_server.url, "--no-cache", "-q", str(recipe), "-o",
                  str(tmp_path / "broken.sif"), env=_env(remote_server.token, **home))
    assert done.returncode == 1
    assert "about to fail" in done.stderr
    assert re.search(r"error: remote build \S+ on 127\.0\.0\.1:\d+ failed", done.stderr)
    assert not (tmp_path / "broken.sif").exists()


def test_remote_incompatible_options_are_refused(busybox_recipe: pathlib.Path,
                                                 tmp_path: pathlib.Path,
                                                 home: dict[str, str]) -> None:
    env = _env("token", **home)
    sandbox = defkit("build", "--remote", "http://127.0.0.1:9", "--sandbox",
                     str(tmp_path / "sb"), str(busybox_recipe), env=env)
    assert sandbox.returncode == 2 and "--sandbox cannot be used with --remote" in sandbox.stderr
    local = tmp_path / "local.def"
    local.write_text("Bootstrap: localimage\nFrom: ./rootfs\n")
    refused = defkit("build", "--remote", "http://127.0.0.1:9", str(local), env=env)
    assert refused.returncode == 2
    assert f"{local}:1:1: error: Bootstrap: localimage cannot be built remotely" in refused.stderr


def test_bootstrap_library_from_the_server(remote_server: RemoteServer,
                                           busybox_recipe: pathlib.Path,
                                           tmp_path: pathlib.Path,
                                           home: dict[str, str]) -> None:
    env = _env(remote_server.token, **home)
    built = defkit("build", "--remote", remote_server.url, "--no-cache", str(busybox_recipe),
                   "-o", str(tmp_path / "base.sif"), env=env)
    assert built.returncode == 0, built.stderr
    ref = re.search(r"downloading library://(\S+) from", built.stderr)
    assert ref, built.stderr
    derived = tmp_path / "derived.def"
    derived.write_text(f"Bootstrap: library\nLibrary: {remote_server.url}\nFrom: {ref.group(1)}"
                       "\n\n%post\n    cat /etc/greeting.txt > /etc/copied.txt\n")
    done = defkit("build", "--no-cache", str(derived), "-o", str(tmp_path / "derived.sif"),
                  env=env)
    assert done.returncode == 0, done.stderr
    assert "library image" in done.stderr and "sha256." in done.stderr
    shown = defkit("exec", str(tmp_path / "derived.sif"), "cat", "/etc/copied.txt", env=env)
    assert shown.stdout == "hello from the context\n", shown.stderr
    # Without a token the server refuses, in one line naming the library.
    refused = defkit("build", "--no-cache", str(derived), "-o", str(tmp_path / "no.sif"),
                     env=_env(None, **home))
    assert refused.returncode == 1
    assert "Bootstrap: library:" in refused.stderr and "token" in refused.stderr


def test_detached_prints_how_to_fetch_the_image(remote_server: RemoteServer,
                                                busybox_recipe: pathlib.Path,
                                                tmp_path: pathlib.Path,
                                                home: dict[str, str]) -> None:
    done = defkit("build", "--remote", remote_server.url, "--detached", str(busybox_recipe),
                  env=_env(remote_server.token, **home))
    assert done.returncode == 0, done.stderr
    assert f"singularity pull --library {remote_server.url} library://" in done.stdout
    build_id = _submitted_id(done.stderr)
    deadline = time.monotonic() + 120
    while not status(remote_server, build_id).json()["data"]["isComplete"]:
        assert time.monotonic() < deadline
        time.sleep(0.5)


def test_login_stores_the_token_and_status_shows_the_remote(
        remote_server: RemoteServer, busybox_recipe: pathlib.Path, tmp_path: pathlib.Path,
        home: dict[str, str]) -> None:
    env = _env(None, **home)
    wrong = subprocess.run([sys.executable, "-m", "defkit", "remote", "login", "--token-stdin",
                            remote_server.url], input="wrong-token\n", env=env, text=True,
                           capture_output=True, timeout=60)
    assert wrong.returncode == 2 and "refused the token" in wrong.stderr
    login = subprocess.run([sys.executable, "-m", "defkit", "remote", "login", "--token-stdin",
                            remote_server.url], input=remote_server.token + "\n", env=env,
                           text=True, capture_output=True, timeout=60)
    assert login.returncode == 0, login.stderr
    stored = pathlib.Path(home["XDG_CONFIG_HOME"], "defkit", "remote.yaml")
    assert oct(stored.stat().st_mode & 0o777) == "0o600"
    shown = defkit("remote", "status", env=env)
    assert shown.returncode == 0, shown.stderr
    assert f"remote:   {remote_server.url}" in shown.stdout and "token:    valid" in shown.stdout
    assert remote_server.token not in shown.stdout + shown.stderr
    # `--remote` without a URL: the stored remote and token.
    done = defkit("build", "--remote", "--no-cache", str(busybox_recipe), "-o",
                  str(tmp_path / "stored.sif"), env=env)
    assert done.returncode == 0, done.stderr
    # The def file right after `--remote` is the source, not a URL; so is a target.
    done = defkit("build", "--remote", str(busybox_recipe), "--no-cache", "-o",
                  str(tmp_path / "stored2.sif"), env=env)
    assert done.returncode == 0, done.stderr
    done = defkit("build", "--remote", str(tmp_path / "stored3.sif"), str(busybox_recipe),
                  env=env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "stored3.sif").read_bytes() == (tmp_path / "stored2.sif").read_bytes()


def test_singularity_remote_yaml_names_the_remote_and_its_token(
        remote_server: RemoteServer, busybox_recipe: pathlib.Path, tmp_path: pathlib.Path,
        home: dict[str, str]) -> None:
    remote_yaml = pathlib.Path(home["HOME"], ".singularity", "remote.yaml")
    remote_yaml.parent.mkdir()
    remote_yaml.write_text(
        "Active: site\nRemotes:\n  site:\n"
        f"    URI: {remote_server.url.removeprefix('http://')}\n"
        f"    Token: {remote_server.token}\n    Insecure: true\n")
    done = defkit("build", "--remote", "--no-cache", str(busybox_recipe), "-o",
                  str(tmp_path / "singularity.sif"), env=_env(None, **home))
    assert done.returncode == 0, done.stderr
    assert remote_server.token not in done.stderr




def test_the_clients_source_date_epoch_is_honoured(
        remote_server: RemoteServer, busybox_recipe: pathlib.Path, tmp_path: pathlib.Path,
        home: dict[str, str]) -> None:
    # The client asks for its SOURCE_DATE_EPOCH (`sourceDateEpoch`): defkit serve builds with
    # it, so the image is a local build's and enters the local cache under the local key.
    env = _env(remote_server.token, **home, SOURCE_DATE_EPOCH="1700000000")
    remote = tmp_path / "remote.sif"
    done = defkit("build", "--remote", remote_server.url, str(busybox_recipe), "-o", str(remote),
                  env=env)
    assert done.returncode == 0, done.stderr
    assert "not entered into the local build cache" not in done.stderr
    again = defkit("build", str(busybox_recipe), "-o", str(tmp_path / "again.sif"), env=env)
    assert again.returncode == 0, again.stderr
    assert "cache hit" in again.stderr
    local = tmp_path / "local.sif"
    built = defkit("build", "--no-cache", str(busybox_recipe), "-o", str(local), env=env)
    assert built.returncode == 0, built.stderr
    assert remote.read_bytes() == local.read_bytes()


def test_an_image_unlike_a_local_builds_is_not_cached(
        busybox_recipe: pathlib.Path, tmp_path: pathlib.Path, home: dict[str, str]) -> None:
    # A builder that ignores `sourceDateEpoch` (SingularityCE's) makes another image: the
    # check that keeps it out of the local cache names the label that differs.
    from defkit.arch import host_arch
    from defkit.remote_build import _differs_from_local

    image = tmp_path / "other.sif"
    env = _env(None, **home, SOURCE_DATE_EPOCH="86400")
    built = defkit("build", "--no-cache", str(busybox_recipe), "-o", str(image), env=env)
    assert built.returncode == 0, built.stderr
    assert _differs_from_local(str(image), arch=host_arch(), epoch=86400) == ""
    why = _differs_from_local(str(image), arch=host_arch(), epoch=1700000000)
    assert "org.opencontainers.image.created=" in why
