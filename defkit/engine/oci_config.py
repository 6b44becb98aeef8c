"""What an OCI/Docker image config becomes in the rootfs, as Apptainer's OCI source writes it:
`/.singularity.d/runscript` from ENTRYPOINT/CMD, `env/10-docker2singularity.sh` from Env, and
`labels.json` from the config's Labels. A %runscript, %environment or %labels applies on top.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import jinja2

from defkit.engine import layout
from defkit.engine.layout_meta import labels_json

if TYPE_CHECKING:
    from defkit.engine.agents.base import ImageConfig

SD = "/.singularity.d"


def image_config(config: Mapping[str, Any]) -> ImageConfig:
    """The `config` object of an OCI image config (missing or null fields are empty)."""
    # Imported here: defkit.engine.agents imports this module through its OCI agents.
    from defkit.engine.agents.base import ImageConfig

    inner = config.get("config") or {}

    def strings(key: str) -> tuple[str, ...]:
        value = inner.get(key) or ()
        return tuple(str(item) for item in value) if isinstance(value, list) else ()

    labels = inner.get("Labels") or {}
    return ImageConfig(
        env=strings("Env"),
        entrypoint=strings("Entrypoint"),
        cmd=strings("Cmd"),
        working_dir=str(inner.get("WorkingDir") or ""),
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
    )


def config_object_json(config: Mapping[str, Any]) -> bytes:
    """The SIF's `oci-config.json`: the image config's `config` object, compact JSON."""
    return json.dumps(config.get("config") or {}, separators=(",", ":")).encode("utf-8")


def escape(text: str) -> str:
    """Backslash-escape what is special inside shell double quotes: \\ " ` $."""
    for char in ("\\", '"', "`", "$"):
        text = text.replace(char, "\\" + char)
    return text


def escape_single_quotes(text: str) -> str:
    return text.replace("'", "'\"'\"'")


def args_quoted(args: Sequence[str]) -> str:
    """Each argument double-quoted (escaped) and joined with spaces."""
    return " ".join(f'"{escape(arg)}"' for arg in args)


def env_script(env: Sequence[str]) -> str:
    """10-docker2singularity.sh: an image's Env is a default the user's environment overrides,
    except PATH, which the image sets.

    Apptainer writes `export K="${K:-"v"}"` with v escaped twice (`shell.Escape`, then Go's
    `%q`), so a value containing `$`, `"` or `\\` reaches the container mangled (`a$b` becomes
    `a\\`). defkit writes the same line escaped once, which gives back the value exactly; plain
    values produce the identical line."""
    lines = ["#!/bin/sh\n"]
    for item in env:
        key, sep, value = item.partition("=")
        if not sep:
            lines.append(f'export {key}="${{{key}:-}}"\n')
        elif key == "PATH":
            lines.append(f'export {key}="{escape(value)}"\n')
        else:
            lines.append(f'export {key}="${{{key}:-"{escape(value)}"}}"\n')
    return "".join(lines)


def _prepend(args: Sequence[str]) -> str:
    """Shell lines that put `args` in front of "$@", last first."""
    return "".join(f"set -- '{escape_single_quotes(arg)}' \"$@\"\n" for arg in reversed(args))


def runscript(config: ImageConfig) -> str:
    """The runscript Apptainer derives from ENTRYPOINT and CMD."""
    head = "#!/bin/sh\n"
    for name, args in (("OCI_ENTRYPOINT", config.entrypoint), ("OCI_CMD", config.cmd)):
        quoted = escape_single_quotes(args_quoted(args)) if args else ""
        head += f"{name}='{quoted}'\n"
    env = jinja2.Environment(keep_trailing_newline=True, autoescape=False,
                             undefined=jinja2.StrictUndefined)
    body = env.from_string(layout.template("oci-runscript.sh.j2")).render(
        prepend_entrypoint=_prepend(config.entrypoint), prepend_cmd=_prepend(config.cmd))
    return head + body


def write_image_config(rootfs: str, config: ImageConfig) -> None:
    """Write the base layout, then runscript, env and labels from the image config."""
    layout.make_base_env(rootfs, overwrite=True)
    layout.write_file(rootfs, f"{SD}/runscript", runscript(config), 0o755)
    layout.write_file(rootfs, f"{SD}/env/10-docker2singularity.sh", env_script(config.env), 0o755)
    layout.write_file(rootfs, f"{SD}/labels.json", labels_json(config.labels), 0o644)
