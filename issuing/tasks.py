"""Issuing's Celery tasks, one module per sub-package; the worker's autodiscovery loads this module."""

from issuing.intake import tasks as intake_tasks
from issuing.platform import tasks as platform_tasks
from issuing.redletter import tasks as redletter_tasks
from issuing.reports import tasks as reports_tasks

__all__ = ["intake_tasks", "platform_tasks", "redletter_tasks", "reports_tasks"]
