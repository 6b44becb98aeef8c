"""SCIF apps (`%app*` sections): the `/scif/apps/<app>` and `/scif/data/<app>` trees, created
after the bootstrap and before %post (Apptainer's apps plugin), and the `%appinstall` script
that is appended to %post.
"""

from __future__ import annotations

import os
import re
from typing import Optional

from defkit.engine.layout_meta import labels_json, parse_labels
from defkit.errors import BuildError
from defkit.gotext import trim_space
from defkit.model import Stage
from defkit.safepath import Root

_NOT_IDENT = re.compile(r"[^a-zA-Z0-9_]")


def app_section(stage: Stage, app: str, name: str) -> str:
    """The body of `%<name> <app>`: a later section replaces an earlier one, as in Apptainer."""
    body = ""
    for section in stage.sections:
        if section.app == app and section.name == name:
            body = section.body
    return body


def appinstall_script(stage: Stage) -> str:
    """What is appended to %post: each app's %appinstall, in app order, run from its root."""
    parts = []
    for app in stage.app_order:
        root = f"/scif/apps/{app}"
        body = app_section(stage, app, "appinstall")
        parts.append(f"\ncd /\n. {root}/scif/env/01-base.sh\n\ncd {root}\n{body}\n\ncd /\n")
    return "".join(parts)


def _env_01(app: str) -> str:
    return (
        "#!/bin/sh\n\n"
        f"SCIF_APPNAME={app}\n"
        f'SCIF_APPROOT="/scif/apps/{app}"\n'
        f'SCIF_APPMETA="/scif/apps/{app}/scif"\n'
        'SCIF_DATA="/scif/data"\n'
        f'SCIF_APPDATA="/scif/data/{app}"\n'
        f'SCIF_APPINPUT="/scif/data/{app}/input"\n'
        f'SCIF_APPOUTPUT="/scif/data/{app}/output"\n'
        "export SCIF_APPDATA SCIF_APPNAME SCIF_APPROOT SCIF_APPMETA SCIF_APPINPUT "
        "SCIF_APPOUTPUT SCIF_DATA\n"
    )


def _globals_94(root: Root, app: str) -> str:
    var = _NOT_IDENT.sub("_", app)
    text = (
        f"## App Global Exports For: {var}\n\n"
        f"SCIF_APPDATA_{var}=/scif/data/{var}\n"
        f"SCIF_APPMETA_{var}=/scif/apps/{var}/scif\n"
        f"SCIF_APPROOT_{var}=/scif/apps/{var}\n"
        f"SCIF_APPBIN_{var}=/scif/apps/{var}/bin\n"
        f"SCIF_APPLIB_{var}=/scif/apps/{var}/lib\n\n"
        f"export SCIF_APPDATA_{var} SCIF_APPMETA_{var} SCIF_APPROOT_{var} SCIF_APPBIN_{var} "
        f"SCIF_APPLIB_{var}\n"
    )
    meta = f"/scif/apps/{app}/scif"
    for kind, name in (("APPENV", "env/90-environment.sh"), ("APPLABELS", "labels.json"),
                       ("APPRUN", "runscript"), ("APPSTART", "startscript")):
        if root.lstat(f"{meta}/{name}", follow=True) is not None:
            text += f'export SCIF_{kind}_{var}="/scif/apps/{var}/scif/{name}"\n'
    return text


def _app_labels(app: str, text: str) -> dict[str, str]:
    labels = {"SCIF_APP_NAME": app}
    labels.update(parse_labels(text))
    return labels


def _copy_app_files(root: Root, app: str, text: str, src_dir: str,
                    files_root: Optional[str]) -> None:
    from defkit.engine.steps import rooted

    for raw in text.split("\n"):
        line = trim_space(raw)
        if not line or line.startswith("#"):
            continue
        src, _, dst = trim_space(line.split("#", 1)[0]).partition(" ")
        dst = dst or src
        inside = rooted(src, files_root)
        if inside is not None:
            # Resolved in that root, a symlink kept (as `%files` copies under files_root).
            with Root(inside) as source:
                if not source.exists(src):
                    raise BuildError(f"%appfiles {app}: {src} does not exist (in {inside})")
                root.copy_in(src, f"/scif/apps/{app}/{dst}", source=source)
            continue
        host = os.path.join(src_dir, src)
        if not os.path.lexists(host):
            raise BuildError(f"%appfiles {app}: {src} does not exist")
        root.copy_in(host, f"/scif/apps/{app}/{dst}")


def create_apps(rootfs: str, stage: Stage, *, src_dir: str,
                files_root: Optional[str] = None) -> Optional[str]:
    """Create every app of the stage; relative %appfiles sources are taken from `src_dir`.
    Returns the 94-appsbase.sh text written, or None when the stage has no apps."""
    if not stage.app_order:
        return None
    with Root(rootfs) as root:
        return _create_apps(root, stage, src_dir, files_root)


def _create_apps(root: Root, stage: Stage, src_dir: str, files_root: Optional[str]) -> str:
    globals_94 = ""
    for app in stage.app_order:
        if not app or "/" in app or app in (".", ".."):
            raise BuildError(f"invalid SCIF app name {app!r}")
        base, meta = f"/scif/apps/{app}", f"/scif/apps/{app}/scif"
        for sub in (base, meta, f"{base}/bin", f"{base}/lib", f"{meta}/env",
                    f"/scif/data/{app}/input", f"/scif/data/{app}/output"):
            root.makedirs(sub)
        root.write_file(f"{meta}/env/01-base.sh", _env_01(app), 0o755)
        for section, name, mode in (("appenv", "env/90-environment.sh", 0o755),
                                    ("apprun", "runscript", 0o755),
                                    ("appstart", "startscript", 0o755),
                                    ("apptest", "test", 0o755),
                                    ("apphelp", "runscript.help", 0o644)):
            body = app_section(stage, app, section)
            if not body:
                continue
            wrapped = body if section in ("appenv", "apphelp") else f"#!/bin/sh\n\n{body}\n"
            root.write_file(f"{meta}/{name}", wrapped, mode)
        files = app_section(stage, app, "appfiles")
        if files:
            _copy_app_files(root, app, files, src_dir, files_root)
        labels = _app_labels(app, app_section(stage, app, "applabels"))
        root.write_file(f"{meta}/labels.json", labels_json(labels), 0o644)
        globals_94 += _globals_94(root, app)
    root.write_file("/.singularity.d/env/94-appsbase.sh", globals_94, 0o755)
    return globals_94
