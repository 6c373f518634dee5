"""sandbox.SandboxAccount.secret is stored encrypted (invoicing/fields.py); existing plain values are encrypted in place."""

import invoicing.fields
from invoicing.fields import encrypt_column
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('sandbox', '0001_initial'),
    ]

    operations = [
        migrations.AlterField(
            model_name='sandboxaccount',
            name='secret',
            field=invoicing.fields.EncryptedTextField(verbose_name='密钥'),
        ),
        migrations.RunPython(*encrypt_column("sandbox.SandboxAccount", "secret")),
    ]
