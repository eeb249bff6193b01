"""A user's preferred locale (`MFA.set_locale`): the language of the codes
and security notices sent to them when a call names none."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("mfakit", "0002_notice_outbox")]

    operations = [
        migrations.AddField(
            model_name="userstate",
            name="locale",
            field=models.CharField(max_length=35, null=True),
        ),
    ]
