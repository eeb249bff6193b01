"""Serve the example app: ``python -m examples.webapp [--port 8000] [--db FILE]``.

Environment: ``MFA_SECRET_KEY`` (from ``mfakit.generate_secret_key()``; else a
development key is generated), ``FLASK_SECRET_KEY`` (the session key; else random per run),
``PORT`` (default 8000), ``MFAKIT_PASSKEY_RP_ID`` and ``MFAKIT_PASSKEY_ORIGINS``
(comma-separated; default ``localhost`` and ``http://localhost:PORT``).
"""

from __future__ import annotations

import argparse
import os

from werkzeug.serving import run_simple

from .app import DEMO_PASSWORD, create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.webapp", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--db", default="mfakit-demo.db", help="the SQLite file")
    args = parser.parse_args(argv)

    origins = os.environ.get("MFAKIT_PASSKEY_ORIGINS") or f"http://localhost:{args.port}"
    app = create_app(
        {
            "DATABASE": args.db,
            "PASSKEY_RP_ID": os.environ.get("MFAKIT_PASSKEY_RP_ID") or "localhost",
            "PASSKEY_ORIGINS": [o.strip() for o in origins.split(",") if o.strip()],
        }
    )
    services = app.extensions["webapp"]
    address = f"http://{args.host}:{args.port}"
    print(f"mfakit example app on {address}")
    print(f"  2FA data: {services.store_description}; users: SQLite ({args.db})")
    print(f"  senders: {services.senders_description}")
    print(f"  dev inbox (every SMS, call and email 'sent'): {address}/dev/inbox")
    if services.passkeys:
        print(f"  passkeys: open {app.config['PASSKEY_ORIGINS'][0]} (not 127.0.0.1)")
    else:
        print("  passkeys: off (pip install 'mfakit[webauthn]')")
    demo = app.extensions["webapp.demo"]
    if demo:
        print(f"  demo accounts, password {DEMO_PASSWORD!r}:")
        for user in demo:
            role = "admin, " + user.role if user.is_admin else user.role
            print(f"    {user.email:<24} {user.name} ({role})")
    else:
        print(f"  demo admin: owner@clinic.example, password {DEMO_PASSWORD!r} (if unchanged)")
    run_simple(args.host, args.port, app, threaded=True)


if __name__ == "__main__":
    main()
