"""Indexes for the pool's changelist at a million records: one seller's invoices newest first (the seller filter),
and a search by the buyer's tax id (the search by number or tax id is one index look-up per field)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('invoicing', '0006_channel_tokens_and_invoice_refs'),
        ('receiving', '0003_platform_download_and_reconciliation'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='receivedinvoice',
            name='recv_seller_tax_id',
        ),
        migrations.AddIndex(
            model_name='receivedinvoice',
            index=models.Index(fields=['seller_tax_id', '-created_at', '-id'], name='recv_seller_newest'),
        ),
        migrations.AddIndex(
            model_name='receivedinvoice',
            index=models.Index(fields=['buyer_tax_id'], name='recv_buyer_tax_id'),
        ),
    ]
