"""The command listing (``--help``) is built without importing any command module, and
says exactly what the modules register."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys

from tagger_core.cli import COMMAND_HELP, COMMAND_MODULES


def test_listing_help_is_what_each_module_registers() -> None:
    registered: dict[str, str] = {}
    for name in COMMAND_MODULES:
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(name).register(sub)
        registered |= {action.dest: action.help for action in sub._choices_actions}
    assert list(registered.items()) == list(COMMAND_HELP.items())


def test_help_imports_no_command_module_nor_heavy_libraries() -> None:
    code = (
        "import contextlib, io, json, sys\n"
        "from tagger_core.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = ('numpy', 'sqlalchemy', 'scipy', 'torch')\n"
        "print(json.dumps({'text': out.getvalue(), 'loaded': sorted(\n"
        "    m for m in sys.modules if m.startswith('tagger_core.cli.') or m in heavy)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["loaded"] == []
    for command, text in COMMAND_HELP.items():
        assert command in result["text"] and text[:30] in result["text"]
