"""delivery.WebhookEndpoint.secret is stored encrypted (invoicing/fields.py); existing plain values are encrypted in place."""

import delivery.models
import invoicing.fields
from invoicing.fields import encrypt_column
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('delivery', '0003_print_job'),
    ]

    operations = [
        migrations.AlterField(
            model_name='webhookendpoint',
            name='secret',
            field=invoicing.fields.EncryptedTextField(default=delivery.models._webhook_secret, help_text='留空则自动生成；保存后不再显示，需要时重新设置', verbose_name='签名密钥'),
        ),
        migrations.RunPython(*encrypt_column("delivery.WebhookEndpoint", "secret")),
    ]
