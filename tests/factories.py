import factory
from django.contrib.auth import get_user_model

from catalog.models import Product
from tenants.models import Membership, Role, Tenant


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}@example.com")
    email = factory.SelfAttribute("username")
    password = factory.django.Password("correct-horse-battery")


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"Store {n}")
    slug = factory.Sequence(lambda n: f"store-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership
        # Tenant-owned: create through the unscoped manager, the tenant given explicitly.
        django_get_or_create = ("tenant", "user")

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.OWNER

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return model_class.all_tenants.create(*args, **kwargs)

    @classmethod
    def _get_or_create(cls, model_class, *args, **kwargs):
        defaults = {"role": kwargs.pop("role", Role.OWNER)}
        return model_class.all_tenants.get_or_create(*args, defaults=defaults, **kwargs)[0]


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    tenant = factory.SubFactory(TenantFactory)
    external_id = factory.Sequence(lambda n: f"SKU-{n:05d}")
    title = factory.Sequence(lambda n: f"Product {n}")
    category = "Grocery > Produce"
    brand = "Acme"
    price = "9.99"
    currency = "USD"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return model_class.all_tenants.create(*args, **kwargs)
