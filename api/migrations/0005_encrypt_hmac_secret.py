"""api.ApiClient.hmac_secret is stored encrypted (invoicing/fields.py); existing plain values are encrypted in place."""

import invoicing.fields
from invoicing.fields import encrypt_column
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('api', '0004_hmac_nonce_client_delivery'),
    ]

    operations = [
        migrations.AlterField(
            model_name='apiclient',
            name='hmac_secret',
            field=invoicing.fields.EncryptedTextField(editable=False, verbose_name='HMAC 密钥'),
        ),
        migrations.RunPython(*encrypt_column("api.ApiClient", "hmac_secret")),
    ]
