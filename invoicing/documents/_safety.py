"""Hardened parsing helpers: XML without DTDs or entities, ZIP packages with bomb and traversal guards."""

from __future__ import annotations

import io
import posixpath
import zipfile
import zlib

from lxml import etree

from invoicing.documents.errors import MalformedDocument, UnsafeDocument

MAX_XML_BYTES = 16 * 1024 * 1024

# ZIP (OFD) limits. Real invoice OFDs are 30-350 KB with 10-40 entries.
MAX_ZIP_BYTES = 20 * 1024 * 1024
MAX_ZIP_ENTRIES = 2000
MAX_ZIP_TOTAL_UNCOMPRESSED = 100 * 1024 * 1024
MAX_ZIP_ENTRY_UNCOMPRESSED = 50 * 1024 * 1024
MAX_ZIP_RATIO = 200  # uncompressed / compressed, per entry (only checked above 1 MB uncompressed)

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)


def parse_xml(data: bytes, *, what: str = "XML") -> etree._Element:
    """Parse untrusted XML. Any DOCTYPE (hence any entity declaration) is refused as unsafe."""
    if not isinstance(data, (bytes, bytearray)):
        raise MalformedDocument(f"{what}: expected bytes")
    if len(data) > MAX_XML_BYTES:
        raise UnsafeDocument(f"{what}: {len(data)} bytes is over the {MAX_XML_BYTES} byte limit")
    head = bytes(data[:4096]).lower()
    if b"<!doctype" in head or b"<!entity" in head:
        raise UnsafeDocument(f"{what}: DTDs and entity declarations are not accepted")
    try:
        root = etree.fromstring(bytes(data), parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise MalformedDocument(f"{what}: not well-formed XML ({exc})") from exc
    except (ValueError, etree.LxmlError) as exc:
        raise MalformedDocument(f"{what}: cannot parse ({exc})") from exc
    if root is None:
        raise MalformedDocument(f"{what}: empty document")
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None or docinfo.doctype:
        raise UnsafeDocument(f"{what}: DTDs and entity declarations are not accepted")
    for node in root.iter(etree.Entity):
        name = node.name if isinstance(node, etree._Entity) else ""  # always one: the stubs type iter() as elements
        raise UnsafeDocument(f"{what}: entity reference &{name}; is not accepted")
    return root


def local(el: etree._Element) -> str:
    """Local name of an element, '' for comments and processing instructions."""
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


class SafeZip:
    """Read-only view of an untrusted ZIP with size, count, ratio and path checks done up front."""

    def __init__(self, data: bytes, *, what: str = "package") -> None:
        self.what = what
        if len(data) > MAX_ZIP_BYTES:
            raise UnsafeDocument(f"{what}: {len(data)} bytes is over the {MAX_ZIP_BYTES} byte limit")
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            raise MalformedDocument(f"{what}: not a ZIP container ({exc})") from exc
        if len(infos) > MAX_ZIP_ENTRIES:
            raise UnsafeDocument(f"{what}: {len(infos)} entries is over the {MAX_ZIP_ENTRIES} limit")
        total = 0
        self._names: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = info.filename.replace("\\", "/")
            if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
                raise UnsafeDocument(f"{what}: absolute path {info.filename!r}")
            if ".." in name.split("/"):
                raise UnsafeDocument(f"{what}: path traversal in {info.filename!r}")
            if info.file_size > MAX_ZIP_ENTRY_UNCOMPRESSED:
                raise UnsafeDocument(f"{what}: entry {info.filename!r} is too large")
            if info.file_size > 1024 * 1024 and info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1):
                raise UnsafeDocument(f"{what}: entry {info.filename!r} has a suspicious compression ratio")
            total += info.file_size
            if total > MAX_ZIP_TOTAL_UNCOMPRESSED:
                raise UnsafeDocument(f"{what}: uncompressed size is over {MAX_ZIP_TOTAL_UNCOMPRESSED} bytes")
            if not name.endswith("/"):
                self._names[name] = info
        self._lower = {n.lower(): n for n in self._names}

    def names(self) -> list[str]:
        return list(self._names)

    def resolve(self, path: str, base: str = "") -> str | None:
        """Resolve a package path (absolute from the root, or relative to ``base``); case-insensitive fallback."""
        path = (path or "").strip().replace("\\", "/")
        if not path:
            return None
        joined = path.lstrip("/") if path.startswith("/") else posixpath.join(base, path)
        norm = posixpath.normpath(joined)
        if norm.startswith("../") or norm == "..":
            raise UnsafeDocument(f"{self.what}: reference {path!r} escapes the package")
        if norm in self._names:
            return norm
        return self._lower.get(norm.lower())

    def read(self, name: str) -> bytes:
        info = self._names[name]
        try:
            with self._zip.open(info) as fh:
                data = fh.read(info.file_size + 1)
        except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError, NotImplementedError) as exc:
            raise MalformedDocument(f"{self.what}: cannot read {name!r} ({exc})") from exc
        if len(data) > info.file_size:
            raise UnsafeDocument(f"{self.what}: entry {name!r} is larger than declared")
        return data

    def read_xml(self, name: str) -> etree._Element:
        return parse_xml(self.read(name), what=f"{self.what}:{name}")
