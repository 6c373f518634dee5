"""System checks for what the product needs from the machine."""

from __future__ import annotations

from django.core.checks import Error, register


@register("fapiao")
def documents_environment(app_configs, **kwargs):
    try:
        from invoicing.documents.pdf import documents_environment_problems
    except ImportError:  # the documents package is optional at import time for pure kernel tools
        return []
    return [
        Error(problem, id="fapiao.E001", hint="make run installs them: sudo apt-get install libharfbuzz-subset0 fonts-wqy-zenhei")
        for problem in documents_environment_problems()
    ]
