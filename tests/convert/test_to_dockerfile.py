""".def -> Dockerfile: the output parses with defkit's Dockerfile parser and keeps the meaning."""

from __future__ import annotations

from defkit.convert import convert_deffile
from defkit.dockerfile.ast import CopyCommand, EnvCommand, RunCommand
from defkit.dockerfile.parser import parse

DEF = """Bootstrap: docker
From: ubuntu:24.04
Stage: build

%files
    src /opt/src
    setup.cfg

%post
    apt-get update
    cd /opt/src && make

%environment
    export LANG=C.UTF-8
    PATH="/opt/bin:$PATH"
    export COMPLEX=$(uname -m)

%labels
    Author Jane Doe

%setup
    touch $APPTAINER_ROOTFS/x

%test
    make check

Bootstrap: docker
From: alpine:3.20
Stage: final

%files from build
    /opt/src/app /usr/local/bin/app

%post -c /bin/bash
    [[ -x /usr/local/bin/app ]]

%runscript
    exec app "$@"

%appinstall tool
    echo tool
"""


def test_reverse_conversion() -> None:
    result = convert_deffile(DEF, "x.def")
    dockerfile = parse(result.text, "Dockerfile")
    assert [stage.name for stage in dockerfile.stages] == ["build", "final"]
    build = dockerfile.stages[0].instructions
    copies = [i.command for i in build if isinstance(i.command, CopyCommand)]
    assert [(c.sources, c.dest) for c in copies] == [(("src",), "/opt/src"),
                                                     (("setup.cfg",), "/setup.cfg")]
    runs = [i.command for i in build if isinstance(i.command, RunCommand)]
    assert runs[0].heredocs[0].content.startswith("set -e\n    apt-get update\n")
    envs = [pair.key for i in build if isinstance(i.command, EnvCommand) for pair in i.command.pairs]
    assert envs == ["LANG", "PATH"]  # $(uname -m) needs a shell: warned, not converted
    assert 'LABEL Author="Jane Doe"' in result.text
    final = dockerfile.stages[1].instructions
    copy = next(i.command for i in final if isinstance(i.command, CopyCommand))
    assert copy.from_ == "build"
    run = next(i.command for i in final if isinstance(i.command, RunCommand))
    assert run.heredocs[0].content.startswith("#!/bin/bash\n")  # %post -c /bin/bash: no -e
    assert 'ENTRYPOINT ["/usr/local/bin/defkit-runscript"]' in result.text
    warned = " ".join(note.message for note in result.notes)
    for word in ("%setup", "%test", "SCIF", "%environment line not converted"):
        assert word in warned
