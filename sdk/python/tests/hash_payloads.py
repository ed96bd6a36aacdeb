"""Reads a JSON array of payloads on stdin and prints their payload_sha256 as a JSON array, for the
vitest side to compare with the server's canonicalJson + SHA-256 (test/node/sdk-python.test.ts)."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from policy_api import payload_sha256  # noqa: E402

print(json.dumps([payload_sha256(p) for p in json.load(sys.stdin)]))
