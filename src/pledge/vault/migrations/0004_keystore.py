"""Customers' data keys move from the database to the key store (vault/keystore.py), so that
destroying one also makes database backups taken before unreadable for that customer (issue 6).

The wrapped keys are copied as they are (same master key, same associated data) as generation 0,
then the table is dropped. Going back copies them into the database again.
"""

import uuid

from django.db import migrations, models


def keys_to_keystore(apps, schema_editor):
    from pledge.vault.keystore import StoredKey, keystore

    DataKey = apps.get_model("vault", "DataKey")
    store = keystore()
    batch = []
    for row in DataKey.objects.order_by("pk").iterator(chunk_size=2000):
        batch.append(
            StoredKey(
                customer_id=uuid.UUID(str(row.customer_id)),
                generation=0,
                master_version=row.master_version,
                wrapped=bytes(row.wrapped),
            )
        )
        if len(batch) >= 2000:
            store.put(batch)
            batch = []
    store.put(batch)


def keys_to_database(apps, schema_editor):
    from pledge.vault.keystore import keystore

    DataKey = apps.get_model("vault", "DataKey")
    Customer = apps.get_model("vault", "Customer")
    store = keystore()
    for customer in Customer.objects.iterator(chunk_size=2000):
        found = store.get(uuid.UUID(str(customer.pk)), customer.key_generation)
        if found is not None:
            DataKey.objects.create(customer=customer, master_version=found[0], wrapped=found[1])


class Migration(migrations.Migration):
    dependencies = [("vault", "0003_record_kind_account")]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="key_generation",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="customer",
            name="erased_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="customer",
            name="held_until",
            field=models.DateField(blank=True, db_index=True, null=True),
        ),
        migrations.AddField(
            model_name="customer",
            name="restricted_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="customer",
            name="restriction_reason",
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.RunPython(keys_to_keystore, keys_to_database),
        migrations.DeleteModel(name="DataKey"),
    ]
