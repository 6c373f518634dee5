"""The demo world of the kernel: two entities, their buyers and items, and one user per role.

Idempotent: running it again changes nothing. Users are only ever created: an existing user with a demo user's name
keeps its password, flags, groups and entity scope. Other apps add their own ``<app>/demo.py`` with a ``seed(stdout)``
function; ``manage.py seed_demo`` runs them in INSTALLED_APPS order.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import Group, User
from django.core.management.base import OutputWrapper
from django.db import transaction

from invoicing import roles
from invoicing.models import Counterparty, CounterpartyKind, EntityScope, Item, TaxCategory, Taxpayer, TaxpayerType

DEMO_PASSWORD = "fapiao-demo-2026"

# (username, role, full name, limited to these entities' credit codes, or None for all)
DEMO_USERS = [
    ("admin", roles.ADMINISTRATOR, "系统管理员", None),
    ("finance", roles.FINANCE, "王会计", None),
    ("service", roles.CUSTOMER_SERVICE, "李客服", None),
    ("finance_sz", roles.FINANCE, "陈会计（仅深圳明远）", ("91440300MA5FM1NGYB",)),
    # the group's shared expense desk: the claims of both entities (the demo story's claim is 明远's)
    ("reviewer", roles.EXPENSE_REVIEWER, "周审核（报销审核，云途出行、深圳明远）",
     ("91440101MA5CYUN00U", "91440300MA5FM1NGYB")),
]

ENTITIES: list[dict[str, object]] = [
    {
        "credit_code": "91440101MA5CYUN00U",
        "name": "广州云途出行科技有限公司",
        "short_name": "云途出行",
        "taxpayer_type": TaxpayerType.GENERAL,
        "region_code": "4400",
        "address": "广州市天河区珠江新城华夏路10号",
        "phone": "020-38880000",
        "bank_name": "招商银行广州天河支行",
        "bank_account": "120908765410001",
        "drawer": "赵敏",
        "single_invoice_limit": Decimal("1000000.00"),
        "max_lines_per_invoice": 200,
        "channel_app_key": "yuntu-sandbox",
        "channel_secret": "yuntu-sandbox-secret",
        "channel_operator": "13800000001",
    },
    {
        "credit_code": "91440300MA5FM1NGYB",
        "name": "深圳明远信息技术有限公司",
        "short_name": "深圳明远",
        "taxpayer_type": TaxpayerType.GENERAL,
        "region_code": "4403",
        "address": "深圳市南山区科技园科苑路15号",
        "phone": "0755-86660000",
        "bank_name": "中国银行深圳科技园支行",
        "bank_account": "7560301234567890",
        "drawer": "孙丽",
        "single_invoice_limit": None,
        "max_lines_per_invoice": 2000,
        "channel_app_key": "mingyuan-sandbox",
        "channel_secret": "mingyuan-sandbox-secret",
        "channel_operator": "13800000002",
    },
]

COMPANIES = [
    ("C001", "深圳明远信息技术有限公司", "91440300MA5FM1NGYB", "finance@mingyuan.example.com"),
    ("C002", "上海白鹭文化传媒有限公司", "91310000MA1K0BA10F", "ap@bailu.example.com"),
    ("C003", "广州华信贸易有限公司", "91440106MA9XHUA101", "caiwu@huaxin.example.com"),
    ("C004", "北京青木咨询有限公司", "91110108MA01Q1NG0B", "invoice@qingmu.example.com"),
    ("C005", "南京金陵机械制造有限公司", "91320100MA1NANJ10T", "fp@jinling.example.com"),
    ("C006", "杭州白杭网络科技有限公司", "91330106MA2BHANG05", "fp@baihang.example.com"),
    ("C007", "成都锦城物流有限公司", "91510100MA6CHENG0U", "wl@jincheng.example.com"),
    ("C008", "武汉江汉建设工程有限公司", "91420100MA4WUHAN0B", "cw@jianghan.example.com"),
    ("C009", "厦门鹭岛酒店管理有限公司", "91350200MA3X1AME0W", "fp@ludao.example.com"),
    ("C010", "天津海河置业有限公司", "91120000MA07T1AN0P", "fp@haihe.example.com"),
    ("C011", "青岛海岸食品有限公司", "91370200MA3Q1NGD0H", "fp@haian.example.com"),
    ("C012", "重庆山城商贸有限公司", "91500000MA5CH0NG07", "fp@shancheng.example.com"),
    ("C013", "西安长安软件有限公司", "91610100MA6X1AN005", "fp@changan.example.com"),
    ("C014", "大连港湾贸易有限公司", "91210200MA0DAL1A02", "fp@gangwan.example.com"),
    ("C015", "广州天河区小林便利店", "92440101MA5PER5N01", "xiaolin@example.com"),
]
PERSONS = [
    ("P001", "张伟", "zhangwei@example.com", "13900000001"),
    ("P002", "王芳", "wangfang@example.com", "13900000002"),
    ("P003", "刘洋", "liuyang@example.com", "13900000003"),
    ("P004", "陈静", "", "13900000004"),
    ("P005", "杨磊", "yanglei@example.com", ""),
]

# (code, name, unit, tax category code, rate, unit price incl. tax)
ITEMS = [
    ("S001", "网约车客运服务", "次", "3010101020203000000", "0.09", None),
    ("S002", "软件技术服务费", "项", "3040201000000000000", "0.06", None),
    ("S003", "信息系统运维服务", "月", "3040203000000000000", "0.06", "5000.00"),
    ("S004", "餐饮服务", "次", "3070401000000000000", "0.06", None),
    ("S005", "会议住宿服务", "间夜", "3070402000000000000", "0.06", "450.00"),
    ("S006", "咨询服务费", "项", "3040601000000000000", "0.06", None),
]


@transaction.atomic
def seed(stdout: OutputWrapper | None = None) -> None:
    entities: dict[str, Taxpayer] = {}
    for data in ENTITIES:
        values = dict(data)
        code = str(values.pop("credit_code"))
        entity, _ = Taxpayer.objects.update_or_create(credit_code=code, defaults=values)
        entities[code] = entity

    for entity in entities.values():
        for code, name, tax_id, email in COMPANIES:
            if tax_id == entity.credit_code:
                continue  # an entity is not its own customer
            Counterparty.objects.update_or_create(
                taxpayer=entity,
                code=code,
                defaults={"kind": CounterpartyKind.COMPANY, "name": name, "tax_id": tax_id, "email": email,
                          "address": "", "phone": ""},
            )
        for code, name, email, mobile in PERSONS:
            Counterparty.objects.update_or_create(
                taxpayer=entity,
                code=code,
                defaults={"kind": CounterpartyKind.PERSON, "name": name, "email": email, "mobile": mobile},
            )
        categories = {c.code: c for c in TaxCategory.objects.filter(code__in=[i[3] for i in ITEMS])}
        for code, name, unit, cat, rate, price in ITEMS:
            if cat not in categories:
                continue
            Item.objects.update_or_create(
                taxpayer=entity,
                code=code,
                defaults={"name": name, "unit": unit, "tax_category": categories[cat], "tax_rate": Decimal(rate),
                          "unit_price": Decimal(price) if price else None, "price_includes_tax": True},
            )

    roles.sync_role_permissions()
    created_users: list[str] = []
    kept: list[str] = []
    for username, role, full_name, limited_to in DEMO_USERS:
        if User.objects.filter(username=username).exists():
            # An existing user is never changed: not its password (an operator may have changed it), not its
            # flags (is_superuser, is_active), not its groups or entity scope.
            kept.append(username)
            continue
        user = User(username=username, first_name=full_name, email=f"{username}@fapiao.example.com",
                    is_staff=True, is_superuser=False)
        user.set_password(DEMO_PASSWORD)
        user.save()
        created_users.append(username)
        user.groups.set([Group.objects.get(name=role)])
        scope, _ = EntityScope.objects.get_or_create(user=user)
        scope.all_entities = limited_to is None
        scope.save()
        scope.taxpayers.set([entities[code] for code in limited_to] if limited_to else [])
    if stdout:
        stdout.write(f"kernel: {len(entities)} entities, {Counterparty.objects.count()} buyers, "
                     f"{TaxCategory.objects.count()} tax categories, {len(created_users)} demo users created"
                     + (f", existing users left unchanged: {', '.join(kept)}" if kept else ""))
