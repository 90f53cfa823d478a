import django.db.models.deletion
from django.db import migrations, models


def record_who_issued_each_certificate(apps, schema_editor):
    # Read through the enrollment while every certificate still has one: from here on the public
    # page reads `issued_by_store`, and an enrollment may go (its member removed from the store).
    Certificate = apps.get_model("courses", "Certificate")
    Certificate.objects.filter(enrollment__course__tenant__isnull=False).update(issued_by_store=True)


class Migration(migrations.Migration):

    dependencies = [
        ("courses", "0003_unique_rules_include_the_tenant"),
    ]

    operations = [
        migrations.AddField(
            model_name="certificate",
            name="issued_by_store",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(record_who_issued_each_certificate, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="certificate",
            name="enrollment",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="certificate",
                to="courses.enrollment",
            ),
        ),
    ]
