"""What we ship: the wheel's contents, the desktop entry, AppStream metadata and icons.

The wheel is built from a copy of the source tree (as from a clean clone: no stale
``build/`` or ``*.egg-info``) and opened as a zip; it is also unpacked and imported from,
to prove the model files are found where an installed copy looks for them.
"""

from __future__ import annotations

import configparser
import os
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
APP_ID = "io.github.music_archive_tagger.MusicArchiveTagger"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256)
SOURCES = ("pyproject.toml", "setup.py", "README.md", "tagger_core", "app", "resources")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def _source_files(folder: str) -> set[str]:
    return {
        p.relative_to(ROOT / folder).as_posix()
        for p in (ROOT / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel the way ``pip install .`` would, from a clean copy of the tree."""
    pytest.importorskip("setuptools", reason="the setuptools build backend is not installed")
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    src.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=SKIP)
        else:
            shutil.copy2(path, src / name)
    out = base / "out"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    wheels = list(out.glob("music_archive_tagger-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def test_wheel_has_every_module_of_both_packages(wheel_names: set[str]) -> None:
    for package in ("tagger_core", "app"):
        modules = {f"{package}/{f}" for f in _source_files(package) if f.endswith(".py")}
        missing = sorted(modules - wheel_names)
        assert not missing, f"modules left out of the wheel: {missing}"


def test_wheel_carries_resources_as_tagger_resources(wheel_names: set[str]) -> None:
    shipped = {f"tagger_resources/{f}" for f in _source_files("resources")}
    assert any(name.endswith(".safetensors") for name in shipped)
    assert any(name.startswith("tagger_resources/taxonomies/") for name in shipped)
    missing = sorted(shipped - wheel_names)
    assert not missing, f"resources left out of the wheel: {missing}"
    assert not any(name.startswith("resources/") for name in wheel_names)


def test_wheel_carries_alembic_migrations(wheel_names: set[str]) -> None:
    migrations = {
        f"tagger_core/db/migrations/{f}" for f in _source_files("tagger_core/db/migrations")
    }
    assert "tagger_core/db/migrations/env.py" in migrations
    assert "tagger_core/db/migrations/script.py.mako" in migrations
    assert any("/versions/" in m for m in migrations)
    assert not sorted(migrations - wheel_names)


def test_wheel_has_only_our_three_packages(wheel_names: set[str]) -> None:
    """No tests, bench, tools or packaging in the wheel, and no stray top-level names."""
    tops = {name.split("/", 1)[0] for name in wheel_names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {
        "tagger_core", "app", "tagger_resources"
    }


def test_wheel_declares_both_commands(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt"))
        entry_points = configparser.ConfigParser()
        entry_points.read_string(zf.read(name).decode())
    assert entry_points["console_scripts"]["music-tagger"] == "tagger_core.cli:main"
    assert entry_points["gui_scripts"]["music-tagger-gui"] == "app.main:main"


def test_unpacked_wheel_finds_its_models_and_migrates(wheel: Path, tmp_path: Path) -> None:
    """Import from the unpacked wheel alone (not the checkout): resources and migrations resolve."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    probe = (
        "import sys; from pathlib import Path\n"
        "from tagger_core.resources import resource_path\n"
        "from tagger_core.cli import main\n"
        "import tagger_core\n"
        "models = resource_path('models')\n"
        "assert Path(tagger_core.__file__).is_relative_to(sys.argv[1]), tagger_core.__file__\n"
        "assert models.is_relative_to(sys.argv[1]), models\n"
        "assert (models / 'genre' / 'manifest.json').is_file()\n"
        "assert resource_path('taxonomies', 'default.toml').is_file()\n"
        "sys.exit(main(['--db', sys.argv[2], 'status']))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSIC_TAGGER_")}
    env["PYTHONPATH"] = str(site)
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r})\n" + probe,
         str(site), str(tmp_path / "library.db")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "library.db").stat().st_size > 0


# --- desktop integration files -------------------------------------------------------------


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("size", ICON_SIZES)
def test_icon_png_has_its_size(size: int) -> None:
    path = PACKAGING / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
    assert _png_size(path) == (size, size)


def test_scalable_icon_is_svg() -> None:
    path = PACKAGING / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 256 256"


def _desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # keys are case-sensitive
    parser.read(PACKAGING / f"{APP_ID}.desktop", encoding="utf-8")
    return parser["Desktop Entry"]


def test_desktop_entry_launches_the_gui_with_our_icon() -> None:
    entry = _desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == "music-tagger-gui"
    assert entry["Icon"] == APP_ID
    assert entry["Terminal"] == "false"


def test_metainfo_matches_desktop_entry() -> None:
    root = ET.parse(PACKAGING / f"{APP_ID}.metainfo.xml").getroot()
    assert root.findtext("id") == APP_ID
    assert root.find("launchable").text == f"{APP_ID}.desktop"
    assert root.findtext("name") == _desktop_entry()["Name"]
    binaries = {b.text for b in root.iter("binary")}
    assert binaries == {"music-tagger", "music-tagger-gui"}
    import tagger_core

    assert root.find("releases/release").get("version") == tagger_core.__version__


@pytest.mark.skipif(shutil.which("appstreamcli") is None,
                    reason="appstreamcli not installed (Debian package `appstream`)")
def test_metainfo_passes_appstreamcli_validate() -> None:
    result = subprocess.run(
        ["appstreamcli", "validate", "--no-net", str(PACKAGING / f"{APP_ID}.metainfo.xml")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "W:" not in result.stdout and "E:" not in result.stdout, result.stdout


@pytest.mark.skipif(
    shutil.which("desktop-file-validate") is None,
    reason="desktop-file-validate not installed (Debian package `desktop-file-utils`)",
)
def test_desktop_entry_passes_desktop_file_validate() -> None:
    result = subprocess.run(
        ["desktop-file-validate", str(PACKAGING / f"{APP_ID}.desktop")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


# --- the release's install and uninstall scripts, on a stand-in release ----------------------


def _stand_in_release(folder: Path) -> Path:
    """A folder laid out like dist/music-tagger, with a tiny shell program in place of ours."""
    release = folder / "music-tagger"
    (release / "share" / "applications").mkdir(parents=True)
    (release / "share" / "metainfo").mkdir(parents=True)
    shutil.copytree(PACKAGING / "icons" / "hicolor", release / "share" / "icons" / "hicolor")
    shutil.copy(PACKAGING / f"{APP_ID}.desktop", release / "share" / "applications")
    shutil.copy(PACKAGING / f"{APP_ID}.metainfo.xml", release / "share" / "metainfo")
    for script in ("install.sh", "uninstall.sh"):
        shutil.copy(PACKAGING / "release" / script, release / script)
    program = release / "music-tagger"
    program.write_text('#!/bin/sh\necho "stand-in $(basename "$0")"\n')
    program.chmod(0o755)
    (release / "music-tagger-gui").symlink_to("music-tagger")
    return release


@pytest.mark.skipif(sys.platform == "win32", reason="the release scripts are POSIX sh")
def test_install_then_uninstall_keeps_the_library(tmp_path: Path) -> None:
    release = _stand_in_release(tmp_path / "unpacked")
    prefix = tmp_path / "prefix"
    data = tmp_path / "data" / "music-archive-tagger"
    data.mkdir(parents=True)
    (data / "library.db").write_bytes(b"SQLite format 3\x00")
    env = {**os.environ, "HOME": str(tmp_path / "home"), "PREFIX": str(prefix),
           "XDG_DATA_HOME": str(tmp_path / "data")}

    subprocess.run(["sh", str(release / "install.sh")], env=env, check=True, capture_output=True)
    installed = prefix / "lib" / "music-archive-tagger"
    gui = subprocess.run([str(prefix / "bin" / "music-tagger-gui")],
                         capture_output=True, text=True, check=True)
    assert gui.stdout.strip() == "stand-in music-tagger-gui"
    entry = (prefix / "share" / "applications" / f"{APP_ID}.desktop").read_text()
    assert f"Exec={installed}/music-tagger-gui %F" in entry.splitlines()
    for size in ICON_SIZES:
        assert (prefix / "share" / "icons" / "hicolor" / f"{size}x{size}" / "apps"
                / f"{APP_ID}.png").is_file()

    env.pop("PREFIX")  # the installed uninstall.sh finds its prefix from where it lives
    subprocess.run(["sh", str(installed / "uninstall.sh")], env=env, check=True,
                   capture_output=True)
    assert not installed.exists()
    assert not (prefix / "bin" / "music-tagger").exists()
    assert not (prefix / "bin" / "music-tagger-gui").is_symlink()
    assert not list((prefix / "share").rglob(f"{APP_ID}*"))
    assert (data / "library.db").read_bytes() == b"SQLite format 3\x00"
