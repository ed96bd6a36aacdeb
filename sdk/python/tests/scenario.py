"""One guarded action against a live Policy API, for test/node/sdk-python.test.ts.

Usage: POLICY_API_URL=… POLICY_API_KEY=… python3 scenario.py '<spec JSON>'. Prints JSON lines: a
"filed" event as soon as a request is filed (the vitest side then approves, rejects, edits, expires
or cancels it) and a final "done" line saying whether the action ran, with what, or the typed error.
Exit 0: the action ran; 3: it was refused (a PolicyError); anything else is a bug.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from policy_api import PolicyClient, PolicyError  # noqa: E402


def emit(event: dict) -> None:
    print(json.dumps(event), flush=True)


def main() -> int:
    spec = json.loads(sys.argv[1])
    client = PolicyClient(
        os.environ["POLICY_API_URL"],
        os.environ["POLICY_API_KEY"],
        timeout=spec.get("timeout", 10),
        retries=spec.get("retries", 3),
        backoff=0.2,
        require_receipt=spec.get("require_receipt", "auto"),
    )
    ran = []
    started = time.monotonic()

    @client.guard(
        spec["skill_id"],
        spec.get("tenant_id", "demo"),
        agent_id="bot-1",
        wait_timeout=spec.get("wait_timeout", 30),
        expires_in_seconds=spec.get("expires_in_seconds"),
        request_id=spec.get("request_id"),
        redeem=spec.get("redeem", False),
        on_filed=lambda created: emit({"event": "filed", "request_id": created["request_id"]}),
    )
    def action(payload: dict) -> str:
        ran.append(payload)
        return "done"

    try:
        action(spec["payload"])
    except PolicyError as error:
        emit(
            {
                "event": "done",
                "ran": bool(ran),
                "seconds": round(time.monotonic() - started, 2),
                "error": {
                    "type": type(error).__name__,
                    "code": error.code,
                    "status": error.status,
                    "message": error.message,
                    "reason": getattr(error, "reason", None),
                    "reason_code": getattr(error, "reason_code", None),
                    "decided_by": getattr(error, "decided_by", None),
                },
            }
        )
        return 3
    emit({"event": "done", "ran": True, "ran_with": ran[0], "seconds": round(time.monotonic() - started, 2)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
