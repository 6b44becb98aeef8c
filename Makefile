# Set-up and checks. `make install` is safe to run again; it only installs what is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Debian packages the tests and the build engine use (installed with apt-get when running as root).
DEB_PACKAGES := squashfs-tools busybox-static siftool fakeroot uidmap debootstrap git zstd \
                docker-registry apache2-utils skopeo umoci squashfuse b3sum slurm-wlm

.PHONY: install deb venv test check bench e2e example clean

install: deb venv

deb:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "apt-get install$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "warning: missing Debian packages:$$missing (run 'make deb' as root)" >&2; \
	  fi; \
	fi

venv: $(BIN)/defkit

# hatch_build.py generates defkit/_generated_parser.py from the grammar on (re)install.
$(BIN)/defkit: pyproject.toml hatch_build.py grammar/deffile.lark
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

test: install
	$(BIN)/pytest -q -n 2 -m 'not e2e'

check: install
	$(BIN)/ruff check defkit tests bench hatch_build.py
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench

e2e: install
	$(BIN)/pytest -q -m e2e
	# Bounded: about 10 minutes on 2 cores (each input is capped at 1 MB of text).
	DEFKIT_FUZZ=long DEFKIT_FUZZ_EXAMPLES=$${DEFKIT_FUZZ_EXAMPLES:-600} $(BIN)/pytest -q -n 2 tests/fuzz/test_fuzz_targets.py

# The Quickstart's main job: lint, build (rootless, no network) and run the example image.
example: install
	test -d examples/hello/busybox-rootfs || $(BIN)/python -m defkit.engine.busybox_rootfs examples/hello/busybox-rootfs
	$(BIN)/defkit lint examples/hello/hello.def
	$(BIN)/defkit build --fakeroot --force examples/hello/hello.def
	$(BIN)/defkit run examples/hello/hello.sif world

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
