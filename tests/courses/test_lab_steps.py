"""Lab steps: each names a registered check, and "check my work" runs it on the learner's own sandbox."""

import pytest
from django.core.exceptions import ValidationError

from courses.models import LabStep
from courses.services import lab_step_check
from tests.courses.factories import LabFactory, LabStepFactory


def test_a_step_naming_an_unregistered_check_is_refused_with_the_names_that_exist(db):
    step = LabStep(lab=LabFactory(), position=1, title="Do it", check_name="catalog_of_5_products")

    with pytest.raises(ValidationError) as raised:
        step.full_clean()

    assert "check_name" in raised.value.message_dict
    assert "catalog_import_of_50_products" in raised.value.message_dict["check_name"][0]


def test_a_step_of_another_course_cannot_be_checked_in_this_enrollment(enrollment, in_tenant):
    elsewhere = LabStepFactory()

    with pytest.raises(LabStep.DoesNotExist):
        lab_step_check(tenant=in_tenant, enrollment=enrollment, step=elsewhere)
