"""factory_boy factories for the kernel. Apps add theirs in tests/<app>/factories.py."""

from __future__ import annotations

from decimal import Decimal

import factory
from django.contrib.auth.models import Group, User
from stdnum.cn import uscc

from invoicing.models import Counterparty, CounterpartyKind, EntityScope, Item, TaxCategory, Taxpayer


def make_uscc(n: int) -> str:
    body = f"91440101MA{n:07d}"[:17]
    return body + uscc.calc_check_digit(body)


class TaxpayerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Taxpayer
        django_get_or_create = ("credit_code",)

    name = factory.Sequence(lambda n: f"测试主体{n}有限公司")
    credit_code = factory.Sequence(lambda n: make_uscc(1000 + n))
    address = "广州市天河区测试路1号"
    phone = "020-12345678"
    bank_name = "测试银行天河支行"
    bank_account = "6222000000000000"
    drawer = "测试开票员"


class CounterpartyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Counterparty

    taxpayer = factory.SubFactory(TaxpayerFactory)
    kind = CounterpartyKind.COMPANY
    code = factory.Sequence(lambda n: f"C{n:04d}")
    name = factory.Sequence(lambda n: f"测试购方{n}有限公司")
    tax_id = factory.Sequence(lambda n: make_uscc(500000 + n))
    email = factory.Sequence(lambda n: f"buyer{n}@example.com")


class PersonFactory(CounterpartyFactory):
    kind = CounterpartyKind.PERSON
    name = factory.Sequence(lambda n: f"个人{n}")
    tax_id = ""


def tax_category(code: str = "3040201000000000000") -> TaxCategory:
    """A category from the catalogue the migration loads (软件服务 by default)."""
    return TaxCategory.objects.get(code=code)


class ItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Item

    taxpayer = factory.SubFactory(TaxpayerFactory)
    code = factory.Sequence(lambda n: f"S{n:04d}")
    name = "软件技术服务费"
    unit = "项"
    tax_category = factory.LazyFunction(tax_category)
    tax_rate = Decimal("0.06")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if extracted:
            self.groups.add(Group.objects.get(name=extracted))

    @factory.post_generation
    def entities(self, create, extracted, **kwargs):
        """``entities=None`` → all entities; a list → only those; ``entities=[]`` → none."""
        scope, _ = EntityScope.objects.get_or_create(user=self)
        scope.all_entities = extracted is None
        scope.save()
        if extracted:
            scope.taxpayers.set(extracted)
        self.save()
