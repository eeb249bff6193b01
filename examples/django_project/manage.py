#!/usr/bin/env python
"""The example Django project: ``python manage.py migrate``, ``python manage.py
demo_seed``, ``python manage.py runserver`` (or ``scripts/demo --django``)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
