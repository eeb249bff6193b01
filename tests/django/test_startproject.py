"""docs/django.md's steps, followed literally on a fresh ``django-admin startproject``.

In a temporary directory: ``python -m django startproject mysite``, then the
page's blocks in order: its settings lines appended to ``settings.py``, its
URL lines to ``urls.py``, its shell lines run by bash (the key exported,
``migrate``, ``createsuperuser``). Steps 7 and 8 (a person at a browser) are
played with Django's test client inside the new project (``manage.py
shell``): sign in, set up an authenticator app from the page's QR key, sign
out, sign in again and pass the second step with the app's code.

Two departures, both because no person is there: ``pip install`` is not run
(mfakit is importable here; the test checks the extra it names exists) and
``createsuperuser`` gets ``--noinput`` with ``DJANGO_SUPERUSER_PASSWORD``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .test_docs import steps

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a-Long-password-4711"

BROWSER = """
import re, time
import pyotp
from django.test import Client
from django.test.utils import setup_test_environment

setup_test_environment()
c = Client()
login = {"username": "admin", "password": "%(password)s"}

# 7. Sign in (no 2FA yet: straight to the Two-step verification page) ...
r = c.post("/account/2fa/login/", login)
assert r.status_code == 302 and r["Location"] == "/account/2fa/", (r.status_code, r.content)
page = c.get("/account/2fa/").content.decode()
assert "Set up an authenticator app" in page and "Two-step verification is off." in page
# ... set up an authenticator app: the QR code, the key, the first code.
r = c.post("/account/2fa/authenticator/", {"label": ""})
page = r.content.decode()
assert "<svg" in page
secret = re.search(r'<code id="secret">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")
r = c.post("/account/2fa/authenticator/confirm/", {"code": pyotp.TOTP(secret).now()})
assert r["Location"] == "/account/2fa/backup-codes/", r
page = c.get(r["Location"]).content.decode()
codes = re.findall(r"<li>([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})</li>", page)
assert len(codes) == 10, codes

# 8. Sign out and in again: the password is not enough any more.
c.post("/account/2fa/logout/")
r = c.post("/account/2fa/login/", login)
assert r["Location"] == "/account/2fa/login/code/", r
assert c.get("/account/2fa/").status_code == 302  # not logged in half-way
assert c.get("/admin/").status_code == 302
page = c.get("/account/2fa/login/code/").content.decode()
assert "Enter the 6-digit code from your authenticator app." in page
r = c.post("/account/2fa/login/code/", {"code": "000000"})
assert r["Location"] == "/account/2fa/login/code/"
r = c.post("/account/2fa/login/code/", {"code": pyotp.TOTP(secret).at(time.time() + 30)})
assert r["Location"] == "/account/2fa/", r
assert "Two-step verification is on." in c.get("/account/2fa/").content.decode()
print("SECOND STEP OK")
"""


def test_a_fresh_project_reaches_a_totp_second_step_by_following_the_page(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("MFA_SECRET_KEY", None)
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(tmp_path)],
        check=True,
        env=env,
        timeout=60,
    )
    settings_py, urls_py = tmp_path / "mysite" / "settings.py", tmp_path / "mysite" / "urls.py"
    assert settings_py.exists() and urls_py.exists()

    script = ["set -euo pipefail"]
    for kind, language, code in steps():
        if kind == "install":  # 1
            assert language == "bash" and code.strip() == "pip install 'mfakit[django]'"
            if sys.version_info >= (3, 11):  # tomllib; Python 3.10 has no TOML reader
                import tomllib

                extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
                assert "django" in extras["optional-dependencies"]
        elif kind == "settings":  # 2
            with settings_py.open("a", encoding="utf-8") as f:
                f.write("\n" + code)
        elif kind == "urls":  # 3
            with urls_py.open("a", encoding="utf-8") as f:
                f.write("\n" + code)
        elif kind == "shell":  # 4, 5, 6
            assert language == "bash"
            for line in code.strip().splitlines():
                if line.startswith("python manage.py createsuperuser"):
                    line += " --noinput"
                script.append(line)
    assert len(script) == 4  # the key, migrate, createsuperuser
    (tmp_path / "browser.py").write_text(BROWSER % {"password": PASSWORD}, encoding="utf-8")
    script += [
        "python manage.py makemigrations --check --dry-run",  # the shipped migrations agree
        "python manage.py shell < browser.py",  # 7 and 8
    ]
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("SECOND STEP OK"), done.stdout + done.stderr
