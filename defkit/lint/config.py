"""Lint configuration: the settings that apply to one file, from its config file and the CLI.

`.defkit.yaml` (or `.defkit.yml`) or `[tool.defkit]` in `pyproject.toml` is found by walking up
from the linted file; the first directory that has one wins. Command-line flags override it
(`merge`). Reading and validating the files is in `defkit.lint.config_file`.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from defkit.arch import go_arch, host_arch

if TYPE_CHECKING:
    from defkit.site.profile import SiteProfile

LEVELS = ("error", "warning", "info", "style")
FAIL_ON = (*LEVELS, "none")
BUILD_MODES = ("fakeroot", "root", "remote")
FLAVOURS = ("apptainer", "singularityce")
ARCHES = ("amd64", "arm64", "ppc64le", "s390x", "386")
CONFIG_NAMES = (".defkit.yaml", ".defkit.yml")


def normalise_arch(arch: str) -> Optional[str]:
    """Apptainer's name for `arch`, or None when it is not one Apptainer builds for."""
    name = go_arch(arch)
    return name if name in ARCHES else None


def default_arch() -> str:
    """The host's arch when Apptainer builds for it, else amd64."""
    return normalise_arch(host_arch()) or "amd64"


@dataclass(frozen=True)
class Settings:
    """Project-wide settings from configuration and the command line (rules see them)."""

    arch: str = "amd64"  # Apptainer's name for the target architecture
    build_mode: str = "fakeroot"  # fakeroot | root | remote
    flavour: str = "apptainer"  # apptainer | singularityce
    trusted_registries: tuple[str, ...] = ()
    required_labels: tuple[str, ...] = ()
    site: Optional[SiteProfile] = None  # `site:` or `--site`: the nodes the image will run on


@dataclass(frozen=True)
class ShellcheckOptions:
    enabled: bool = True
    exclude: tuple[str, ...] = ()  # SC codes excluded everywhere, besides the defaults
    # Lowest level of the ShellCheck findings kept, judged at defkit's level for each (its info
    # and style findings, SC2086 quoting, ... are opt-in): see defkit.lint.shellcheck_levels.
    severity: str = "warning"
    extended_analysis: bool = True
    enable: tuple[str, ...] = ()  # optional checks (`shellcheck -o`)


@dataclass(frozen=True)
class LintConfig:
    select: tuple[str, ...] = ()  # empty: every rule that is on by default
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: Mapping[str, str] = field(default_factory=dict)  # selector -> level or "ignore"
    per_file_ignores: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # glob -> codes
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # rule -> options
    fail_on: str = "warning"
    inline_ignores: bool = True
    shellcheck: ShellcheckOptions = ShellcheckOptions()
    settings: Settings = field(default_factory=lambda: Settings(arch=default_arch()))
    path: Optional[str] = None  # the configuration file, if any
    root: Optional[str] = None  # per-file-ignores globs are relative to this directory

    def ignores_for(self, path: str) -> tuple[str, ...]:
        """`ignore` plus the per-file-ignores whose glob matches `path`."""
        if not self.per_file_ignores:
            return self.ignore
        absolute = os.path.abspath(path)
        relative = os.path.relpath(absolute, self.root) if self.root else path
        relative = relative.replace(os.sep, "/")
        extra: list[str] = []
        for pattern, codes in self.per_file_ignores.items():
            if fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(
                os.path.basename(path), pattern
            ):
                extra.extend(codes)
        return self.ignore + tuple(extra)


@dataclass(frozen=True)
class Overrides:
    """Command-line values; None means "not given", so the file's value stays."""

    select: Optional[tuple[str, ...]] = None
    extend_select: tuple[str, ...] = ()
    ignore: Optional[tuple[str, ...]] = None
    extend_ignore: tuple[str, ...] = ()
    severity: Mapping[str, str] = field(default_factory=dict)
    fail_on: Optional[str] = None
    arch: Optional[str] = None
    build_mode: Optional[str] = None
    flavour: Optional[str] = None
    shellcheck: Optional[bool] = None
    inline_ignores: Optional[bool] = None
    site: Optional[SiteProfile] = None


def merge(config: LintConfig, over: Overrides) -> LintConfig:
    """`config` with the command-line values applied (lists given on the CLI replace the file's)."""
    settings = config.settings
    if over.arch is not None:
        settings = dataclasses.replace(settings, arch=over.arch)
    if over.build_mode is not None:
        settings = dataclasses.replace(settings, build_mode=over.build_mode)
    if over.flavour is not None:
        settings = dataclasses.replace(settings, flavour=over.flavour)
    if over.site is not None:
        settings = dataclasses.replace(settings, site=over.site)
        if over.arch is None and over.site.arch:  # the site's nodes are the target
            settings = dataclasses.replace(settings, arch=over.site.arch)
    shellcheck = config.shellcheck
    if over.shellcheck is not None:
        shellcheck = dataclasses.replace(shellcheck, enabled=over.shellcheck)
    return dataclasses.replace(
        config,
        select=over.select if over.select is not None else config.select,
        extend_select=config.extend_select + over.extend_select,
        ignore=(over.ignore if over.ignore is not None else config.ignore) + over.extend_ignore,
        severity={**config.severity, **over.severity},
        fail_on=over.fail_on or config.fail_on,
        inline_ignores=config.inline_ignores
        if over.inline_ignores is None
        else over.inline_ignores,
        shellcheck=shellcheck,
        settings=settings,
    )


class ConfigFinder:
    """Finds and reads the configuration of files, remembering what it found for as long as it
    lives: one lint run makes one (its files share directories), and a long-lived process makes
    a new one per run, so an edited or new configuration file is read again."""

    def __init__(self) -> None:
        self._nearest: dict[str, Optional[str]] = {}  # directory -> its configuration file
        self._read: dict[Optional[str], LintConfig] = {}  # configuration file -> its contents

    def config_for(self, path: str, explicit: Optional[str] = None) -> LintConfig:
        """The configuration that applies to the file `path` (`explicit`: a `--config` file)."""
        return self.load(explicit if explicit is not None else self.find(path))

    def find(self, start: str) -> Optional[str]:
        """The nearest `.defkit.yaml` or `pyproject.toml` with `[tool.defkit]`, walking up."""
        directory = os.path.abspath(
            start if os.path.isdir(start) else os.path.dirname(start) or "."
        )
        walked: list[str] = []
        found: Optional[str] = None
        while True:
            if directory in self._nearest:
                found = self._nearest[directory]
                break
            walked.append(directory)
            found = _config_in(directory)
            parent = os.path.dirname(directory)
            if found is not None or parent == directory:
                break
            directory = parent
        for seen in walked:
            self._nearest[seen] = found
        return found

    def load(self, path: Optional[str]) -> LintConfig:
        """The configuration in `path` (None: the defaults). Raises ConfigError when wrong."""
        if path not in self._read:
            self._read[path] = _read(path)
        return self._read[path]


def _config_in(directory: str) -> Optional[str]:
    for name in CONFIG_NAMES:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate):
            return candidate
    pyproject = os.path.join(directory, "pyproject.toml")
    if os.path.isfile(pyproject) and _has_tool_table(pyproject):
        return pyproject
    return None


def _has_tool_table(pyproject: str) -> bool:
    try:
        with open(pyproject, encoding="utf-8", errors="replace") as handle:
            return "[tool.defkit" in handle.read()
    except OSError:
        return False


def _read(path: Optional[str]) -> LintConfig:
    if path is None:
        return LintConfig()
    from defkit.lint.config_file import read_config

    return read_config(path)


def find_config_file(start: str) -> Optional[str]:
    """The nearest `.defkit.yaml` or `pyproject.toml` with `[tool.defkit]`, walking up."""
    return ConfigFinder().find(start)


def load_config(path: Optional[str]) -> LintConfig:
    """The configuration in `path` (None: the defaults). Raises ConfigError when it is wrong."""
    return _read(path)


def config_for(path: str, explicit: Optional[str] = None) -> LintConfig:
    """The configuration that applies to the file `path` (`explicit`: a `--config` file)."""
    return ConfigFinder().config_for(path, explicit)
