"""Typed errors raised by the document writers and readers.

Readers never let a library exception (lxml, zipfile, pypdf, ...) escape: they wrap it in one of these.
"""

from __future__ import annotations


class DocumentError(Exception):
    """Base class for every error raised by ``invoicing.documents``."""


class UnsafeDocument(DocumentError):  # noqa: N818 - names fixed by the public API
    """The input looks hostile: entity expansion, zip bomb, path traversal, oversize file."""


class MalformedDocument(DocumentError):  # noqa: N818
    """The input is not a well-formed document of the claimed format, or required data is missing."""


class UnsupportedDocument(DocumentError):  # noqa: N818
    """The input is well formed but not something we can read (an unknown structure, not an invoice)."""


class DocumentEnvironmentError(DocumentError):
    """The machine lacks something rendering needs (a CJK font, a system library)."""
