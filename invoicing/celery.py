import os
from collections.abc import Mapping
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "invoicing.settings")

app = Celery("invoicing")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each app's tasks.py is loaded, so a worker knows every task that beat or a service may send it; issuing's
# tasks.py imports the tasks module of each of its sub-packages.
app.autodiscover_tasks()


def beat_schedule_add(entries: Mapping[str, Any]) -> None:
    """Put an app's periodic tasks into beat's schedule (``conf.beat_schedule``; an entry of the settings of the same
    name wins). Beat reads the schedule when its scheduler starts. The entries go in when the app is finalized, and at
    once when it is finalized already: a tasks module imported after that (as in a process that sent a task first)
    would otherwise add nothing, and its periodic tasks would never run."""

    def register(sender: Celery, **kwargs: object) -> None:
        for name, entry in entries.items():
            sender.conf.beat_schedule.setdefault(name, entry)

    app.on_after_finalize.connect(register, weak=False)
    if app.finalized:
        register(app)
