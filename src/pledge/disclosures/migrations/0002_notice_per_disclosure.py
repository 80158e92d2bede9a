"""A recipient is told again after it received the data again (GDPR Art 19).

The notice now records the latest disclosure it covers, and is unique per that disclosure instead
of once for ever per (recipient, customer, reason, purpose). Existing notices are given the latest
disclosure they could have covered: of that customer, to that recipient (for the purpose, on a
withdrawal), made no later than the notice.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def link_existing_notices(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    notice_model = apps.get_model("disclosures", "RecipientNotice")
    disclosure_model = apps.get_model("disclosures", "Disclosure")
    for notice in notice_model.objects.filter(last_disclosure__isnull=True).iterator():
        given = disclosure_model.objects.filter(
            recipient=notice.recipient,
            customers__customer_id=notice.customer_id,
            disclosed_at__lte=notice.created_at,
        )
        if notice.purpose:
            given = given.filter(purpose=notice.purpose)
        last = given.order_by("-disclosed_at", "-id").first()
        if last is not None:
            notice.last_disclosure_id = last.id
            notice.save(update_fields=["last_disclosure"])


class Migration(migrations.Migration):
    dependencies = [
        ("disclosures", "0001_initial"),
        ("vault", "0006_record_kind_complaint"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="recipientnotice",
            name="recipient_told_once",
        ),
        migrations.AddField(
            model_name="recipientnotice",
            name="last_disclosure",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="disclosures.disclosure",
            ),
        ),
        migrations.AddConstraint(
            model_name="recipientnotice",
            constraint=models.UniqueConstraint(
                fields=("recipient", "customer", "reason", "purpose", "last_disclosure"),
                name="recipient_told_once_per_disclosure",
            ),
        ),
        # Last: no ALTER TABLE after the rows change (PostgreSQL refuses one with pending
        # deferred foreign-key checks). The old constraint kept the keys unique, so the new one
        # holds for the linked rows too.
        migrations.RunPython(link_existing_notices, migrations.RunPython.noop),
    ]
