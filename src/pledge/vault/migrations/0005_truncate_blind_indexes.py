"""Blind indexes keep 2 bytes of their HMAC from now on (vault/crypto.py `INDEX_DIGEST_BYTES`): a
backup taken before an erasure must not let anyone brute-force an erased phone number back from
its index row (issue 6). Lookups confirm candidates by decrypting them. Irreversible by design.
"""

from django.db import migrations


def truncate(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        sql = "UPDATE vault_blindindex SET digest = substring(digest from 1 for 2)"
    else:
        sql = "UPDATE vault_blindindex SET digest = substr(digest, 1, 2)"
    schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("vault", "0004_keystore")]

    operations = [migrations.RunPython(truncate, migrations.RunPython.noop)]
