import secrets

from django.db import migrations, models

import tenants.models


def give_each_tenant_its_own_signing_key(apps, schema_editor):
    # AddField computes a callable default once for the whole table: every existing tenant
    # would share one key, and one merchant could sign another's shoppers.
    Tenant = apps.get_model("tenants", "Tenant")
    for tenant in Tenant.objects.only("pk"):
        Tenant.objects.filter(pk=tenant.pk).update(shopper_signing_key=secrets.token_hex(32))


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0005_tenant_required_certificate_course_slug"),
    ]

    operations = [
        migrations.AddField(
            model_name="tenant",
            name="shopper_signatures_required",
            field=models.BooleanField(default=False, verbose_name="require signed shopper ids from publishable keys"),
        ),
        migrations.AddField(
            model_name="tenant",
            name="shopper_signing_key",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(give_each_tenant_its_own_signing_key, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="tenant",
            name="shopper_signing_key",
            field=models.CharField(default=tenants.models._new_shopper_secret, editable=False, max_length=64),
        ),
    ]
