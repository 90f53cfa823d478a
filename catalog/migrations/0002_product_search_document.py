"""A stored, indexed full-text document of each product, on PostgreSQL only.

Lexical search used to build the tsvector of every product of the tenant on
each query (290-410 ms of database CPU on a 24k-product catalog). PostgreSQL
now keeps it in a generated column, up to date on every insert and update
(bulk upserts included), and a GIN index finds the matching rows.

The column is not a field of the Product model: Django never writes it, and
only recommendations.selectors.search reads it, with raw SQL. SQLite has no
tsvector, so there this migration does nothing and search matches substrings.

Keep the expression in step with recommendations.selectors.search: "simple"
config, title A, brand and category B, description C.

Later schema changes, because the column depends on four others: PostgreSQL
refuses to change the type of title, brand, category or description (a new
max_length) while it exists, so such a migration must drop it and add it back
(reverse, alter, forward); Django drops columns with CASCADE, so removing one
of the four silently takes this column and its index with it.
"""

from django.db import migrations

# The index is on the document alone, not per tenant: the tenant filter
# applies to the rows the index scan found. One tenant's common word thus
# reads the postings of every tenant's products; if that ever costs, a
# composite GIN index (tenant_id, search_document) with btree_gin is the fix.
FORWARD_SQL = [
    """
    ALTER TABLE catalog_product ADD COLUMN search_document tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, coalesce(title, '')), 'A')
        || setweight(to_tsvector('simple'::regconfig, coalesce(brand, '')), 'B')
        || setweight(to_tsvector('simple'::regconfig, coalesce(category, '')), 'B')
        || setweight(to_tsvector('simple'::regconfig, coalesce(description, '')), 'C')
    ) STORED
    """,
    "CREATE INDEX catalog_product_search_document ON catalog_product USING gin (search_document)",
]

REVERSE_SQL = [
    "DROP INDEX IF EXISTS catalog_product_search_document",
    "ALTER TABLE catalog_product DROP COLUMN IF EXISTS search_document",
]


def _run_on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(
            _run_on_postgresql(FORWARD_SQL), _run_on_postgresql(REVERSE_SQL), elidable=False
        ),
    ]
