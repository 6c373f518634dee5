"""Files, folders and ZIP archives into single items, within limits, before any reader sees them.

An upload (many files, or a ZIP of them) holds at most ``RECEIVING_MAX_UPLOAD_FILES`` files (500) and
``RECEIVING_MAX_UPLOAD_BYTES`` bytes (200 MB) once expanded: ``measure`` counts both from the files' sizes and the
archives' directories without reading a byte of content, so an oversize upload is refused before it is queued.

``entries`` then yields one ``Entry`` per file: its display name (``archive.zip/folder/a.pdf``) and bytes, or the
rule that refused it:

- an archive that is not readable, or is encrypted;
- an archive member with an absolute or ``..`` path, a member larger than a single file may be, or one whose
  compression ratio is that of a zip bomb;
- a ZIP inside a ZIP (an OFD is a ZIP too: it is recognised by its ``OFD.xml`` and passed on as a file);
- a file over ``RECEIVING_MAX_FILE_BYTES`` (20 MB), refused from its size alone.

Member names of archives made on Chinese Windows are GBK without the UTF-8 flag; they are decoded as such.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext

logger = logging.getLogger(__name__)

MAX_RATIO = 200  # uncompressed / compressed, for members above 1 MB (the OFD reader's own guard)
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


@dataclass(frozen=True)
class Limits:
    max_files: int
    max_bytes: int
    max_file_bytes: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(max_files=int(settings.RECEIVING_MAX_UPLOAD_FILES),
                   max_bytes=int(settings.RECEIVING_MAX_UPLOAD_BYTES),
                   max_file_bytes=int(settings.RECEIVING_MAX_FILE_BYTES))


@dataclass(frozen=True)
class Entry:
    name: str
    data: bytes | None = None
    rule: str = ""
    reason: str = ""

    @property
    def refused(self) -> bool:
        return self.data is None


@dataclass(frozen=True)
class Measure:
    files: int
    bytes: int

    def problem(self, limits: Limits) -> str:
        """Why this much is over the limits, or ""."""
        if self.files > limits.max_files:
            return gettext("共 %(n)d 个文件，超过一次最多 %(max)d 个的限制") % {"n": self.files, "max": limits.max_files}
        if self.bytes > limits.max_bytes:
            return gettext("展开后共 %(mb)s MB，超过一次最多 %(max)s MB 的限制") % {
                "mb": _mb(self.bytes), "max": _mb(limits.max_bytes)}
        return ""


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f}".rstrip("0").rstrip(".")


def _is_zip(head: bytes) -> bool:
    return head.startswith(ZIP_MAGIC)


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(4)


def member_name(info: zipfile.ZipInfo) -> str:
    """The member's name as its author typed it: GBK when the archive does not say UTF-8."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            name = name.encode("cp437").decode("gbk")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name.replace("\\", "/")


def _is_ofd(zf: zipfile.ZipFile) -> bool:
    return any(n.replace("\\", "/").lower() == "ofd.xml" for n in zf.namelist())


def _files(paths: Sequence[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        else:
            yield path


def measure(paths: Sequence[Path]) -> Measure:
    """How many files and bytes ``paths`` hold once expanded (archives by their directory; nested archives count as
    one file: they are refused, not expanded)."""
    files = total = 0
    for path in _files(paths):
        size = path.stat().st_size
        if size >= 4 and _is_zip(_head(path)):
            try:
                with zipfile.ZipFile(path) as zf:
                    if not _is_ofd(zf):
                        members = [i for i in zf.infolist() if not i.is_dir()]
                        files += len(members)
                        total += sum(i.file_size for i in members)
                        continue
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
                pass  # counted as one file: entries() says why it cannot be opened
        files += 1
        total += size
    return Measure(files, total)


def _refuse(name: str, rule: str, reason: str) -> Entry:
    return Entry(name=name, rule=rule, reason=reason)


def entries(paths: Sequence[Path], *, limits: Limits, names: Sequence[str] | None = None) -> Iterator[Entry]:
    """One entry per file in ``paths`` (folders walked, archives expanded). ``names``: how to show each of ``paths``
    (an upload's original file names), else the path as given."""
    shown = list(names) if names is not None else [str(p) for p in paths]
    for path, display in zip(paths, shown, strict=True):
        if path.is_dir():
            for child in _files([path]):
                yield from _entries_of_file(child, f"{display.rstrip('/')}/{child.relative_to(path)}", limits)
        else:
            yield from _entries_of_file(path, display, limits)


def _entries_of_file(path: Path, display: str, limits: Limits) -> Iterator[Entry]:
    size = path.stat().st_size
    is_zip = size >= 4 and _is_zip(_head(path))
    if is_zip:
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            if display.lower().endswith(".zip"):
                logger.info("archive %r cannot be opened: %s", display, exc)
                yield _refuse(display, "bad_archive", gettext("压缩包已损坏，无法打开，请重新打包后上传"))
                return
            is_zip = False  # a damaged OFD, say: the reader explains
        else:
            with zf:
                if not _is_ofd(zf):
                    yield from _members(zf, display, limits)
                    return
    if size > limits.max_file_bytes:
        yield _refuse(display, "oversize", gettext("文件 %(size)s 字节，超过单个文件上限 %(limit)s 字节") % {
            "size": size, "limit": limits.max_file_bytes})
        return
    yield Entry(name=display, data=path.read_bytes())


def _members(zf: zipfile.ZipFile, display: str, limits: Limits) -> Iterator[Entry]:
    members = [i for i in zf.infolist() if not i.is_dir()]
    measured = Measure(len(members), sum(i.file_size for i in members))
    problem = measured.problem(limits)
    if problem:
        yield _refuse(display, "archive_over_limit", gettext("压缩包未展开：%(why)s") % {"why": problem})
        return
    for info in members:
        name = member_name(info)
        shown = f"{display}/{name}"
        parts = name.split("/")
        if name.startswith("/") or (len(name) > 1 and name[1] == ":") or ".." in parts:
            yield _refuse(shown, "unsafe_name", gettext("压缩包内的路径不安全（绝对路径或 ..），未读取"))
            continue
        if parts[-1].startswith(".") or name.startswith("__MACOSX/"):
            continue  # the archiver's own files (.DS_Store, resource forks)
        if info.flag_bits & 0x1:
            yield _refuse(shown, "encrypted_archive", gettext("压缩包内的文件已加密，无法读取"))
            continue
        if info.file_size > limits.max_file_bytes:
            yield _refuse(shown, "oversize", gettext("文件 %(size)s 字节，超过单个文件上限 %(limit)s 字节") % {
                "size": info.file_size, "limit": limits.max_file_bytes})
            continue
        if info.file_size > 1024 * 1024 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            yield _refuse(shown, "zip_bomb", gettext("压缩比异常（疑似压缩炸弹），未读取"))
            continue
        try:
            with zf.open(info) as fh:
                data = fh.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
            logger.info("archive member %r cannot be read: %s", shown, exc)
            yield _refuse(shown, "bad_archive", gettext("压缩包内的文件无法读取（压缩包可能已损坏），请解压后单独上传"))
            continue
        if len(data) > info.file_size:
            yield _refuse(shown, "zip_bomb", gettext("文件比压缩包声明的更大，未读取"))
            continue
        if len(data) >= 4 and _is_zip(data[:4]) and not _member_is_ofd(data):
            yield _refuse(shown, "zip_in_zip", gettext("压缩包里的压缩包不展开，请解压后上传"))
            continue
        yield Entry(name=shown, data=data)


def _member_is_ofd(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as inner:
            return _is_ofd(inner)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return False
