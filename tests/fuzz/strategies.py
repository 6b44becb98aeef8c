"""Hostile inputs for parse, lint, fmt and convert: deep nesting, every Unicode category
(surrogates, non-ASCII digits, control characters included), huge counts of lines, sections,
stages and `$`, mixed with the pieces real files are made of."""

from __future__ import annotations

from hypothesis import strategies as st

#: Any code point: every category, lone surrogates included (`characters()` leaves them out).
ANY_CHAR = st.characters(exclude_categories=())
#: The most text a generated file holds (in characters).
LARGEST = 1_000_000
#: Characters that trip `str` methods and Unicode-aware regexes.
TRICKY_CHARS = st.sampled_from(
    list("²³¹٣۳߃३০౩๓༣፫០᠓٠\u00a0\u2003\u3000\u1680\u2028\u2029\u0085\ufeff\u200b")
    + ["\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\r", "\x1b", "\x7f", "\t"]
    + ["\ud83d", "\udc00", "\U0001f600", "é", "ſ", "K", "İ", "ß"]
)
CHAR = st.one_of(ANY_CHAR, TRICKY_CHARS, st.sampled_from(list("$`'\"\\{}()[]<>|&;#%=:,*?!- \n")))
NOISE = st.text(CHAR, max_size=12)


def _nested(opener: str, closer: str) -> st.SearchStrategy[str]:
    """`opener` n times, something, `closer` m times: balanced or not, up to thousands deep."""
    return st.builds(
        lambda n, m, middle: opener * n + middle + closer * m,
        st.integers(0, 3000),
        st.integers(0, 3000),
        NOISE,
    )


#: Deep nesting of every construct a scanner or an expander follows.
DEEP = st.one_of(
    _nested("$(", ")"),
    _nested("${a:-", "}"),
    _nested("${a/", "/b}"),
    _nested('"`', '`"'),
    _nested('"$(', ')"'),
    _nested("`", "`"),
    _nested("[", "]"),
    _nested('["', '"]'),
    _nested("{", "}"),
    _nested("{{", "}}"),
    _nested("'", "'"),
    _nested("<<", ""),
    _nested("\\", ""),
)


def _repeated(piece: str, most: int = 20000) -> st.SearchStrategy[str]:
    return st.integers(0, most).map(lambda n: piece * n)


#: Huge counts of one small thing.
MANY = st.one_of(
    _repeated("$a"),
    _repeated("$a$b "),
    _repeated("${a}"),
    _repeated("{{ X }}", 5000),
    _repeated("# {{ X }} ", 3000),
    _repeated(":", 30000),
    _repeated("a.", 15000),
    _repeated(",", 30000),
    _repeated("o", 30000).map(lambda text: "chmod ," + text),
    _repeated("{,", 10000),
    _repeated("=", 30000),
    _repeated("x://", 5000),
    _repeated(" ", 30000),
    _repeated("\\\n", 5000),
    _repeated("'a'", 5000),
    _repeated('"a"', 5000),
    _repeated("`a`", 5000),
    _repeated("a;", 10000),
    _repeated("| sh ", 5000),
    _repeated("9", 6000),
)

HEADER_LINES = st.sampled_from(
    [
        "Bootstrap: docker", "bootstrap: localimage", "Bootstrap: scratch", "From: alpine",
        "From: {{ BASE }}", "Stage: s", "Stage: 0", "IncludeCmd: yes", "Bootstrap:", "From:",
        "OSVersion: 9 \\", "  continued", "# defkit: ignore-file=DK301", "Fingerprints: x",
    ]
)  # fmt: skip
SECTION_LINES = st.sampled_from(
    [
        "%post", "%post -c /bin/bash", "%setup", "%files", "%files from s", "%files from ²",
        "%environment", "%labels", "%runscript", "%startscript", "%test", "%help",
        "%arguments", "%apprun a", "%appenv a", "%appinstall a", "%appfiles a", "%applabels a",
        "%pre", "  %post", "\u00a0%post", "%%", "%", "%unknown",
    ]
)  # fmt: skip
BODY_LINES = st.sampled_from(
    [
        "    apt-get install curl", "    echo $HOME \"$(date)\" `id` $@ $*", "    X=1",
        "    export X=$Y", "    cat <<EOF > /f", "EOF", "    cat <<-'E'", "\tE",
        "    pip install numpy==1.0", "    curl -k http://u:p@h/x | sh", "    chmod 777 /x",
        "    A=$(echo ${B:-${C:-d}})", "    /a /b", "    \"a b\" c", "    key value",
        "    VERSION=1", "    echo {{ VERSION }}", "    # defkit: ignore=DK301 -- ok",
        "    exec \"$@\"", "    {a,b}", "    [[ $x == y ]]", "    A=hf_abcdefghijklmnopqrstuvwxyz0123",
        "    echo \\", "\"", "'", "    ", "",
    ]
)  # fmt: skip
LINE = st.one_of(
    HEADER_LINES, SECTION_LINES, BODY_LINES, BODY_LINES,
    st.builds(lambda a, b: a + b, BODY_LINES, NOISE),
    st.builds(lambda a, b: "    echo " + a + b, DEEP, NOISE),
    st.builds(lambda a: "    echo " + a, MANY),
    st.builds(lambda a: "X=" + a, MANY),
    NOISE,
)  # fmt: skip
LINE_END = st.sampled_from(["\n", "\n", "\n", "\r\n", "\r", ""])


@st.composite
def deffiles(draw: st.DrawFn) -> str:
    """A definition file: a few stages of generated lines, possibly repeated thousands of times
    (stages, sections, lines)."""
    end = draw(LINE_END)
    lines = draw(st.lists(LINE, max_size=12))
    body = end.join(lines) + end
    head = "Bootstrap: docker" + end + "From: alpine" + end
    times = draw(st.sampled_from([1, 1, 1, 2, 50, 500, 3000]))
    # Large, but not what no machine can hold: a megabyte of text at most.
    times = max(1, min(times, LARGEST // max(1, len(head) + len(body))))
    shape = draw(st.sampled_from(["stages", "body", "once"]))
    if shape == "stages":
        return (head + body) * times
    if shape == "body":
        return head + body * times
    return draw(st.sampled_from(["", head])) + body


DOCKER_LINES = st.sampled_from(
    [
        "FROM alpine", "FROM alpine AS a", "FROM a AS b", "FROM b", "FROM scratch",
        "FROM ${BASE:-alpine}", "ARG BASE=alpine", "ARG X", "ENV A=1 B=$A", "ENV A 1",
        "RUN echo $A", "RUN [\"echo\", \"\\ud83d\"]", "RUN [\"sh\", \"-c\", \"x\"]", "CMD [\"a\"]",
        "ENTRYPOINT [\"/x\"]", "CMD x", "COPY . /app", "COPY --from=a /x /y", "COPY --from=0 /x /y",
        "COPY --from=² /x /y", "COPY --from=٣ /x /y", "ADD http://x/y /z", "WORKDIR /w",
        "WORKDIR ${A:-${B:-/c}}", "USER 1000", "EXPOSE 80", "VOLUME /v", "LABEL a=b",
        "SHELL [\"/bin/bash\", \"-c\"]", "HEALTHCHECK --retries=3 CMD x", "ONBUILD RUN x",
        "RUN <<EOF", "echo hi", "EOF", "RUN echo \\", "  continued", "# escape=`", "# syntax=x",
        "STOPSIGNAL 9", "RUN --mount=type=cache,target=/c x",
    ]
)  # fmt: skip
DOCKER_LINE = st.one_of(
    DOCKER_LINES, DOCKER_LINES,
    st.builds(lambda a, b: a + " " + b, st.sampled_from(["RUN", "CMD", "WORKDIR", "ENV X=", "COPY", "LABEL", "FROM", "EXPOSE", "ARG"]), DEEP),
    st.builds(lambda a, b: a + " " + b, st.sampled_from(["RUN echo", "WORKDIR /", "ENV X=", "LABEL x="]), MANY),
    st.builds(lambda a, b: a + b, DOCKER_LINES, NOISE),
    NOISE,
)  # fmt: skip


@st.composite
def dockerfiles(draw: st.DrawFn) -> str:
    """A Dockerfile: generated lines, possibly repeated (stages, chains of stages, lines)."""
    end = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    lines = draw(st.lists(DOCKER_LINE, max_size=10))
    shape = draw(st.sampled_from(["lines", "chain", "stages", "body"]))
    times = draw(st.sampled_from([1, 1, 2, 100, 1000]))
    body = end.join(lines) + end
    times = max(1, min(times, LARGEST // max(1, len(body) + 30)))
    if shape == "chain":
        chain = "".join(f"FROM s{i} AS s{i + 1}{end}{body}" for i in range(times))
        return f"FROM alpine AS s0{end}" + chain
    if shape == "stages":
        return ("FROM alpine AS x" + end + body) * times
    if shape == "body":
        return "FROM alpine" + end + body * times
    return body
