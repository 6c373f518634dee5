"""A file-system storage whose ``save`` replaces a file of the same name whole: the ``jobs`` storage in development.

Job records are saved again at every step of a job while a page polls them: a reader must see the old record or the
new one, never half of one. The bytes go to a temporary file beside the target, then ``os.replace`` moves it into
place. (On S3 one PUT replaces an object whole: ``file_overwrite`` does the same there.)
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from django.core.files.base import File
from django.core.files.storage import FileSystemStorage
from django.core.files.utils import validate_file_name


class ReplacingFileSystemStorage(FileSystemStorage):
    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        validate_file_name(name, allow_relative_path=True)
        return name

    def _save(self, name: str, content: File[Any]) -> str:
        full_path = self.path(name)
        folder = os.path.dirname(full_path)
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".job-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                if hasattr(content, "seek"):
                    content.seek(0)
                for chunk in content.chunks():
                    fh.write(chunk)
            if self.file_permissions_mode is not None:
                os.chmod(tmp, self.file_permissions_mode)
            os.replace(tmp, full_path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return str(name).replace("\\", "/")
