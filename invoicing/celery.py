import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "invoicing.settings")

app = Celery("invoicing")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each app keeps its tasks in tasks.py; issuing splits them by concern. Every module is registered here so a worker
# knows every task that beat or a service may send it, whatever else it has imported.
app.autodiscover_tasks()
app.autodiscover_tasks(related_name="tasks_red")
app.autodiscover_tasks(related_name="tasks_import")
