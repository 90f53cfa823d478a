"""Row-level security on PostgreSQL, the second wall (DESIGN.md; tenants/rls.py): inside a tenant
scope the database itself holds every query of a tenant-owned table to that tenant, whatever SQL
the code sends. Runs in the PostgreSQL pass of CI."""
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from catalog.models import Product
from courses.models import Choice, Course, Lesson, Module
from tenants import rls
from tenants.scope import outside_tenant_scope, reset_current_tenant, set_current_tenant, tenant_scope
from tests.courses.factories import ChoiceFactory, CourseFactory, LabStepFactory, LessonFactory
from tests.factories import ProductFactory

pytestmark = pytest.mark.needs_postgres


@pytest.fixture
def two_stores_products(tenant, other_tenant):
    ProductFactory(tenant=tenant, external_id="ACME-1")
    ProductFactory(tenant=other_tenant, external_id="GLOBEX-1")


def _skus_by_raw_sql() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT external_id FROM catalog_product")
        return {row[0] for row in cursor.fetchall()}


def test_inside_a_scope_raw_sql_reads_only_the_scopes_tenant(tenant, two_stores_products):
    with tenant_scope(tenant):
        assert _skus_by_raw_sql() == {"ACME-1"}


def test_inside_a_scope_the_all_tenants_manager_reads_only_the_scopes_tenant(tenant, two_stores_products):
    with tenant_scope(tenant):
        assert set(Product.all_tenants.values_list("external_id", flat=True)) == {"ACME-1"}


def test_inside_a_scope_another_tenants_rows_cannot_be_changed_or_added(tenant, other_tenant, two_stores_products):
    with tenant_scope(tenant):
        assert Product.all_tenants.filter(tenant=other_tenant).update(title="hijacked") == 0
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO catalog_product (tenant_id, external_id, title, description, category, brand, "
                    "currency, in_stock, attributes, created_at, updated_at) "
                    "VALUES (%s, 'PLANTED', 'x', '', '', '', 'EUR', true, '{}', now(), now())",
                    [other_tenant.pk],
                )
    assert not Product.all_tenants.filter(title="hijacked").exists()


def test_outside_a_scope_cross_tenant_code_reads_every_tenant(two_stores_products):
    assert _skus_by_raw_sql() == {"ACME-1", "GLOBEX-1"}


def test_the_wall_follows_the_scope_in_and_out_and_back_to_the_outer_one(
    tenant, other_tenant, two_stores_products
):
    with tenant_scope(tenant):
        with tenant_scope(other_tenant):
            assert _skus_by_raw_sql() == {"GLOBEX-1"}
        assert _skus_by_raw_sql() == {"ACME-1"}
        with outside_tenant_scope():
            assert _skus_by_raw_sql() == {"ACME-1", "GLOBEX-1"}
        assert _skus_by_raw_sql() == {"ACME-1"}
    assert _skus_by_raw_sql() == {"ACME-1", "GLOBEX-1"}


def test_the_api_views_way_of_setting_the_scope_walls_too(tenant, two_stores_products):
    token = set_current_tenant(tenant)
    try:
        assert _skus_by_raw_sql() == {"ACME-1"}
    finally:
        reset_current_tenant(token)
    assert _skus_by_raw_sql() == {"ACME-1", "GLOBEX-1"}


@pytest.mark.django_db(transaction=True)
def test_a_connection_opened_inside_a_scope_starts_walled(tenant, two_stores_products):
    with tenant_scope(tenant):
        connection.close()  # Django closes connections between requests and tasks
        assert _skus_by_raw_sql() == {"ACME-1"}
    assert _skus_by_raw_sql() == {"ACME-1", "GLOBEX-1"}


@pytest.mark.django_db(transaction=True)
def test_a_scope_that_ends_inside_a_failed_transaction_keeps_the_error_and_the_wall_comes_down_with_it(
    tenant, two_stores_products
):
    with pytest.raises(DatabaseError, match="no_such_table"), transaction.atomic():
        with tenant_scope(tenant), connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")
    assert _skus_by_raw_sql() == {"ACME-1", "GLOBEX-1"}


@pytest.mark.django_db(transaction=True)
def test_a_transaction_rolled_back_inside_a_scope_leaves_the_scope_walled(tenant, two_stores_products):
    with tenant_scope(tenant):
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            with outside_tenant_scope():
                assert _skus_by_raw_sql() == {"ACME-1", "GLOBEX-1"}
                1 / 0  # noqa: B018
        assert _skus_by_raw_sql() == {"ACME-1"}


def test_every_tenant_owned_table_and_every_course_table_forces_its_policies(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, p.polname FROM pg_class c JOIN pg_policy p ON p.polrelid = c.oid "
            "WHERE c.relrowsecurity AND c.relforcerowsecurity"
        )
        in_place = set(cursor.fetchall())
    expected = {(policy.table, policy.name) for policy in rls.policies()}
    assert expected <= in_place
    assert len(rls.walled_tables()) > 25 and {"catalog_product", "courses_course", "courses_choice"} <= set(
        rls.walled_tables()
    )


def test_inside_a_scope_the_session_is_not_the_superuser_that_row_level_security_would_not_hold(tenant):
    with tenant_scope(tenant), connection.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (rls.tenant_role_name(connection), False, False)


def test_a_scope_no_wall_would_hold_raises_instead_of_running_unwalled(tenant, settings, monkeypatch):
    # The tests connect as a superuser, whom row-level security never holds: without its role,
    # a scope must not start.
    settings.TENANT_DATABASE_ROLE = "no_such_role_anywhere"
    monkeypatch.setattr(rls, "_scope_role", {})
    with pytest.raises(ImproperlyConfigured, match="cannot hold this session"), tenant_scope(tenant):
        pass


def test_each_database_has_a_tenant_role_of_its_own(db):
    # Roles belong to the whole cluster; one shared by two databases would carry rights across them.
    assert rls.tenant_role_name(connection) == f"{connection.settings_dict['NAME']}_tenant"


def test_a_second_install_finds_everything_in_place_and_rewrites_no_policy(db):
    def policy_versions():
        with connection.cursor() as cursor:
            cursor.execute("SELECT polrelid::regclass::text, polname, xmin::text FROM pg_policy")
            return {(table, name): version for table, name, version in cursor.fetchall()}

    before = policy_versions()
    rls.install()
    assert policy_versions() == before and len(before) == len(rls.policies())


@pytest.mark.django_db(transaction=True)  # outside a test's transaction, as a real request runs
def test_an_api_request_sets_the_session_twice_at_most(secret_client, tenant):
    secret_client.get("/api/v1/catalog/products")  # the connection's first request
    with CaptureQueriesContext(connection) as queries:
        assert secret_client.get("/api/v1/catalog/products").status_code == 200
    assert sum("set_config" in query["sql"] for query in queries.captured_queries) <= 2


def test_a_key_of_another_store_works_beside_a_logged_in_members_session(owner_client, other_tenant_secret_key):
    # The schema view is DRF's, not ours: the member's store scope is set when the key is looked up.
    response = owner_client.get("/api/v1/schema", HTTP_AUTHORIZATION=f"Bearer {other_tenant_secret_key}")
    assert response.status_code == 200


def test_a_scope_raises_while_a_tenant_table_has_no_policy(tenant, monkeypatch):
    # A migrate that failed halfway, say: a role alone would wall nothing on that table.
    monkeypatch.setattr(rls, "_scope_role", {})
    unwalled = rls.Policy("django_session", rls.POLICY_NAME, "ALL", "true", "true")
    monkeypatch.setattr(rls, "policies", lambda: [unwalled])
    with pytest.raises(ImproperlyConfigured, match="not in place"), tenant_scope(tenant):
        pass


@pytest.mark.django_db(transaction=True)
def test_a_connection_that_cannot_be_walled_when_it_opens_in_a_scope_is_not_kept(
    tenant, two_stores_products, settings, monkeypatch
):
    monkeypatch.setattr(rls, "_scope_role", {})
    settings.TENANT_DATABASE_ROLE = "no_such_role_anywhere"
    connection.close()  # the scope starts with no connection: the first query opens one
    with tenant_scope(tenant):
        for _attempt in range(2):  # the second query must not find an unwalled connection kept
            with pytest.raises(ImproperlyConfigured):
                _skus_by_raw_sql()
    settings.TENANT_DATABASE_ROLE = None
    rls._scope_role.clear()
    assert _skus_by_raw_sql() == {"ACME-1", "GLOBEX-1"}


# Courses: a NULL tenant is the platform's course, which every tenant reads; a tenant's own course
# is its alone. Lessons, quizzes, questions, choices and labs follow their course.


@pytest.fixture
def platform_and_two_stores_courses(tenant, other_tenant):
    for owner, name in ((None, "platform"), (tenant, "acme"), (other_tenant, "globex")):
        choice = ChoiceFactory(question__quiz__module__course=CourseFactory(tenant=owner, slug=name), text=name)
        LessonFactory(module=choice.question.quiz.module, title=name)
        LabStepFactory(lab__module=choice.question.quiz.module, title=name)


def _read_by_raw_sql(query: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(query)
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.parametrize("query", [
    "SELECT slug FROM courses_course",
    "SELECT title FROM courses_lesson",
    "SELECT text FROM courses_choice",
    "SELECT title FROM courses_labstep",
])
def test_inside_a_scope_raw_sql_reads_the_platforms_courses_and_the_tenants_own_only(
    tenant, platform_and_two_stores_courses, query
):
    with tenant_scope(tenant):
        assert _read_by_raw_sql(query) == {"platform", "acme"}
    assert _read_by_raw_sql(query) == {"platform", "acme", "globex"}


def test_inside_a_scope_a_tenant_cannot_change_a_platform_course_or_another_tenants(
    tenant, platform_and_two_stores_courses
):
    with tenant_scope(tenant):
        assert Course.all_tenants.update(title="edited") == 1
        assert Choice.objects.filter(text__in=["platform", "globex"]).update(text="edited") == 0
        assert Choice.objects.filter(text="acme").update(text="edited") == 1
    assert set(Course.all_tenants.values_list("slug", "title").filter(title="edited")) == {("acme", "edited")}


@pytest.mark.parametrize("owner", ["platform", "globex"])
def test_inside_a_scope_nothing_can_be_added_to_a_platform_course_or_another_tenants(
    tenant, platform_and_two_stores_courses, owner
):
    module = Module.objects.get(course__slug=owner)
    with tenant_scope(tenant), pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
        Lesson.objects.create(module=module, position=99, title="planted")
    assert not Lesson.objects.filter(title="planted").exists()
