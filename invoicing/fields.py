"""Secrets at rest: a text field stored encrypted with Fernet under keys from the environment.

``EncryptedTextField`` keeps values the application must read back in clear (a channel's signing secret, a webhook
endpoint's signing secret, an API client's HMAC secret, later a mailbox password) encrypted in the database with
``cryptography``'s MultiFernet over ``settings.FIELD_ENCRYPTION_KEYS``: the first key encrypts, every key decrypts,
so keys rotate without downtime (put the new key first, run ``manage.py reencrypt_fields``, then drop the old key).

Stored values carry the ``enc1:`` prefix; an unprefixed value is a legacy plain-text row (before the data migration
ran) and is read as is and encrypted on its next save or by ``reencrypt_fields``.

- Lookups: none but ``isnull`` (ciphertexts are randomised, so ``exact``, ``regex``… cannot work and must not be
  tried); the admin's lookup guard also treats every encrypted field as unreadable.
- Forms: write-only. The widget never renders the value; a blank submission keeps the stored secret.
- Display: ``masked(value)`` is what any page, log or API shows.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django import forms
from django.apps import apps as installed_apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models, router
from django.db.models.expressions import Combinable
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django.apps.registry import Apps
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.backends.base.schema import BaseDatabaseSchemaEditor
    from django.db.models.lookups import Lookup, Transform

    MigrationFunction = Callable[[Apps, BaseDatabaseSchemaEditor], None]

PREFIX = "enc1:"
MASK = "******"


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is not set: encrypted fields cannot be read or written")
    try:
        return MultiFernet([Fernet(key.encode("ascii")) for key in keys])
    except (ValueError, UnicodeEncodeError) as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key (32 url-safe base64-encoded bytes; "
            "make one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        ) from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plain: str) -> str:
    return PREFIX + fernet().encrypt(plain.encode("utf-8")).decode("ascii")


def decrypt(stored: str) -> str:
    if not stored.startswith(PREFIX):
        return stored  # legacy plain text, encrypted on its next save
    try:
        return fernet().decrypt(stored[len(PREFIX):].encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "An encrypted value cannot be decrypted with any key in FIELD_ENCRYPTION_KEYS (a key was dropped too early?)"
        ) from exc


def is_encrypted_with_newest_key(stored: str) -> bool:
    """Whether ``stored`` is a ciphertext made with the first key (``reencrypt_fields`` leaves those alone)."""
    if not stored or not stored.startswith(PREFIX):
        return not stored
    newest = Fernet(settings.FIELD_ENCRYPTION_KEYS[0].encode("ascii"))
    try:
        newest.decrypt(stored[len(PREFIX):].encode("ascii"))
    except InvalidToken:
        return False
    return True


def masked(value: str | None) -> str:
    """What every page, log and API response shows of a secret: whether it is set, never any of its characters."""
    return MASK if value else ""


class SecretInput(forms.PasswordInput):
    """A password-style input that never renders the stored value; says whether one is set."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs={"autocomplete": "new-password", **(attrs or {})}, render_value=False)

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        if value:
            context["widget"]["attrs"]["placeholder"] = str(_("已设置（留空则不变）"))
        return context


class SecretFormField(forms.CharField):
    widget = SecretInput

    def __init__(self, **kwargs: Any) -> None:
        kwargs["required"] = False  # blank means "keep the stored secret"
        kwargs.setdefault("strip", True)
        super().__init__(**kwargs)

    def has_changed(self, initial: Any | None, data: Any | None) -> bool:
        return bool(data)


class EncryptedTextField(models.TextField[str | Combinable, str]):
    """A text value encrypted at rest (see the module docstring). ``""`` is stored as is (nothing to hide)."""

    description = _("加密文本")

    def from_db_value(self, value: str | None, expression: object, connection: BaseDatabaseWrapper) -> str | None:
        if value is None or value == "":
            return value
        return decrypt(value)

    def to_python(self, value: object) -> str | None:
        if value is None or isinstance(value, str):
            return value
        return str(value)

    def get_prep_value(self, value: object) -> str | None:
        prepared: str | None = super().get_prep_value(value)  # through to_python above: a str or None
        if prepared is None or prepared == "":
            return prepared
        return encrypt(prepared)

    def get_lookup(self, lookup_name: str) -> type[Lookup[Any]] | None:
        return super().get_lookup(lookup_name) if lookup_name == "isnull" else None

    def get_transform(self, lookup_name: str) -> type[Transform] | None:
        return None

    def value_to_string(self, obj: models.Model) -> str:
        return masked(self.value_from_object(obj))

    def formfield(self, **kwargs: Any) -> forms.Field | None:
        # Forced, also over the admin's TextField widget: the form never shows the value.
        # No hidden "initial" input either (Django adds one for callable defaults: it would carry the value).
        field = super().formfield(**{**kwargs, "form_class": SecretFormField, "widget": SecretInput})
        if field is not None:  # always, with a form_class; the base may answer None for fields without a form
            field.show_hidden_initial = False
            field.initial = None
        return field

    def save_form_data(self, instance: models.Model, data: Any) -> None:
        if data:  # blank keeps the stored secret
            setattr(instance, self.name, data)


def _rewrite_column(connection: BaseDatabaseWrapper, model: type[models.Model], field_name: str,
                    transform: Callable[[str], str]) -> int:
    """Rewrite one column's non-empty values with ``transform`` in raw SQL (independent of the field's own hooks)."""
    quote = connection.ops.quote_name
    field, pk_field = model._meta.get_field(field_name), model._meta.pk
    if not isinstance(field, models.Field) or not field.column or pk_field is None or not pk_field.column:
        raise ValueError(f"{model._meta.label}.{field_name} is not a column of a table with a primary key")
    table, column = quote(model._meta.db_table), quote(field.column)
    pk = quote(pk_field.column)
    changed = 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {pk}, {column} FROM {table} WHERE {column} IS NOT NULL AND {column} <> ''")  # noqa: S608
        for row_id, value in cursor.fetchall():
            new = transform(value)
            if new != value:
                cursor.execute(f"UPDATE {table} SET {column} = %s WHERE {pk} = %s", [new, row_id])  # noqa: S608
                changed += 1
    return changed


def encrypt_column(label: str, field_name: str) -> tuple[MigrationFunction, MigrationFunction]:
    """A RunPython pair for a data migration: encrypt a column's plain values; decrypt them back on reverse."""

    def forward(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        _rewrite_column(schema_editor.connection, apps.get_model(label), field_name,
                        lambda value: value if value.startswith(PREFIX) else encrypt(value))

    def backward(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        _rewrite_column(schema_editor.connection, apps.get_model(label), field_name, decrypt)

    return forward, backward


def reencrypt_column(model: type[models.Model], field_name: str) -> int:
    """Rewrite ``model.field_name`` with the newest key (and encrypt legacy plain values); returns rows changed."""
    def rotate(value: str) -> str:
        if not value.startswith(PREFIX):
            return encrypt(value)
        if is_encrypted_with_newest_key(value):
            return value
        return PREFIX + fernet().rotate(value[len(PREFIX):].encode("ascii")).decode("ascii")

    return _rewrite_column(connections[router.db_for_write(model)], model, field_name, rotate)


def encrypted_fields() -> list[tuple[type[models.Model], str]]:
    """Every (model, field name) stored with ``EncryptedTextField`` in the installed apps."""
    return [(model, field.name) for model in installed_apps.get_models() for field in model._meta.concrete_fields
            if isinstance(field, EncryptedTextField)]
