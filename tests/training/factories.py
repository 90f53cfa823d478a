"""Jobs, model versions and the least training data, created through the unscoped managers."""
from datetime import datetime, timedelta, timezone

import factory
from django.db.models import Max

from catalog.models import Event
from tests.factories import ProductFactory, TenantFactory
from training.models import JobStatus, ModelVersion, TrainingJob, VersionStatus


def next_job_number(tenant) -> int:
    """What training_job_create would number the tenant's next job."""
    return (TrainingJob.all_tenants.filter(tenant=tenant).aggregate(top=Max("number"))["top"] or 0) + 1


class TrainingJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrainingJob

    tenant = factory.SubFactory(TenantFactory)
    number = factory.LazyAttribute(lambda job: next_job_number(job.tenant))
    config = factory.LazyFunction(lambda: {"method": "lora", "epochs": 2, "learning_rate": 1e-3})
    status = JobStatus.QUEUED

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return model_class.all_tenants.create(*args, **kwargs)


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    tenant = factory.SubFactory(TenantFactory)
    number = factory.Sequence(lambda n: n + 1)
    job = None
    base_model = "/models/base"
    method = "lora"
    metrics = factory.LazyFunction(lambda: {
        "validation": {
            "hybrid": {"ndcg@10": 0.12, "recall@10": 0.2},
            "popularity": {"ndcg@10": 0.05, "recall@10": 0.1},
        },
    })
    artifact_path = factory.LazyAttribute(lambda version: f"/tmp/models/v{version.number}")
    artifact_bytes = 1024
    status = VersionStatus.CANDIDATE

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return model_class.all_tenants.create(*args, **kwargs)


def purchases_create(tenant, *, shoppers: int, per_shopper: int) -> None:
    """`per_shopper` purchases by each of `shoppers` shoppers: training data, as little as a test needs."""
    products = [ProductFactory(tenant=tenant) for _ in range(per_shopper)]
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    Event.all_tenants.bulk_create([
        Event(
            tenant=tenant, event_id=f"e-{shopper}-{index}", shopper_key=f"shopper-{shopper}", type="purchase",
            product=product, product_external_id=product.external_id,
            occurred_at=start + timedelta(days=shopper, hours=index),
        )
        for shopper in range(shoppers)
        for index, product in enumerate(products)
    ])


def encoder_folder(parent) -> str:
    """A folder that passes TrainConfig's base-model check (it holds a config.json); nothing loads it."""
    folder = parent / "encoder"
    folder.mkdir()
    (folder / "config.json").write_text('{"num_hidden_layers": 2}')
    return str(folder)


def a_live_model(tenant) -> ModelVersion:
    """The tenant's live version, made (with no artifacts) when there is none: what an experiment
    with a "live model" variant needs before it may start."""
    versions = ModelVersion.all_tenants.filter(tenant=tenant)
    live = versions.filter(status=VersionStatus.LIVE).first()
    number = (versions.aggregate(newest=Max("number"))["newest"] or 0) + 1
    return live or ModelVersionFactory(tenant=tenant, status=VersionStatus.LIVE, number=number)
