"""The sandbox tables and fields get Chinese names, its codes (票种, 用途, 行性质) their labels: the admin and the
audit trail's 对象类型 filter show them in words."""

from decimal import Decimal

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('sandbox', '0002_encrypt_account_secret'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='ledgerline',
            options={'ordering': ['invoice_id', 'line_no'], 'verbose_name': '台账发票明细', 'verbose_name_plural': '台账发票明细'},
        ),
        migrations.AlterModelOptions(
            name='ledgerredformline',
            options={'ordering': ['form_id', 'blue_line_no'], 'verbose_name': '红字确认单明细', 'verbose_name_plural': '红字确认单明细'},
        ),
        migrations.AlterModelOptions(
            name='numbersequence',
            options={'verbose_name': '发票号码序列', 'verbose_name_plural': '发票号码序列'},
        ),
        migrations.AlterModelOptions(
            name='sandboxnonce',
            options={'verbose_name': '防重放随机串', 'verbose_name_plural': '防重放随机串'},
        ),
        migrations.AlterField(
            model_name='faultprofile',
            name='window_count',
            field=models.PositiveIntegerField(default=0, editable=False, verbose_name='窗口内请求数'),
        ),
        migrations.AlterField(
            model_name='faultprofile',
            name='window_second',
            field=models.BigIntegerField(default=0, editable=False, verbose_name='限流窗口（秒）'),
        ),
        migrations.AlterField(
            model_name='ledgerinvoice',
            name='buyer_usage',
            field=models.CharField(blank=True, choices=[('1', '勾选抵扣'), ('4', '不抵扣')], max_length=1, verbose_name='购方用途确认'),
        ),
        migrations.AlterField(
            model_name='ledgerinvoice',
            name='kind',
            field=models.CharField(choices=[('81', '数电专票'), ('82', '数电普票'), ('85', '数电纸票（专票）'), ('86', '数电纸票（普票）')], max_length=2, verbose_name='票种'),
        ),
        migrations.AlterField(
            model_name='ledgerinvoice',
            name='specific_business',
            field=models.JSONField(blank=True, default=dict, verbose_name='特定业务信息'),
        ),
        migrations.AlterField(
            model_name='ledgerline',
            name='amount',
            field=models.DecimalField(decimal_places=2, max_digits=18, verbose_name='金额（不含税）'),
        ),
        migrations.AlterField(
            model_name='ledgerline',
            name='invoice',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='lines', to='sandbox.ledgerinvoice', verbose_name='台账发票'),
        ),
        migrations.AlterField(
            model_name='ledgerline',
            name='item_name',
            field=models.CharField(max_length=300, verbose_name='项目名称'),
        ),
        migrations.AlterField(
            model_name='ledgerline',
            name='line_no',
            field=models.PositiveIntegerField(verbose_name='行号'),
        ),
        migrations.AlterField(
            model_name='ledgerline',
            name='line_property',
            field=models.PositiveSmallIntegerField(choices=[(0, '正常行'), (1, '折扣行'), (2, '被折扣行')], default=0, verbose_name='发票行性质'),
        ),
        migrations.AlterField(
            model_name='ledgerline',
            name='quantity',
            field=models.DecimalField(blank=True, decimal_places=13, max_digits=25, null=True, verbose_name='数量'),
        ),
        migrations.AlterField(
            model_name='ledgerline',
            name='red_amount',
            field=models.DecimalField(decimal_places=2, default=Decimal('0.00'), max_digits=18, verbose_name='已红冲金额'),
        ),
        migrations.AlterField(
            model_name='ledgerline',
            name='short_name',
            field=models.CharField(blank=True, max_length=120, verbose_name='商品服务简称'),
        ),
        migrations.AlterField(
            model_name='ledgerline',
            name='spec',
            field=models.CharField(blank=True, max_length=150, verbose_name='规格型号'),
        ),
        migrations.AlterField(
            model_name='ledgerline',
            name='tax',
            field=models.DecimalField(decimal_places=2, max_digits=18, verbose_name='税额'),
        ),
        migrations.AlterField(
            model_name='ledgerline',
            name='tax_code',
            field=models.CharField(max_length=19, verbose_name='税收分类编码'),
        ),
        migrations.AlterField(
            model_name='ledgerline',
            name='tax_rate',
            field=models.DecimalField(decimal_places=4, max_digits=7, verbose_name='税率/征收率'),
        ),
        migrations.AlterField(
            model_name='ledgerline',
            name='unit',
            field=models.CharField(blank=True, max_length=30, verbose_name='单位'),
        ),
        migrations.AlterField(
            model_name='ledgerline',
            name='unit_price',
            field=models.DecimalField(blank=True, decimal_places=13, max_digits=25, null=True, verbose_name='单价（不含税）'),
        ),
        migrations.AlterField(
            model_name='ledgerredform',
            name='uuid',
            field=models.CharField(max_length=32, unique=True, verbose_name='确认单UUID'),
        ),
        migrations.AlterField(
            model_name='ledgerredformline',
            name='amount',
            field=models.DecimalField(decimal_places=2, max_digits=18, verbose_name='金额（不含税）'),
        ),
        migrations.AlterField(
            model_name='ledgerredformline',
            name='blue_line_no',
            field=models.PositiveIntegerField(verbose_name='蓝字发票行号'),
        ),
        migrations.AlterField(
            model_name='ledgerredformline',
            name='form',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='lines', to='sandbox.ledgerredform', verbose_name='红字确认单'),
        ),
        migrations.AlterField(
            model_name='ledgerredformline',
            name='item_name',
            field=models.CharField(max_length=300, verbose_name='项目名称'),
        ),
        migrations.AlterField(
            model_name='ledgerredformline',
            name='quantity',
            field=models.DecimalField(blank=True, decimal_places=13, max_digits=25, null=True, verbose_name='数量'),
        ),
        migrations.AlterField(
            model_name='ledgerredformline',
            name='tax',
            field=models.DecimalField(decimal_places=2, max_digits=18, verbose_name='税额'),
        ),
        migrations.AlterField(
            model_name='ledgerredformline',
            name='tax_code',
            field=models.CharField(max_length=19, verbose_name='税收分类编码'),
        ),
        migrations.AlterField(
            model_name='ledgerredformline',
            name='tax_rate',
            field=models.DecimalField(decimal_places=4, max_digits=7, verbose_name='税率/征收率'),
        ),
        migrations.AlterField(
            model_name='ledgerredformline',
            name='unit_price',
            field=models.DecimalField(blank=True, decimal_places=13, max_digits=25, null=True, verbose_name='单价（不含税）'),
        ),
        migrations.AlterField(
            model_name='ledgerselection',
            name='account',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='selections', to='sandbox.sandboxaccount', verbose_name='账户'),
        ),
        migrations.AlterField(
            model_name='ledgerselection',
            name='created_at',
            field=models.DateTimeField(auto_now_add=True, verbose_name='勾选时间'),
        ),
        migrations.AlterField(
            model_name='ledgerselection',
            name='effective_tax',
            field=models.DecimalField(decimal_places=2, max_digits=18, verbose_name='有效抵扣税额'),
        ),
        migrations.AlterField(
            model_name='ledgerselection',
            name='invoice',
            field=models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='selection', to='sandbox.ledgerinvoice', verbose_name='台账发票'),
        ),
        migrations.AlterField(
            model_name='ledgerselection',
            name='period',
            field=models.CharField(max_length=6, verbose_name='所属期'),
        ),
        migrations.AlterField(
            model_name='ledgerselection',
            name='purpose',
            field=models.CharField(default='1', max_length=1, verbose_name='用途'),
        ),
        migrations.AlterField(
            model_name='ledgerselection',
            name='reason',
            field=models.CharField(blank=True, max_length=2, verbose_name='不抵扣原因'),
        ),
        migrations.AlterField(
            model_name='ledgerstatistics',
            name='account',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='statistics', to='sandbox.sandboxaccount', verbose_name='账户'),
        ),
        migrations.AlterField(
            model_name='ledgerstatistics',
            name='amount',
            field=models.DecimalField(decimal_places=2, default=Decimal('0.00'), max_digits=18, verbose_name='抵扣金额'),
        ),
        migrations.AlterField(
            model_name='ledgerstatistics',
            name='count',
            field=models.PositiveIntegerField(default=0, verbose_name='抵扣份数'),
        ),
        migrations.AlterField(
            model_name='ledgerstatistics',
            name='not_deducted_count',
            field=models.PositiveIntegerField(default=0, verbose_name='其他用途份数'),
        ),
        migrations.AlterField(
            model_name='ledgerstatistics',
            name='period',
            field=models.CharField(max_length=6, verbose_name='所属期'),
        ),
        migrations.AlterField(
            model_name='ledgerstatistics',
            name='status',
            field=models.CharField(max_length=10, verbose_name='状态'),
        ),
        migrations.AlterField(
            model_name='ledgerstatistics',
            name='tax',
            field=models.DecimalField(decimal_places=2, default=Decimal('0.00'), max_digits=18, verbose_name='抵扣税额'),
        ),
        migrations.AlterField(
            model_name='ledgerstatistics',
            name='updated_at',
            field=models.DateTimeField(auto_now=True, verbose_name='更新时间'),
        ),
        migrations.AlterField(
            model_name='numbersequence',
            name='last',
            field=models.BigIntegerField(default=0, verbose_name='已用到的序号'),
        ),
        migrations.AlterField(
            model_name='numbersequence',
            name='prefix',
            field=models.CharField(max_length=8, unique=True, verbose_name='号码前缀'),
        ),
        migrations.AlterField(
            model_name='sandboxnonce',
            name='account',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='sandbox.sandboxaccount', verbose_name='账户'),
        ),
        migrations.AlterField(
            model_name='sandboxnonce',
            name='created_at',
            field=models.DateTimeField(auto_now_add=True, db_index=True, verbose_name='收到时间'),
        ),
        migrations.AlterField(
            model_name='sandboxnonce',
            name='nonce',
            field=models.CharField(max_length=64, verbose_name='随机串'),
        ),
    ]
