"""The pool's search by the last digits of an invoice number (``ReceivedInvoiceAdmin.get_search_results``): an index
on the reversed number, so that "ends with 2644" is "the reversed number starts with 4462", a range on a btree.

PostgreSQL only (``text_pattern_ops`` lets LIKE 'prefix%' use the index whatever the database's collation); SQLite,
for development, scans. Not declared in the model's Meta: Django cannot declare an operator class portably."""

from django.db import migrations

INDEX = "recv_number_reversed"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON receiving_receivedinvoice "
                              "(reverse(number) text_pattern_ops)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):

    dependencies = [
        ('receiving', '0009_customs_match_and_selection_use_state'),
    ]

    operations = [
        migrations.RunPython(create, drop),
    ]
