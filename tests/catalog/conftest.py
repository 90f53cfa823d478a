"""Catalog tests run the imports they queue, as a worker would, within the test."""
import pytest
from django.test import TestCase

from catalog.tasks import catalog_import_task


@pytest.fixture(autouse=True)
def _imports_run_in_the_test(monkeypatch):
    # An import sent by an on_commit callback runs there and then, in this process.
    monkeypatch.setattr(catalog_import_task, "delay", lambda **kwargs: catalog_import_task.apply(kwargs=kwargs))


def queued_and_run(send):
    """What `send()` answers, once the imports it queued have run: tests run inside a transaction
    that never commits, so the callbacks that send the tasks run as it ends."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return send()
