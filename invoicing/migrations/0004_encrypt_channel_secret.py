"""invoicing.Taxpayer.channel_secret is stored encrypted (invoicing/fields.py); existing plain values are encrypted in place."""

import invoicing.fields
from invoicing.fields import encrypt_column
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('invoicing', '0003_channelcall'),
    ]

    operations = [
        migrations.AlterField(
            model_name='taxpayer',
            name='channel_secret',
            field=invoicing.fields.EncryptedTextField(blank=True, verbose_name='通道密钥'),
        ),
        migrations.RunPython(*encrypt_column("invoicing.Taxpayer", "channel_secret")),
    ]
