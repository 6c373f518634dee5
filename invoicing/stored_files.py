"""Handing out a stored file, after the caller's permission and entity checks.

On a file system the bytes go through the web process. In an S3 bucket (``FAPIAO_S3_BUCKET``) the answer is a
redirect to a signed URL valid for ``FAPIAO_S3_URL_SECONDS``: the bucket stays private, the web process does not
carry the bytes, and a copied link stops working soon. Either way the file keeps its download name and type.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.storage import Storage, default_storage
from django.http import FileResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header


def signs_urls(storage: Storage) -> bool:
    """Whether ``storage`` hands out files as signed URLs (S3) rather than through the web process."""
    return bool(getattr(storage, "querystring_auth", False)) and hasattr(storage, "bucket_name")


def stored_file_response(name: str, *, filename: str, content_type: str, inline: bool = False,
                         storage: Storage | None = None) -> HttpResponseBase:
    """The stored file ``name`` as a download (or shown inline). Raises FileNotFoundError when it is missing."""
    storage = storage or default_storage
    disposition = content_disposition_header(not inline, filename) or "attachment"
    if signs_urls(storage):
        if not storage.exists(name):
            raise FileNotFoundError(name)
        url = storage.url(name, parameters={  # type: ignore[call-arg]  # S3Storage.url takes these
            "ResponseContentDisposition": disposition,
            "ResponseContentType": content_type,
            "ResponseCacheControl": "private, no-store",
        }, expire=settings.S3_URL_SECONDS)
        response: HttpResponseBase = HttpResponseRedirect(url)
        response["Referrer-Policy"] = "no-referrer"  # the signature is not passed on by the browser
    else:
        response = FileResponse(storage.open(name, "rb"), as_attachment=not inline, filename=filename,
                                content_type=content_type)
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
