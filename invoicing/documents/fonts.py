"""Finding a CJK font for PDF rendering, and the environment checks rendering depends on."""

from __future__ import annotations

import ctypes.util
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from invoicing.documents.errors import DocumentEnvironmentError

# Preferred first: WenQuanYi Zen Hei (TrueType) renders much faster in WeasyPrint than Noto CJK (CFF outlines).
PREFERRED_FAMILIES = ("WenQuanYi Zen Hei", "Noto Sans CJK SC", "Noto Serif CJK SC", "Droid Sans Fallback")
INSTALL_HINT = "apt-get install fonts-wqy-zenhei"
HARFBUZZ_HINT = "apt-get install libharfbuzz-subset0"


def _fc(*args: str) -> str:
    exe = shutil.which("fc-match" if args and args[0] == "match" else "fc-list")
    if exe is None:
        return ""
    try:
        run = subprocess.run([exe, *args[1:]], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return run.stdout


@lru_cache(maxsize=1)
def find_cjk_font() -> Path:
    """Path of an installed font that covers Chinese, found through fontconfig.

    Raises ``DocumentEnvironmentError`` naming the package to install when there is none.
    """
    zh_files = [Path(line.strip()) for line in _fc("list", ":lang=zh", "--format=%{file}\n").splitlines()
                if line.strip()]
    for family in PREFERRED_FAMILIES:
        path = Path(_fc("match", f"{family}:lang=zh", "--format=%{file}").strip() or ".")
        if path in zh_files and path.is_file():
            return path
    for path in zh_files:
        if path.is_file() and path.suffix.lower() in {".ttf", ".ttc", ".otf", ".otc"}:
            return path
    raise DocumentEnvironmentError(f"no Chinese (CJK) font is installed; run: {INSTALL_HINT}")


def documents_environment_problems() -> list[str]:
    """Problems that make PDF rendering fail or become very slow; empty when all is well."""
    problems = []
    if ctypes.util.find_library("harfbuzz-subset") is None:
        problems.append(
            "libharfbuzz-subset is missing: WeasyPrint falls back to pure-Python font subsetting "
            f"(about 50x slower per invoice); run: {HARFBUZZ_HINT}"
        )
    try:
        find_cjk_font()
    except DocumentEnvironmentError as exc:
        problems.append(str(exc))
    return problems
