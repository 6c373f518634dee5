from django.db import migrations


def create_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ("客服", "财务", "系统管理员"):
        Group.objects.get_or_create(name=name)


def load_catalogue(apps, schema_editor):
    from invoicing.catalogue import load_catalogue as load

    load(apps.get_model("invoicing", "TaxCategory"))


class Migration(migrations.Migration):
    dependencies = [
        ("invoicing", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(create_roles, migrations.RunPython.noop),
        migrations.RunPython(load_catalogue, migrations.RunPython.noop),
    ]
