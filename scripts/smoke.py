#!/usr/bin/env python3
"""The example system's smoke test, run by `cargo xtask deploy` (`smoke` in deploy.toml):
on the test listener before production traffic moves to a new version, and on production
after it did. It reads what to test from the environment the tool sets:

  XTASK_SMOKE_URL             base URL to test (absent when the tool knows none)
  XTASK_SMOKE_STAGE           `test` or `production`
  XTASK_EXPECTED_VERSION      the commit deployed
  XTASK_EXPECTED_FINGERPRINT  the fingerprint of the service's build
  XTASK_SERVICE, XTASK_ENV    which service, where
  XTASK_CA_BUNDLE             (when set) a CA the tool trusts, which this trusts too

Exit 0 passes; anything else fails the check, and the last lines printed say why.
Standard library only: it runs wherever the tool does.
"""

import json
import os
import ssl
import sys
import urllib.error
import urllib.request


def tls():
    """The platform's roots, and the CA bundle the tool was told to trust (XTASK_CA_BUNDLE,
    which it passes on): an internal endpoint's private CA."""
    context = ssl.create_default_context()
    bundle = os.environ.get("XTASK_CA_BUNDLE")
    if bundle:
        context.load_verify_locations(cafile=bundle)
    return context


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5, context=tls()) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8", "replace")


def main():
    base = os.environ.get("XTASK_SMOKE_URL")
    stage = os.environ.get("XTASK_SMOKE_STAGE", "?")
    if not base:
        print(f"no URL to test on the {stage} listener: nothing to check")
        return 0
    status, body = get(base.rstrip("/") + "/health")
    if status != 200:
        print(f"{base}/health answered HTTP {status}")
        return 1
    health = json.loads(body)
    for field, variable in (("version", "XTASK_EXPECTED_VERSION"), ("fingerprint", "XTASK_EXPECTED_FINGERPRINT")):
        want = os.environ.get(variable)
        if want and health.get(field) not in (None, want):
            print(f"{base}/health reports {field} {health.get(field)}, expected {want}")
            return 1
    if os.environ.get("XTASK_SERVICE") == "api":
        status, body = get(base.rstrip("/") + "/items")
        if status != 200 or not isinstance(json.loads(body), list):
            print(f"{base}/items answered HTTP {status}: {body[:200]}")
            return 1
    print(f"{stage}: {base} serves {health.get('version', '?')[:12]} and its API answers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
