"""The rule registry: every rule module, imported explicitly, in one plain tuple.

To add a rule, import its module below and append it to `RULES` (keep code order).
"""

from __future__ import annotations

from typing import Optional

from defkit.lint.context import Rule
from defkit.lint.rules import (
    dk001_parse_error,
    dk002_unknown_section,
    dk003_unknown_header_key,
    dk004_unused_ignore,
    dk005_shellcheck_skipped,
    dk101_missing_bootstrap,
    dk102_invalid_bootstrap_agent,
    dk103_missing_from,
    dk104_agent_required_keys,
    dk105_duplicate_stage_name,
    dk106_from_contains_hash,
    dk107_duplicate_section,
    dk108_empty_section,
    dk109_section_args_ignored,
    dk110_trailing_whitespace,
    dk111_no_final_newline,
    dk112_mixed_indentation,
    dk113_shub_bootstrap,
    dk201_floating_base_tag,
    dk202_unpinned_base,
    dk203_arch_mismatch,
    dk204_root_only_step,
    dk205_untrusted_registry,
    dk206_base_tag_moved,
    dk207_end_of_life_mirror,
    dk301_apt_get_missing_y,
    dk302_apt_instead_of_apt_get,
    dk303_apt_no_install_recommends,
    dk304_apt_lists_not_cleaned,
    dk305_yum_missing_y,
    dk306_pip_no_cache_dir,
    dk307_pip_unpinned,
    dk308_pip_unquoted_specifier,
    dk309_curl_pipe_shell,
    dk310_insecure_download,
    dk311_chmod_777,
    dk312_bashism_in_sh,
    dk313_post_c_missing_argument,
    dk314_setup_without_rootfs,
    dk315_apk_no_cache,
    dk316_yum_cache_not_cleaned,
    dk317_conda_cache_not_cleaned,
    dk318_conda_missing_y,
    dk319_unquoted_heredoc,
    dk401_environment_missing_export,
    dk402_environment_not_in_post,
    dk403_label_key_colon,
    dk404_label_key_equals,
    dk405_duplicate_label,
    dk406_undefined_build_arg,
    dk407_unused_build_arg,
    dk408_argument_not_key_value,
    dk409_secret_in_definition,
    dk410_missing_labels,
    dk411_environment_prefixed_variable,
    dk501_files_source_missing,
    dk502_files_from_unknown_stage,
    dk503_files_bad_args,
    dk504_localimage_missing,
    dk601_missing_runscript,
    dk602_runscript_missing_exec,
    dk603_unquoted_args,
    dk604_missing_test,
    dk605_missing_help,
    dk701_cuda_newer_than_driver,
    dk702_mpi_mismatch,
    dk703_pmix_mismatch,
    dk704_glibc_older_than_host,
    dk705_bundled_driver_library,
    dk706_cuda_without_nvidia_env,
)

RULES: tuple[Rule, ...] = (
    dk001_parse_error,
    dk002_unknown_section,
    dk003_unknown_header_key,
    dk004_unused_ignore,
    dk005_shellcheck_skipped,
    dk101_missing_bootstrap,
    dk102_invalid_bootstrap_agent,
    dk103_missing_from,
    dk104_agent_required_keys,
    dk105_duplicate_stage_name,
    dk106_from_contains_hash,
    dk107_duplicate_section,
    dk108_empty_section,
    dk109_section_args_ignored,
    dk110_trailing_whitespace,
    dk111_no_final_newline,
    dk112_mixed_indentation,
    dk113_shub_bootstrap,
    dk201_floating_base_tag,
    dk202_unpinned_base,
    dk203_arch_mismatch,
    dk204_root_only_step,
    dk205_untrusted_registry,
    dk206_base_tag_moved,
    dk207_end_of_life_mirror,
    dk301_apt_get_missing_y,
    dk302_apt_instead_of_apt_get,
    dk303_apt_no_install_recommends,
    dk304_apt_lists_not_cleaned,
    dk305_yum_missing_y,
    dk306_pip_no_cache_dir,
    dk307_pip_unpinned,
    dk308_pip_unquoted_specifier,
    dk309_curl_pipe_shell,
    dk310_insecure_download,
    dk311_chmod_777,
    dk312_bashism_in_sh,
    dk313_post_c_missing_argument,
    dk314_setup_without_rootfs,
    dk315_apk_no_cache,
    dk316_yum_cache_not_cleaned,
    dk317_conda_cache_not_cleaned,
    dk318_conda_missing_y,
    dk319_unquoted_heredoc,
    dk401_environment_missing_export,
    dk402_environment_not_in_post,
    dk403_label_key_colon,
    dk404_label_key_equals,
    dk405_duplicate_label,
    dk406_undefined_build_arg,
    dk407_unused_build_arg,
    dk408_argument_not_key_value,
    dk409_secret_in_definition,
    dk410_missing_labels,
    dk411_environment_prefixed_variable,
    dk501_files_source_missing,
    dk502_files_from_unknown_stage,
    dk503_files_bad_args,
    dk504_localimage_missing,
    dk601_missing_runscript,
    dk602_runscript_missing_exec,
    dk603_unquoted_args,
    dk604_missing_test,
    dk605_missing_help,
    dk701_cuda_newer_than_driver,
    dk702_mpi_mismatch,
    dk703_pmix_mismatch,
    dk704_glibc_older_than_host,
    dk705_bundled_driver_library,
    dk706_cuda_without_nvidia_env,
)

_BY_CODE: dict[str, Rule] = {rule.CODE: rule for rule in RULES}
_BY_NAME: dict[str, Rule] = {rule.NAME: rule for rule in RULES}


def by_code(code: str) -> Optional[Rule]:
    return _BY_CODE.get(code.upper())


def by_name(name: str) -> Optional[Rule]:
    return _BY_NAME.get(name.lower())


def lookup(code_or_name: str) -> Optional[Rule]:
    """The rule with this code (`DK002`) or name (`unknown-section`), or None."""
    return by_code(code_or_name) or by_name(code_or_name)


def enabled_by_default(rule: Rule) -> bool:
    """Opt-in rules set `ENABLED_BY_DEFAULT = False` in their module."""
    return bool(getattr(rule, "ENABLED_BY_DEFAULT", True))


def has_dynamic_severity(rule: Rule) -> bool:
    """Rules that set `DYNAMIC_SEVERITY = True` give each finding its own level (the linter keeps
    `Problem.severity`, unless configuration overrides it); the others give all `SEVERITY`."""
    return bool(getattr(rule, "DYNAMIC_SEVERITY", False))
