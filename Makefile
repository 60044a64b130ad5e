# Two commands on a fresh machine:  `make run`  and  `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# What Qt's xcb platform plugin loads (desktop window and the Xvfb screenshots).
QT_XCB_PACKAGES := libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 \
  libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libegl1
SYSTEM_PACKAGES := ffmpeg libportaudio2 xvfb fluidsynth timgm6mb-soundfont appstream desktop-file-utils \
  postgresql $(QT_XCB_PACKAGES)
# Installed without recommends: timidity recommends the 120 MB fluid-soundfont-gm, which
# the tests do not need (timidity + freepats: 26 MB, the sample-disjoint bundle test).
LEAN_PACKAGES := timidity freepats

.PHONY: run test install system-deps lint bench clean-venv

# Opens the desktop window on the default library (LIBRARY=/path, ~/Music, or the demo).
# Without a display the GUI says so in one line (exit 3) and the terminal main job runs instead.
run: install
	@$(VENV)/bin/music-tagger-gui $(if $(LIBRARY),--library "$(LIBRARY)",--scan-default); rc=$$?; \
	if [ $$rc -eq 3 ]; then $(VENV)/bin/music-tagger run $(if $(LIBRARY),"$(LIBRARY)"); else exit $$rc; fi

test: install
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: no tests were collected" >&2; exit 1; fi; exit $$rc

install: system-deps $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages the app and its tests use; installed when we are root on Debian,
# otherwise listed so the user can install them (the app degrades without them).
# postgresql: the tests start a throw-away server of their own (tests/db/pg_server.py).
system-deps:
	@missing=""; lean=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	for p in $(LEAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || lean="$$lean $$p"; done; \
	if [ -n "$$missing$$lean" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing system packages:$$missing$$lean"; \
	    apt-get update -qq && export DEBIAN_FRONTEND=noninteractive && \
	    { [ -z "$$missing" ] || apt-get install -y -qq $$missing >/dev/null; } && \
	    { [ -z "$$lean" ] || apt-get install -y -qq --no-install-recommends $$lean >/dev/null; }; \
	  else \
	    echo "Optional system packages missing:$$missing$$lean (install them with apt-get for full features)"; \
	  fi; \
	fi

lint: install
	$(VENV)/bin/ruff check tagger_core app tests bench tools

bench: install
	for b in bench/*.py; do $(PY) $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
