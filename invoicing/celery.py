import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "invoicing.settings")

app = Celery("invoicing")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each app's tasks.py is loaded, so a worker knows every task that beat or a service may send it; issuing's
# tasks.py imports the tasks module of each of its sub-packages.
app.autodiscover_tasks()
