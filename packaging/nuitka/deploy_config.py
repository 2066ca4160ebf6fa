"""The input of ``pyside6-deploy`` for the Nuitka build of the tray app (build.sh beside this).

Stages the package as the PyInstaller build does, writes a launcher beside it and a
``pysidedeploy.spec`` whose Nuitka options leave out what the PyInstaller bundle leaves out
(the same lists, from packaging/pyinstaller/bundle.py), so the two bundles are comparable.
"""

from __future__ import annotations

import argparse
import configparser
import sys
from importlib.resources import files
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pyinstaller"))
import bundle

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = "from notifier.main import main\n\nraise SystemExit(main())\n"
# Qt plugins Nuitka's PySide6 plugin would add that the PyInstaller bundle drops too
# (bundle.DROPPED_PLUGINS: TLS backends, the GTK 3 theme with its GTK libraries, and so on).
DROPPED_QT_PLUGINS = ("tls", "egldeviceintegrations", "generic", "networkinformation")


def pinned_nuitka_version() -> str:
    """The Nuitka version this PySide6's pyside6-deploy is tested with (its default.spec)."""
    spec = configparser.ConfigParser()
    # Read as a file: importing deploy_lib needs pyside6-deploy's own sys.path.
    spec.read_string(files("PySide6").joinpath("scripts/deploy_lib/default.spec").read_text())
    for package in spec["python"]["packages"].split(","):
        name, _, version = package.strip().partition("==")
        if name.lower() == "nuitka":
            return version
    raise SystemExit("pyside6-deploy pins no Nuitka version")


def nuitka_options(jobs: int) -> list[str]:
    excluded = [*bundle.app_excludes("linux")]
    return [
        "--noinclude-qt-translations",  # the app installs no QTranslator
        f"--jobs={jobs}",
        # Not "notifier": the package's data files go to a folder of that name beside it.
        f"--output-filename={bundle.APP_NAME}.bin",
        f"--nofollow-import-to={','.join(excluded)}",
        f"--noinclude-qt-plugins={','.join(DROPPED_QT_PLUGINS)}",
        # Imported by name only (importlib.resources), with the icons as data.
        *(f"--include-module={name}" for name in bundle.APP_HIDDEN_IMPORTS),
        *(f"--include-package-data={name}" for name in bundle.APP_HIDDEN_IMPORTS),
    ]


def write_stage(work: Path, jobs: int) -> Path:
    stage = bundle.stage_sources(ROOT, work / "src")
    launcher = stage / "launcher.py"
    launcher.write_text(LAUNCHER)
    spec = configparser.ConfigParser()
    spec["app"] = {
        "title": bundle.APP_NAME,
        "project_dir": str(stage),
        "input_file": str(launcher),
        "exec_directory": str(work / "out"),
    }
    spec["python"] = {"packages": f"Nuitka=={pinned_nuitka_version()}"}
    spec["qt"] = {"qml_files": "", "excluded_qml_plugins": "", "modules": "", "plugins": ""}
    spec["nuitka"] = {
        "macos.permissions": "",
        "mode": "standalone",
        "extra_args": " ".join(nuitka_options(jobs)),
    }
    target = work / "pysidedeploy.spec"
    with target.open("w") as out:
        spec.write(out)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nuitka-version", action="store_true", help="print it and stop")
    parser.add_argument("--stage", type=Path, help="the build folder")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    if args.nuitka_version:
        print(pinned_nuitka_version())
    elif args.stage is not None:
        print(write_stage(args.stage, args.jobs))
    else:
        parser.error("give --nuitka-version or --stage")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
