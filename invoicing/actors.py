"""Who acts in a service call: a signed-in user, or a named part of the system.

Every service takes ``actor: Actor``. A user is checked against their permissions and entities and is recorded on
the event by foreign key; a ``SystemActor`` (the importer run on the server, the reconciliation task, beat) is
trusted and is recorded under its name. ``None`` is the same as ``SYSTEM``: the system, unnamed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.utils.translation import pgettext_lazy

if TYPE_CHECKING:
    from django.contrib.auth.models import User  # the user model (AUTH_USER_MODEL is not swapped)


@dataclass(frozen=True)
class SystemActor:
    """A part of the system acting on its own. ``name`` is a key of ``ACTOR_LABELS`` (shown in the audit trail in
    the reader's language) or a plain name shown as it is."""

    name: str

    is_authenticated = False

    def __str__(self) -> str:
        return self.name


SYSTEM = SystemActor("system")
RECONCILE = SystemActor("reconcile")

# The system actors' names in words, for the audit trail.
ACTOR_LABELS = {
    SYSTEM.name: pgettext_lazy("actor", "系统"),
    RECONCILE.name: pgettext_lazy("actor", "对账任务"),
    "cli": pgettext_lazy("actor", "命令行"),
    "demo": pgettext_lazy("actor", "演示数据"),
    "platform": pgettext_lazy("actor", "税务平台"),  # what the tax platform decided (入账, red-letter forms)
    "mailbox": pgettext_lazy("actor", "邮箱收取"),
    "platform_download": pgettext_lazy("actor", "平台下载"),
    "rules": pgettext_lazy("actor", "收票规则"),
    "verification": pgettext_lazy("actor", "查验任务"),
}

Actor: TypeAlias = AbstractBaseUser | SystemActor | None


def is_system(actor: Actor) -> bool:
    """True for the system (``None`` or a ``SystemActor``): no permission or entity check applies."""
    return actor is None or isinstance(actor, SystemActor)


def actor_user(actor: Actor) -> User | None:
    """The actor as a user row for a foreign key, or None (the system, an API client principal)."""
    return actor if isinstance(actor, get_user_model()) else None


def actor_label_words(label: str) -> str:
    """An event's ``actor_label`` in words: a system actor's label, or the name as it was recorded."""
    known = ACTOR_LABELS.get(label)
    return str(known) if known is not None else label


def actor_label(actor: Actor) -> str:
    """How the audit trail names a non-user actor: "" for a user (the event's foreign key names them)."""
    if actor is None:
        return SYSTEM.name
    if isinstance(actor, SystemActor):
        return actor.name
    return "" if getattr(actor, "is_authenticated", False) else str(actor)
