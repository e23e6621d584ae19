"""No expert is ever engaged twice at once: enforced by PostgreSQL itself.

An exclusion constraint over (expert, [starts_at, ends_at)) for unreleased engagements makes
the second of two racing bookings fail inside the database, whatever the application checked
before. btree_gist lets the equality on the expert's UUID share the GiST index with the range
overlap; it is a trusted extension, so the database owner may create it. SQLite (the embedded
default, one writer at a time in IMMEDIATE transactions) relies on the service's check.
"""
from django.db import migrations

UP = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    """ALTER TABLE consults_engagement ADD CONSTRAINT engagement_no_overlap_per_expert
       EXCLUDE USING gist (expert_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&)
       WHERE (released_at IS NULL)""",
]
DOWN = ["ALTER TABLE consults_engagement DROP CONSTRAINT IF EXISTS engagement_no_overlap_per_expert"]


def _on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("consults", "0001_initial")]

    operations = [migrations.RunPython(_on_postgresql(UP), _on_postgresql(DOWN))]
