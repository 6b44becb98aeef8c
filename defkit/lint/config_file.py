"""Read and validate `.defkit.yaml` / `[tool.defkit]`: every error names the file, line and key."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional

from defkit.errors import ConfigError
from defkit.lint.config import (
    BUILD_MODES,
    FAIL_ON,
    FLAVOURS,
    LEVELS,
    LintConfig,
    Settings,
    ShellcheckOptions,
    default_arch,
    normalise_arch,
)
from defkit.model import Span
from defkit.tomlfile import load_toml
from defkit.yamlfile import Key, Locator, did_you_mean, load_yaml

if TYPE_CHECKING:
    from defkit.site.profile import SiteProfile


TOP_KEYS = (
    "select",
    "extend-select",
    "ignore",
    "severity",
    "per-file-ignores",
    "options",
    "arch",
    "build-mode",
    "flavour",
    "trusted-registries",
    "required-labels",
    "fail-on",
    "inline-ignores",
    "shellcheck",
    "site",
)
SHELLCHECK_KEYS = ("enabled", "exclude", "severity", "extended-analysis", "enable")


def read_config(path: str) -> LintConfig:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the configuration: {exc}", path=path) from exc
    if path.endswith(".toml"):  # pyproject.toml's [tool.defkit], or a whole --config TOML file
        data, locate = _load_toml(text, path)
    else:
        data, locate = load_yaml(text, path)
    return _Builder(path, locate).build(data)


def _load_toml(text: str, path: str) -> tuple[Any, Locator]:
    document = load_toml(text, path)
    in_pyproject = os.path.basename(path) == "pyproject.toml"
    data = document.get("tool", {}).get("defkit", {}) if in_pyproject else document
    lines = text.split("\n")
    table = next((i for i, line in enumerate(lines) if line.strip().startswith("[tool.defkit")), 0)

    def locate(keys: Sequence[Key]) -> Optional[Span]:
        # tomllib keeps no positions: find the last key written as `key =` below [tool.defkit].
        names = [key for key in keys if isinstance(key, str)]
        if names:
            pattern = re.compile(r"^\s*[\"']?" + re.escape(names[-1]) + r"[\"']?\s*=")
            for number in range(table, len(lines)):
                if pattern.match(lines[number]):
                    column = len(lines[number]) - len(lines[number].lstrip()) + 1
                    return Span(number + 1, column, number + 1, column + len(names[-1]))
        return Span(table + 1, 1, table + 1, 1)

    return data, locate


class _Builder:
    def __init__(self, path: str, locate: Locator):
        self.path = path
        self.locate = locate

    def fail(self, keys: Sequence[Key], message: str) -> ConfigError:
        return ConfigError(message, path=self.path, span=self.locate(keys))

    def build(self, data: Any) -> LintConfig:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise self.fail([], "the configuration must be a mapping of keys to values")
        for key in data:
            if key not in TOP_KEYS:
                raise self.fail([key], f"unknown key {key!r}{did_you_mean(str(key), TOP_KEYS)}")
        arch = default_arch()
        if "arch" in data:
            arch = normalise_arch(self.string(["arch"], data["arch"])) or ""
            if not arch:
                raise self.fail(
                    ["arch"],
                    f"unknown arch {data['arch']!r} (one of amd64, arm64, ppc64le, s390x, 386)",
                )
        site = self.site(data["site"]) if "site" in data else None
        if site is not None and site.arch and "arch" not in data:
            arch = site.arch  # the site's nodes are the target unless `arch` says otherwise
        settings = Settings(
            arch=arch,
            build_mode=self.choice(["build-mode"], data.get("build-mode", "fakeroot"), BUILD_MODES),
            flavour=self.choice(["flavour"], data.get("flavour", "apptainer"), FLAVOURS),
            trusted_registries=self.strings(
                ["trusted-registries"], data.get("trusted-registries", [])
            ),
            required_labels=self.strings(["required-labels"], data.get("required-labels", [])),
            site=site,
        )
        return LintConfig(
            select=self.selectors(["select"], data.get("select", [])),
            extend_select=self.selectors(["extend-select"], data.get("extend-select", [])),
            ignore=self.selectors(["ignore"], data.get("ignore", [])),
            severity=self.severity(data.get("severity", {})),
            per_file_ignores=self.per_file_ignores(data.get("per-file-ignores", {})),
            options=self.options(data.get("options", {})),
            fail_on=self.choice(["fail-on"], data.get("fail-on", "warning"), FAIL_ON),
            inline_ignores=self.boolean(["inline-ignores"], data.get("inline-ignores", True)),
            shellcheck=self.shellcheck(data.get("shellcheck", {})),
            settings=settings,
            path=self.path,
            root=os.path.dirname(os.path.abspath(self.path)),
        )

    def site(self, value: Any) -> SiteProfile:
        """The site profile file named by `site:`, relative to this configuration's directory."""
        from defkit.lint.config_site import read_profile

        name = self.string(["site"], value)
        path = os.path.join(os.path.dirname(os.path.abspath(self.path)), os.path.expanduser(name))
        if not os.path.isfile(path):
            raise self.fail(["site"], f"site profile {name!r} not found")
        return read_profile(path)

    def string(self, keys: Sequence[Key], value: Any) -> str:
        if not isinstance(value, str):
            raise self.fail(keys, f"{keys[-1]!s} must be a string")
        return value

    def boolean(self, keys: Sequence[Key], value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.fail(keys, f"{keys[-1]!s} must be true or false")
        return value

    def choice(self, keys: Sequence[Key], value: Any, choices: Sequence[str]) -> str:
        text = self.string(keys, value)
        if text not in choices:
            hint = did_you_mean(text, choices) or f" (one of {', '.join(choices)})"
            raise self.fail(keys, f"invalid {keys[-1]!s} {text!r}{hint}")
        return text

    def strings(self, keys: Sequence[Key], value: Any) -> tuple[str, ...]:
        if isinstance(value, str):  # "DK101, DK102" is accepted as a list
            return tuple(word.strip() for word in value.split(",") if word.strip())
        if not isinstance(value, list):
            raise self.fail(keys, f"{keys[-1]!s} must be a list of strings")
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise self.fail([*keys, index], f"{keys[-1]!s} must be a list of strings")
        return tuple(value)

    def selectors(self, keys: Sequence[Key], value: Any) -> tuple[str, ...]:
        from defkit.lint.rules import RULES
        from defkit.lint.selection import is_valid_selector

        words = self.strings(keys, value)
        known = [(rule.CODE, rule.NAME) for rule in RULES]
        for index, word in enumerate(words):
            if not is_valid_selector(word, known):
                choices = [code for code, _ in known] + [name for _, name in known]
                hint = did_you_mean(word, choices)
                raise self.fail([*keys, index], f"unknown rule {word!r} in {keys[-1]!s}{hint}")
        return words

    def mapping(self, keys: Sequence[Key], value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(keys, f"{keys[-1]!s} must be a mapping")
        return {str(key): item for key, item in value.items()}

    def severity(self, value: Any) -> dict[str, str]:
        result: dict[str, str] = {}
        for selector, level in self.mapping(["severity"], value).items():
            self.selectors(["severity", selector], [selector])
            result[selector] = self.choice(["severity", selector], level, (*LEVELS, "ignore"))
        return result

    def per_file_ignores(self, value: Any) -> dict[str, tuple[str, ...]]:
        return {
            glob: self.selectors(["per-file-ignores", glob], codes)
            for glob, codes in self.mapping(["per-file-ignores"], value).items()
        }

    def options(self, value: Any) -> dict[str, dict[str, Any]]:
        from defkit.lint.rules import RULES, lookup

        result: dict[str, dict[str, Any]] = {}
        for rule_word, given in self.mapping(["options"], value).items():
            rule = lookup(rule_word)
            if rule is None:
                hint = did_you_mean(rule_word, [r.NAME for r in RULES])
                raise self.fail(["options", rule_word], f"unknown rule {rule_word!r}{hint}")
            options = self.mapping(["options", rule_word], given)
            for option, option_value in options.items():
                if option not in rule.OPTIONS:
                    hint = did_you_mean(option, list(rule.OPTIONS)) or f" ({rule.NAME} has none)"
                    if rule.OPTIONS and not did_you_mean(option, list(rule.OPTIONS)):
                        hint = f" ({rule.NAME} has {', '.join(rule.OPTIONS)})"
                    raise self.fail(
                        ["options", rule_word, option], f"unknown option {option!r}{hint}"
                    )
                default = rule.OPTIONS[option]
                if default is not None and not isinstance(option_value, type(default)):
                    wanted = type(default).__name__
                    raise self.fail(["options", rule_word, option], f"{option} must be a {wanted}")
            result[rule.NAME] = options
        return result

    def shellcheck(self, value: Any) -> ShellcheckOptions:
        given = self.mapping(["shellcheck"], value)
        for key in given:
            if key not in SHELLCHECK_KEYS:
                raise self.fail(
                    ["shellcheck", key],
                    f"unknown shellcheck option {key!r}{did_you_mean(key, SHELLCHECK_KEYS)}",
                )
        codes = self.strings(["shellcheck", "exclude"], given.get("exclude", []))
        for index, code in enumerate(codes):
            if not re.match(r"^SC[0-9]{4}$", code):
                raise self.fail(
                    ["shellcheck", "exclude", index], f"not a ShellCheck code: {code!r}"
                )
        return ShellcheckOptions(
            enabled=self.boolean(["shellcheck", "enabled"], given.get("enabled", True)),
            exclude=codes,
            severity=self.choice(
                ["shellcheck", "severity"],
                given.get("severity", ShellcheckOptions.severity),
                LEVELS,
            ),
            extended_analysis=self.boolean(
                ["shellcheck", "extended-analysis"], given.get("extended-analysis", True)
            ),
            enable=self.strings(["shellcheck", "enable"], given.get("enable", [])),
        )
