"""Secrets given as build args never reach the image, the inspect output, the event log or stderr.

The masking is checked against what real shells print (`set -x` in busybox sh, dash and bash,
each quoting its own way), then end to end: a busybox image built with secrets that hold quotes,
newlines, backslashes, `$` and non-ASCII text, searched byte by byte (the whole SIF, every file
of the unsquashed tree, `defkit inspect`, the `--json` log and stderr).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from defkit.engine.busybox_rootfs import make_busybox_rootfs
from defkit.engine.redact import MASK, Redactor, looks_secret, printed_forms, secret_names
from defkit.errors import BuildError
from defkit.sif.format import DataType
from defkit.sif.reader import read_sif

# Each value has one character class the masking must survive; every line is >= 3 characters.
SECRETS = {
    "single-quote": "qu'ote-Zx81",
    "double-quote": 'dq"uote-Zx82',
    "newline": "nl-Zx83a\nnl-Zx83b",
    "backslash": "bs\\lash-Zx84",
    "dollar": "dol$HOME-Zx85",
    "unicode": "uni-é漢\u2028-Zx86",
    "mixed": "mix'\"\\$`\n\tZx87-end",
}

SHELLS = [["busybox", "sh"], ["dash"], ["bash"]]


def _leaks(text: str, value: str) -> list[str]:
    """The pieces of `value` (whole, or a line of 3+ characters) that `text` still holds."""
    pieces = [value, *(line for line in value.replace("\r", "\n").split("\n") if len(line) >= 3)]
    return [piece for piece in pieces if piece in text]


def _leaks_bytes(data: bytes, value: str) -> list[str]:
    pieces = [value, *(line for line in value.split("\n") if len(line) >= 3)]
    return [piece for piece in pieces if piece.encode() in data]


@pytest.mark.parametrize("shell", SHELLS, ids=lambda argv: argv[0])
@pytest.mark.parametrize("kind", list(SECRETS))
def test_set_x_traces_are_masked(shell: list[str], kind: str) -> None:
    if shutil.which(shell[0]) is None:
        pytest.skip(f"{shell[0]} is not installed")
    value = SECRETS[kind]
    script = 'V="$1"; printf "%s" "pre${V}post" > /dev/null; echo "$V" "a$V" > /dev/null\n'
    traced = subprocess.run([*shell, "-xc", script, "sh", value], capture_output=True)
    assert traced.returncode == 0
    # As the runner hands them on: one line at a time, split at LF and CR.
    lines = traced.stderr.decode("utf-8", "replace").replace("\r", "\n").split("\n")
    redact = Redactor([value])
    masked = [redact(line) for line in lines]
    assert not _leaks("\n".join(masked), value), masked
    assert any(MASK in line for line in masked)


@pytest.mark.parametrize("kind", list(SECRETS))
def test_escaped_forms_are_masked(kind: str) -> None:
    value = SECRETS[kind]
    redact = Redactor([value])
    # Undo the escapes in what was masked: the secret cannot be read back.
    for text in (json.dumps({"m": f"x {value} y"}), json.dumps(value, ensure_ascii=False),
                 repr(f"x {value}"), ascii(value), repr(["'\"", value])):
        masked = redact(text)
        assert MASK in masked
        unescaped = masked.encode("ascii", "backslashreplace").decode("unicode_escape")
        assert not _leaks(unescaped, value), masked
    for text in (f"  {value}  ", f"value {value.strip()}!", value.upper() + value):
        assert not _leaks(redact(text), value)


def test_error_messages_and_their_args_are_masked() -> None:
    value = SECRETS["mixed"]
    error = BuildError(f"%post failed; last command: echo {value!r}")
    Redactor([value]).error(error)
    assert not _leaks(error.format(), value) and not _leaks(str(error), value)
    assert "***" in error.format()


def test_short_values_are_left_alone() -> None:
    assert Redactor(["ab"])("ab abc") == "ab abc"
    assert all(len(form) >= 3 for form in printed_forms("a\nbcd\nef"))


@pytest.mark.parametrize("name", ["PASSWORD", "DB_PASSWORD", "apiToken", "GITHUB_TOKEN",
                                  "AWS_SECRET_ACCESS_KEY", "ssh-key", "NPM_AUTH", "Credentials",
                                  "REGISTRY_PASSWD", "KEY2"])
def test_secret_looking_names(name: str) -> None:
    assert looks_secret(name)


@pytest.mark.parametrize("name", ["VERSION", "MONKEY", "KEYBOARD", "AUTHOR", "PASSAGE", "TOKENIZER",
                                  "BASE_IMAGE", "SECRETARY_NAME"])
def test_ordinary_names(name: str) -> None:
    assert not looks_secret(name)


def test_marked_names_are_secret_whatever_their_name() -> None:
    assert secret_names(["VERSION", "X", "API_KEY"], marked={"X"}) == {"X", "API_KEY"}


# --- end to end --------------------------------------------------------------------------------

# Each secret is read through a quoted here-document (any text but a line `EOF` passes), then
# used in traced commands, so `set -x` prints it re-quoted by busybox sh.
POST_USE = """    V=$(cat <<'EOF'
{{ %s }}
EOF
)
    printf '%%s' "pre${V}post" | wc -c
"""

DEFINITION = """Bootstrap: localimage
From: ./rootfs

%%labels
    plain yes

%%post
    echo "{{ VERSION }}" > /version
%s
%%runscript
    cat /version
"""


@pytest.fixture(scope="module")
def busybox(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    if shutil.which("mksquashfs") is None or shutil.which("unshare") is None:
        pytest.skip("squashfs-tools and util-linux are needed")
    return pathlib.Path(make_busybox_rootfs(str(tmp_path_factory.mktemp("bb") / "rootfs")))


def _defkit(*args: str, cwd: pathlib.Path, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "defkit", *args], cwd=cwd, capture_output=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def _names() -> dict[str, str]:
    """Argument name per class; the ways of making them secret differ (see the build)."""
    return {kind: f"S_{index}" if index % 2 else f"S{index}_PASSWORD"
            for index, kind in enumerate(SECRETS)}


@pytest.fixture(scope="module")
def built(busybox: pathlib.Path, tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[pathlib.Path, subprocess.CompletedProcess[bytes]]:
    project = tmp_path_factory.mktemp("secrets")
    shutil.copytree(busybox, project / "rootfs", symlinks=True)
    names = _names()
    (project / "image.def").write_text(
        DEFINITION % "".join(POST_USE % name for name in names.values()), encoding="utf-8")
    args = ["build", "--json", "--force", "--build-arg", "VERSION=1.2.3-plain"]
    env: dict[str, str] = {}
    secret_file = project / "secrets.env"
    file_lines = []
    for index, (kind, name) in enumerate(names.items()):
        value = SECRETS[kind]
        if name.endswith("_PASSWORD"):  # secret by its name alone
            args += ["--build-arg", f"{name}={value}"]
        elif "\n" in value or index % 4 == 1:  # marked, the value in the environment
            args += ["--secret", name]
            env[name] = value
        else:  # marked by the file it comes from
            file_lines.append(f"{name}={value}")
    secret_file.write_text("\n".join(file_lines) + "\n", encoding="utf-8")
    args += ["--secret-file", str(secret_file), "image.def"]
    done = _defkit(*args, cwd=project, env={**env, "SOURCE_DATE_EPOCH": "1700000000"})
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    return project, done


@pytest.mark.parametrize("kind", list(SECRETS))
def test_secret_is_nowhere_in_the_sif(built: tuple[pathlib.Path, subprocess.CompletedProcess[bytes]],
                                      kind: str, tmp_path: pathlib.Path) -> None:
    project, _ = built
    value = SECRETS[kind]
    sif = project / "image.sif"
    assert not _leaks_bytes(sif.read_bytes(), value)
    tree = tmp_path / "tree"
    subprocess.run(["unsquashfs", "-q", "-n", "-d", str(tree), "-o",
                    str(read_sif(sif).partition_offset), str(sif)], check=True,
                   capture_output=True)
    for directory, _, files in os.walk(tree):
        for name in files:
            path = pathlib.Path(directory, name)
            if not path.is_symlink():
                assert not _leaks_bytes(path.read_bytes(), value), path
            assert not _leaks(str(path), value)


@pytest.fixture(scope="module")
def inspected(built: tuple[pathlib.Path, subprocess.CompletedProcess[bytes]]) -> list[bytes]:
    """What `defkit inspect` shows of the image: as text, then as JSON."""
    project, _ = built
    shown = [_defkit(*args, cwd=project) for args in (["inspect", "image.sif"],
                                                       ["inspect", "--json", "image.sif"])]
    assert all(done.returncode == 0 for done in shown)
    return [done.stdout + done.stderr for done in shown]


@pytest.mark.parametrize("kind", list(SECRETS))
def test_secret_is_not_in_the_logs_or_inspect(
        built: tuple[pathlib.Path, subprocess.CompletedProcess[bytes]], inspected: list[bytes],
        kind: str) -> None:
    _, done = built
    value = SECRETS[kind]
    assert not _leaks_bytes(done.stdout, value) and not _leaks_bytes(done.stderr, value)
    # The JSON log escapes what it holds: decode it and look again.
    records = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert not _leaks(json.dumps(records, ensure_ascii=False), value)
    outputs = [r["text"] for r in records if r["event"] == "output"]
    assert any("***" in text for text in outputs), outputs
    text, as_json = inspected
    assert not _leaks_bytes(text, value) and not _leaks_bytes(as_json, value)
    assert not _leaks(json.dumps(json.loads(as_json), ensure_ascii=False), value)


def test_embedded_definition_is_the_one_written(
        built: tuple[pathlib.Path, subprocess.CompletedProcess[bytes]]) -> None:
    project, _ = built
    written = (project / "image.def").read_text(encoding="utf-8")
    image = read_sif(project / "image.sif")
    sif_bytes = (project / "image.sif").read_bytes()
    (deffile,) = [d for d in image.descriptors if d.datatype == DataType.DEFFILE]
    assert sif_bytes[deffile.offset:deffile.offset + deffile.size].decode() == written
    shown = _defkit("inspect", "--deffile", "image.sif", cwd=project)
    assert "{{ VERSION }}" in shown.stdout.decode() and "{{ S0_PASSWORD }}" in shown.stdout.decode()
    metadata = _defkit("inspect", "--json", "image.sif", cwd=project)
    attributes = json.loads(metadata.stdout)["data"]["attributes"]
    assert attributes["deffile"].strip() == written.strip()


def test_non_secret_args_still_work_and_are_recorded(
        built: tuple[pathlib.Path, subprocess.CompletedProcess[bytes]]) -> None:
    project, done = built
    from defkit.squashfs import unsquash_cat

    sif = project / "image.sif"
    offset = read_sif(sif).partition_offset
    assert unsquash_cat(sif, "version", offset) == b"1.2.3-plain\n"
    labels = json.loads(unsquash_cat(sif, ".singularity.d/labels.json", offset) or b"{}")
    recorded = {k: v for k, v in labels.items() if k.startswith("org.defkit.build-arg.")}
    assert recorded == {"org.defkit.build-arg.VERSION": "1.2.3-plain"}
    assert labels["plain"] == "yes"


def test_a_secret_the_image_would_store_is_refused(busybox: pathlib.Path,
                                                    tmp_path: pathlib.Path) -> None:
    shutil.copytree(busybox, tmp_path / "rootfs", symlinks=True)
    (tmp_path / "image.def").write_text("Bootstrap: localimage\nFrom: ./rootfs\n\n%environment\n"
                                        "    export TOKEN='{{ API_TOKEN }}'\n")
    value = "tok-Zx99'\"\\"
    done = _defkit("build", "--build-arg", f"API_TOKEN={value}", "image.def", cwd=tmp_path)
    assert done.returncode != 0 and not (tmp_path / "image.sif").exists()
    message = done.stderr.decode().strip()
    assert message.endswith(":4:1: error: secret build arg API_TOKEN is used in %environment, which "
                            "the image stores: use secrets only in %post, %setup or %files")
    assert "\n" not in message and not _leaks(message, value)


def test_a_failing_build_shows_no_secret(busybox: pathlib.Path, tmp_path: pathlib.Path) -> None:
    shutil.copytree(busybox, tmp_path / "rootfs", symlinks=True)
    (tmp_path / "image.def").write_text(
        "Bootstrap: localimage\nFrom: ./rootfs\n\n%post\n" + POST_USE % "DEPLOY"
        + '    test "$V" = other\n')
    value = SECRETS["mixed"]
    done = _defkit("build", "--secret", "DEPLOY", "image.def", cwd=tmp_path,
                   env={"DEPLOY": value})
    assert done.returncode != 0
    stderr = done.stderr.decode()
    assert "error: %post failed" in stderr and "Traceback" not in stderr
    assert not _leaks(stderr, value)
    assert "***" in stderr


def test_secret_options_are_checked(tmp_path: pathlib.Path) -> None:
    (tmp_path / "image.def").write_text("Bootstrap: scratch\n")
    env = {k: v for k, v in os.environ.items() if k != "NOT_SET_ANYWHERE"}
    done = subprocess.run([sys.executable, "-m", "defkit", "build", "--secret",
                           "NOT_SET_ANYWHERE", "image.def"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: --secret NOT_SET_ANYWHERE: no =VALUE and no "
                                   "environment variable NOT_SET_ANYWHERE")
    built = _defkit("build", "--secret", "=hunter22", "image.def", cwd=tmp_path)
    assert built.returncode != 0 and b"hunter22" not in built.stderr + built.stdout
