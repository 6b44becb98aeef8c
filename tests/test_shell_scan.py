"""The shell scanner (`defkit.shell_scan`): words, quotes, substitutions, heredocs, comments,
continuations and operators as sh reads them. Where sh can say what the words are, it does:
`printf '%s\\0'` prints each word after quote removal."""

from __future__ import annotations

import subprocess

import pytest

from defkit.convert.shell import split_points_safe
from defkit.shell_scan import (
    COMMENT,
    HEREDOC,
    NEWLINE,
    OPERATOR,
    REDIRECT,
    WORD,
    code_lines,
    scan,
    simple_commands,
    single_quoted,
    strippable_lines,
    unquote,
    unquoted_parts,
    word_value,
)


def _words(script: str) -> list[str]:
    found = scan(script)
    return [script[start:end] for kind, start, end, _ in found.tokens if kind == WORD]


def _values(script: str) -> list[str]:
    found = scan(script)
    return [word_value(script, start, end, parts)
            for kind, start, end, parts in found.tokens if kind == WORD]


def _sh_words(arguments: str) -> list[str]:
    """The words sh makes of `arguments` (no expansion happens in the cases below)."""
    out = subprocess.run(["sh", "-c", f"printf '%s\\0' {arguments}"], capture_output=True,
                         text=True, check=True)
    return out.stdout.split("\0")[:-1]


@pytest.mark.parametrize("arguments", [
    "plain 'single quoted' \"double quoted\" mixed'a b'\"c d\"e",
    "back\\ slash \\'quote\\\" 'it'\\''s'",
    "'# not a comment' a#b",
    "\"a\\\"b\\\\c\\$d\"",  # the escapes double quotes know
    "\"a\\xb\"",  # a backslash before anything else stays inside double quotes
    "'multi\nline' \"also\nhere\"",
    "joined\\\nword",  # a line continuation inside a word joins it
])
def test_words_and_quote_removal_agree_with_sh(arguments: str) -> None:
    assert _values(arguments) == _sh_words(arguments)


def test_single_double_and_ansi_quotes() -> None:
    script = "echo 'a \"b' \"c 'd\" $'e \\' f' g"
    assert _words(script) == ["echo", "'a \"b'", "\"c 'd\"", "$'e \\' f'", "g"]
    found = scan(script)
    assert [(kind, script[start:end]) for kind, start, end in found.quoted] == [
        ("single", "'a \"b'"), ("double", "\"c 'd\""), ("ansi", "$'e \\' f'")]
    assert found.balanced


def test_substitutions_are_one_word_with_their_parts() -> None:
    script = "x=$(echo a b) `date +%s` ${v:-\"x y\"} $((1 << 2)) \"$(echo \")\")\" {{ NAME }}"
    assert _words(script) == ["x=$(echo a b)", "`date +%s`", '${v:-"x y"}', "$((1 << 2))",
                              '"$(echo ")")"', "{{", "NAME", "}}"]
    found = scan(script)
    assert [part[0] for _, _, _, parts in found.tokens for part in parts] == [
        "command", "backtick", "parameter", "arithmetic", "double"]
    assert not found.heredocs  # `<<` in arithmetic shifts


def test_placeholders_are_one_piece_of_a_word_when_asked() -> None:
    script = "echo {{ NAME }} {{ not one }}"
    found = scan(script, placeholders=True)
    words = [script[start:end] for kind, start, end, _ in found.tokens if kind == WORD]
    assert words == ["echo", "{{ NAME }}", "{{", "not", "one", "}}"]


def test_nested_quotes_inside_parameter_and_command_substitution() -> None:
    script = "echo \"${a:-\"b c\"}\" $(echo 'x)' \"(\") ${x#'}'}"
    assert _words(script) == ["echo", "\"${a:-\"b c\"}\"", "$(echo 'x)' \"(\")", "${x#'}'}"]
    assert scan(script).balanced


def test_quoting_is_read_innermost() -> None:
    word = "\"a $(echo 'b c' $@) d\""
    quoted = [(kind, word[start:end]) for kind, start, end in scan(word).quoted]
    assert quoted == [("double", '"a '), ("single", "'b c'"), ("double", ' d"')]
    assert [part for _, part in unquoted_parts(word)] == ["$(echo ", " $@)"]
    assert list(unquoted_parts('"${@}"')) == []  # `${...}` inside double quotes is quoted
    assert [part for _, part in unquoted_parts("a\\$@b")] == ["a", "@b"]  # escaped `$`
    assert single_quoted("'a'\"'\"$'b'") == [(0, 3), (6, 10)]


def test_comments_only_where_a_word_could_start() -> None:
    script = "echo a#b # comment 'quote\necho c;# another\n"
    found = scan(script)
    comments = [script[start:end] for kind, start, end, _ in found.tokens if kind == COMMENT]
    assert comments == ["# comment 'quote", "# another"]
    assert _words(script) == ["echo", "a#b", "echo", "c"]
    assert found.balanced  # the quote in the comment opens nothing
    assert _words("echo $(( 16#ff ))") == ["echo", "$(( 16#ff ))"]  # no comment in arithmetic


def test_line_continuations() -> None:
    script = "apt-get install \\\n    curl \\\n    git\n"
    assert _words(script) == ["apt-get", "install", "curl", "git"]
    assert [kind for kind, *_ in scan(script).tokens].count(NEWLINE) == 1
    assert code_lines(script) == {0, 3}


def test_operators_and_redirections() -> None:
    script = "a && b || c; d | e |& f & (g) 2>/dev/null >>log <in 3<&0 &>all <<<here"
    found = scan(script)
    operators = [script[start:end] for kind, start, end, _ in found.tokens if kind == OPERATOR]
    redirects = [script[start:end] for kind, start, end, _ in found.tokens if kind == REDIRECT]
    assert operators == ["&&", "||", ";", "|", "|&", "&", "(", ")"]
    assert redirects == ["2>", ">>", "<", "3<&", "&>", "<<<"]
    commands = list(simple_commands(script, found))
    assert [(c.before, c.after) for c in commands][:3] == [("", "&&"), ("&&", "||"), ("||", ";")]
    last = commands[-1]
    assert [(op, script[target[1]:target[2]]) for op, target in last.redirects] == [
        (">", "/dev/null"), (">>", "log"), ("<", "in"), ("<&", "0"), ("&>", "all"),
        ("<<<", "here")]


def test_heredocs() -> None:
    script = (
        "cat <<EOF >a; cat <<-'END' >b\n"
        "body $x 'unbalanced\n"
        "EOF\n"
        "\t\ttabbed\n"
        "\tEND\n"
        "cat <<\\E\"O\"F\n"
        "x\n"
        "EOF\n"
        "echo done\n"
    )
    found = scan(script)
    assert found.balanced
    bodies = [(h.delimiter, h.strip_tabs, h.quoted, script[h.start:h.end])
              for h in found.heredocs]
    assert bodies == [("EOF", False, False, "body $x 'unbalanced\n"),
                      ("END", True, True, "\t\ttabbed\n"),
                      ("EOF", False, True, "x\n")]
    assert [kind for kind, *_ in found.tokens].count(HEREDOC) == 3
    assert _words(script)[-2:] == ["echo", "done"]
    commands = list(simple_commands(script, found))
    assert [[h.delimiter for h in c.heredocs] for c in commands] == [["EOF"], ["END"], ["EOF"], []]
    assert code_lines(script) == {0, 5, 8, 9}


def test_heredoc_delimiters_indented_only_when_asked() -> None:
    script = "cat <<EOF\n    text\n    EOF\necho after\n"
    assert not scan(script).balanced  # sh reads to the end: `    EOF` is no delimiter
    lenient = scan(script, indented_delimiters=True)
    assert lenient.balanced
    assert "after" in [script[s:e] for kind, s, e, _ in lenient.tokens if kind == WORD]


def test_heredoc_inside_command_substitution() -> None:
    script = "x=$(cat <<EOF\n)'\nEOF\n)\necho y\n"
    found = scan(script)
    assert found.balanced
    assert _words(script) == ["x=$(cat <<EOF\n)'\nEOF\n)", "echo", "y"]


@pytest.mark.parametrize("script", ["echo 'open", "echo \"open", "echo $(open", "echo ${open",
                                    "echo `open", "cat <<EOF\nno end\n", "echo $'open"])
def test_unclosed_constructs_are_unbalanced(script: str) -> None:
    found = scan(script)
    assert not found.balanced
    assert code_lines(script) is None and strippable_lines(script) == set()
    assert found.tokens[-1][0] in (WORD, HEREDOC)  # the last word runs to the end


def test_unquote() -> None:
    assert unquote("'a b'") == "a b"
    assert unquote('"x\\"y"') == 'x"y'
    assert unquote("E\"O\"F") == "EOF"
    assert unquote("$'x'") == "x"
    assert unquote("a\\\nb") == "ab"


def test_strippable_lines() -> None:
    body = "echo a   \necho 'b   \nc'   \necho d\\ \ncat <<E\nbody   \nE\n# note   \n"
    safe = strippable_lines(body)
    assert {0, 2, 7} <= safe  # code, after a quote closed, a comment
    assert not {1, 3, 5} & safe  # inside quotes, escaped, a heredoc body


def test_split_points_safe_follows_nested_quotes() -> None:
    text = "echo \"$(echo 'a b')\" c"
    assert not split_points_safe(text, [text.index("a b") + 1])  # single quotes, nested
    assert split_points_safe(text, [text.index(" c")])
    text = "echo $'x y' z"
    assert not split_points_safe(text, [text.index("x y") + 1])


def _lint(source: str, code: str) -> list[tuple[int, int, str]]:
    from defkit.lint.config import LintConfig
    from defkit.lint.linter import lint_text

    result = lint_text(source, "x.def", LintConfig(), shellcheck=False)
    return [(p.span.line, p.span.column, p.message) for p in result.problems if p.code == code]


def test_unquoted_args_reads_quotes_innermost() -> None:
    """`\\$@` is a literal `$@`; inside `"$(...)"` the substitution's `$@` has no quotes (the
    scanners before the shared one read both the other way round)."""
    source = 'Bootstrap: docker\nFrom: alpine\n%runscript\n    exec tool \\$@ "$(echo $@)"\n'
    assert _lint(source, "DK603") == [
        (4, 27, "`$@` without double quotes splits arguments")]


def test_unquoted_heredoc_reads_each_body_of_a_line() -> None:
    """Two heredocs opened on one line have one body each, one after the other (the rule used
    to read both from the line after the command)."""
    source = (
        "Bootstrap: docker\nFrom: alpine\n%post\n"
        "cat > /etc/a.conf <<A; cat > /usr/local/bin/b <<B\n"
        "home=$HOME\n"
        "A\n"
        "#!/bin/sh\n"
        "echo $1\n"
        "B\n"
    )
    found = _lint(source, "DK319")
    assert [(line, column) for line, column, _ in found] == [(8, 6)]
    assert "<<'B'" in found[0][2]
