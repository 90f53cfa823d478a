"""Jobs get a number per tenant (1, 2, 3...), as versions have: the primary key counts every
tenant's jobs, so a store's first job read #4 and told it how busy the platform was.

Existing jobs are numbered in the order they were created, tenant by tenant.
"""

from django.db import migrations, models


def number_existing_jobs(apps, schema_editor):
    TrainingJob = apps.get_model("training", "TrainingJob")
    jobs = TrainingJob._base_manager.order_by("tenant_id", "created_at", "id").only("id", "tenant_id")
    numbered, tenant_id, number = [], None, 0
    for job in jobs.iterator(chunk_size=2000):
        number = number + 1 if job.tenant_id == tenant_id else 1
        tenant_id, job.number = job.tenant_id, number
        numbered.append(job)
    TrainingJob._base_manager.bulk_update(numbered, ["number"], batch_size=1000)


class Migration(migrations.Migration):

    dependencies = [
        ("training", "0005_job_measuring_times"),
    ]

    operations = [
        migrations.AddField(
            model_name="trainingjob",
            name="number",
            field=models.PositiveIntegerField(null=True),
        ),
        migrations.RunPython(number_existing_jobs, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="trainingjob",
            name="number",
            field=models.PositiveIntegerField(),
        ),
        migrations.AddConstraint(
            model_name="trainingjob",
            constraint=models.UniqueConstraint(fields=("tenant", "number"), name="job_unique_number_per_tenant"),
        ),
    ]
