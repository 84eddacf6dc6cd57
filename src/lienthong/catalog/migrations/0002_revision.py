"""The catalogue's revision: one row that triggers change with every write to the
tables a procedure is read from (``selectors.procedure_by_code``), so that a process
may keep what it read until something changed.

SQLite has row triggers only (three per table); PostgreSQL has one statement trigger
per table (a bulk import changes the row once per statement, and TRUNCATE counts).
Each sets a random value: a number rolled back with its transaction is never taken
again by a later write. On another database no trigger is made and the value stays
NULL: nothing is kept there."""

from django.db import migrations, models

TABLES = (
    "catalog_procedure",
    "catalog_procedurefield",
    "catalog_formfield",
    "catalog_requireddocument",
    "catalog_fee",
)


def create_triggers(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "sqlite":
        statements = [
            f"CREATE TRIGGER catalog_revision_{table}_{event.lower()} AFTER {event} ON {table} "
            f"BEGIN UPDATE catalog_revision SET value = random(); END"
            for table in TABLES
            for event in ("INSERT", "UPDATE", "DELETE")
        ]
    elif connection.vendor == "postgresql":
        statements = [
            "CREATE FUNCTION catalog_revision_bump() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN UPDATE catalog_revision SET value = floor(random() * 9e18)::bigint; "
            "RETURN NULL; END $$",
            *(
                f"CREATE TRIGGER catalog_revision_bump AFTER INSERT OR UPDATE OR DELETE "
                f"OR TRUNCATE ON {table} FOR EACH STATEMENT "
                f"EXECUTE FUNCTION catalog_revision_bump()"
                for table in TABLES
            ),
        ]
    else:
        statements = []
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
        value = 0 if statements else None
        cursor.execute("INSERT INTO catalog_revision (id, value) VALUES (1, %s)", [value])


def drop_triggers(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "sqlite":
        statements = [
            f"DROP TRIGGER IF EXISTS catalog_revision_{table}_{event}"
            for table in TABLES
            for event in ("insert", "update", "delete")
        ]
    elif connection.vendor == "postgresql":
        statements = [
            *(f"DROP TRIGGER IF EXISTS catalog_revision_bump ON {table}" for table in TABLES),
            "DROP FUNCTION IF EXISTS catalog_revision_bump()",
        ]
    else:
        statements = []
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='CatalogRevision',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('value', models.BigIntegerField(null=True)),
            ],
            options={
                'verbose_name': 'catalogue revision',
                'verbose_name_plural': 'catalogue revision',
                'db_table': 'catalog_revision',
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
