"""Chinese and Japanese words found inside the text that holds them, on PostgreSQL.

These languages write no spaces between words, so PostgreSQL's parser took a whole run of
characters as one word: "有机纯牛奶" was a single term, and a shopper's "牛奶" or "纯牛奶" found
nothing, nor did "iphone" find "iPhone手机壳". No segmenter ships with PostgreSQL (zhparser and
pg_jieba are extensions most hosts lack), so the document now also holds each run's characters
and overlapping pairs of characters, as Lucene's CJK analyzer does. Search
(recommendations.selectors.search) asks for a short run (one or two characters, or a quoted or
excluded one) as it is written, and for a longer one, which is often several words written
together ("有机牛奶"), by at least half of its pairs, those holding more of them first.

`catalog_search_terms(text, with_pairs)` gives the text in NFKC form (full-width letters and
half-width katakana as usually written) with each run spaced from the letters or digits around
it, then each run's pairs (in order, so consecutive pairs are adjacent positions and a phrase
query matches) and its characters. The description's runs get no pairs (see FORWARD_SQL). Keep
the character ranges in step with `CJK_CHARACTERS` in recommendations.selectors.search.

Weights as in 0002: title A, brand and category B, description C. As 0002 says, the column must
be dropped and added back to change it; that rewrites the table once.
"""

from django.db import migrations

# Hiragana and katakana, CJK Unified Ideographs (extension A and the main block), compatibility
# ideographs.
CJK_RUN = r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+"

# PL/pgSQL rather than one SQL statement: half the time (on 20,000 products with Chinese titles
# and 180-character descriptions, 4.5 s against 8 s to compute their documents; 0.3 s without the
# pairs). English text pays almost nothing: it has no run.
SEARCH_TERMS_FUNCTION = rf"""
CREATE FUNCTION catalog_search_terms(source text, with_pairs boolean DEFAULT true) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  run text;
  grams text[] := '{{}}';
BEGIN
  -- Full-width letters and digits, half-width katakana, as input methods type them: one spelling.
  source := normalize(coalesce(source, ''), NFKC);
  IF source !~ '{CJK_RUN}' THEN
    RETURN source;
  END IF;
  IF with_pairs THEN
    FOR run IN SELECT matched[1] FROM regexp_matches(source, '{CJK_RUN}', 'g') AS matched LOOP
      FOR position IN 1 .. char_length(run) - 1 LOOP
        grams := grams || substr(run, position, 2);
      END LOOP;
      FOR position IN 1 .. char_length(run) LOOP
        grams := grams || substr(run, position, 1);
      END LOOP;
    END LOOP;
  END IF;
  RETURN regexp_replace(source, '({CJK_RUN})', ' \1 ', 'g') || ' ' || array_to_string(grams, ' ');
END
$$
"""


def _document(terms: str, description_terms: str) -> str:
    return f"""
    ALTER TABLE catalog_product ADD COLUMN search_document tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, {terms.format("title")}), 'A')
        || setweight(to_tsvector('simple'::regconfig, {terms.format("brand")}), 'B')
        || setweight(to_tsvector('simple'::regconfig, {terms.format("category")}), 'B')
        || setweight(to_tsvector('simple'::regconfig, {description_terms.format("description")}), 'C')
    ) STORED
    """


DROP_DOCUMENT = [
    "DROP INDEX IF EXISTS catalog_product_search_document",
    "ALTER TABLE catalog_product DROP COLUMN IF EXISTS search_document",
]
CREATE_INDEX = "CREATE INDEX catalog_product_search_document ON catalog_product USING gin (search_document)"

FORWARD_SQL = [
    SEARCH_TERMS_FUNCTION,
    *DROP_DOCUMENT,
    # A description's runs without their pairs: long marketing text would make the document five
    # times larger (each scan of a tenant's products reads it) and match stray pairs of characters
    # across its words; the title, brand and category name the product.
    _document("catalog_search_terms({})", "catalog_search_terms({}, false)"),
    CREATE_INDEX,
]

REVERSE_SQL = [
    *DROP_DOCUMENT,
    _document("coalesce({}, '')", "coalesce({}, '')"),
    CREATE_INDEX,
    "DROP FUNCTION IF EXISTS catalog_search_terms(text, boolean)",
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
        ("catalog", "0003_cleaning_run_status"),
    ]

    operations = [
        migrations.RunPython(
            _run_on_postgresql(FORWARD_SQL), _run_on_postgresql(REVERSE_SQL), elidable=False
        ),
    ]
