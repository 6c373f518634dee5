"""Importing billing documents with their lines from .xlsx and .csv files.

One validator (``validate.py``) serves both paths: the admin's django-import-export flow for small files
(``issuing/resources.py``) and the fast path for large ones (``run.py``: calamine reading, set-based checks, bulk
inserts in one transaction), used by the Celery task and ``manage.py import_billing``.
"""
