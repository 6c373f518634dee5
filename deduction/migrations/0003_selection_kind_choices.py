"""A selection's 票种 has the received kinds as its choices, so the admin shows it in words (数电专票, not 81)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('deduction', '0002_period_snapshot_totals'),
    ]

    operations = [
        migrations.AlterField(
            model_name='selection',
            name='kind',
            field=models.CharField(choices=[('81', '数电专票'), ('82', '数电普票'), ('85', '数电纸票（专票）'), ('86', '数电纸票（普票）'), ('51', '铁路电子客票'), ('61', '航空运输电子客票行程单'), ('83', '机动车销售电子统一发票'), ('84', '二手车销售电子统一发票'), ('01', '增值税专用发票（税控）'), ('03', '机动车销售统一发票（税控）'), ('04', '增值税普通发票（税控）'), ('08', '增值税电子专用发票（税控）'), ('10', '增值税电子普通发票（税控）'), ('11', '增值税普通发票（卷式）'), ('14', '通行费电子普通发票'), ('15', '二手车销售统一发票（税控）'), ('rail_paper', '铁路车票（纸质）'), ('air_paper', '航空运输电子客票行程单（纸质）'), ('customs', '海关进口增值税专用缴款书'), ('agri_purchase', '农产品收购发票'), ('agri_sales', '农产品销售发票'), ('other', '其他票据')], max_length=16, verbose_name='票种'),
        ),
    ]
