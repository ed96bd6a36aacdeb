"""Unit tests of sdk/python/policy_api.py that need no stack: canonical JSON, error mapping, retries
and the guard's refusals, against a tiny in-process HTTP server. Run: python3 -m unittest discover
-s sdk/python/tests (test/node/sdk-python.test.ts runs them)."""

import base64
import json
import os
import sys
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from policy_api import (  # noqa: E402
    Cancelled,
    Denied,
    Expired,
    NetworkError,
    PolicyClient,
    PolicyError,
    ReceiptError,
    Rejected,
    WaitTimeout,
    canonical_json,
    payload_sha256,
)

REQUEST_ID = "apr_0123456789abcdef"
PAYLOAD = {"amount": 120}


def b64(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def receipt(**claims: object) -> dict:
    base = {"sub": REQUEST_ID, "payload_sha256": payload_sha256(PAYLOAD), "exp": time.time() + 600}
    base.update(claims)
    return {"jws": f"{b64({'alg': 'EdDSA', 'typ': 'policy-receipt+jwt'})}.{b64(base)}.c2ln", "receipt_id": "rcp_1"}


def decided(status: str, **fields: object) -> dict:
    request = {"request_id": REQUEST_ID, "status": status, "payload": PAYLOAD, "payload_hash": payload_sha256(PAYLOAD)}
    if status in ("approved", "auto_approved"):
        request["outcome"] = {"status": status, "may_proceed": True, "reason_code": "approved_by_quorum"}
    request.update(fields)
    return request


class FakeApi:
    """Answers from a script: each (method, path prefix) has a list of (status, headers, body) answers,
    the last repeated. body None with status 0 drops the connection."""

    def __init__(self, routes: dict) -> None:
        self.routes = routes
        self.calls: list = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fake.calls.append((self.command, self.path, dict(self.headers), body))
                for (method, prefix), answers in fake.routes.items():
                    if method == self.command and self.path.startswith(prefix):
                        status, headers, payload = answers.pop(0) if len(answers) > 1 else answers[0]
                        break
                else:
                    status, headers, payload = 404, {}, {"error": {"code": "not_found", "message": "no"}}
                if status == 0:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                raw = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = answer
            do_POST = answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def count(self, method: str, prefix: str) -> int:
        return sum(1 for call in self.calls if call[0] == method and call[1].startswith(prefix))


EVAL = ("POST", "/api/v1/policy/eval")
CREATE = ("POST", "/api/v1/policy/requests")
READ = ("GET", f"/api/v1/policy/requests/{REQUEST_ID}")
JWKS = ("GET", "/.well-known/jwks.json")
NEEDS_APPROVAL = (200, {}, {"decision": "requires_approval"})
FILED = (200, {}, {"request_id": REQUEST_ID, "status": "pending"})
SIGNING = (200, {}, {"keys": [{"kty": "OKP", "kid": "k1"}]})


class CanonicalJsonTest(unittest.TestCase):
    def test_sorted_compact_utf8(self) -> None:
        self.assertEqual(canonical_json({"b": 1, "a": [True, None, "é"]}), '{"a":[true,null,"é"],"b":1}')

    def test_integral_floats_are_written_as_javascript_does(self) -> None:
        self.assertEqual(canonical_json({"x": 1.0, "y": 2.5}), '{"x":1,"y":2.5}')

    def test_nan_is_refused(self) -> None:
        with self.assertRaises(ValueError):
            canonical_json({"x": float("nan")})

    def test_known_hash(self) -> None:
        # sha256 of {"amount":120}
        self.assertEqual(payload_sha256({"amount": 120}), __import__("hashlib").sha256(b'{"amount":120}').hexdigest())


class ClientTest(unittest.TestCase):
    def setUp(self) -> None:
        self.api: Optional[FakeApi] = None

    def tearDown(self) -> None:
        if self.api:
            self.api.close()

    def client(self, routes: dict, **options: object) -> PolicyClient:
        self.api = FakeApi(routes)
        options.setdefault("backoff", 0.01)
        return PolicyClient(self.api.url, "pak_test", timeout=5, **options)

    def run_guard(self, client: PolicyClient, **options: object) -> list:
        ran: list = []
        guarded = client.guard("payments.transfer", "demo", agent_id="bot-1", **options)(ran.append)
        try:
            guarded(dict(PAYLOAD))
        finally:
            self.ran = ran
        return ran

    def assert_refused(self, client: PolicyClient, error: type, **options: object) -> PolicyError:
        ran: list = []
        guarded = client.guard("payments.transfer", "demo", agent_id="bot-1", **options)(ran.append)
        with self.assertRaises(error) as caught:
            guarded(dict(PAYLOAD))
        self.assertEqual(ran, [], "the action must not run")
        return caught.exception

    def test_error_envelope_maps_to_fields(self) -> None:
        envelope = {"error": {"code": "forbidden", "message": "not yours", "details": {"x": 1}}, "request_id": "req_1"}
        client = self.client({EVAL: [(403, {}, envelope)]})
        with self.assertRaises(PolicyError) as caught:
            client.evaluate("s", "demo")
        error = caught.exception
        self.assertEqual((error.code, error.status, error.message, error.details, error.request_id),
                         ("forbidden", 403, "not yours", {"x": 1}, "req_1"))

    def test_policy_denied_on_filing_is_denied_with_reasons(self) -> None:
        envelope = {"error": {"code": "policy_denied", "message": "no", "details": {"reasons": ["shell"]}}}
        client = self.client({CREATE: [(403, {}, envelope)]})
        with self.assertRaises(Denied) as caught:
            client.request_approval("shell.exec", "demo", {}, "bot-1")
        self.assertEqual(caught.exception.reasons, ["shell"])

    def test_429_and_503_retried_honouring_retry_after_with_one_idempotency_key(self) -> None:
        limited = (429, {"Retry-After": "1"}, {"error": {"code": "rate_limited", "message": "slow"}})
        down = (503, {"Retry-After": "0"}, {"error": {"code": "database_unavailable", "message": "db"}})
        client = self.client({CREATE: [limited, down, FILED]})
        started = time.monotonic()
        created = client.request_approval("payments.transfer", "demo", PAYLOAD, "bot-1")
        self.assertEqual(created["request_id"], REQUEST_ID)
        self.assertGreaterEqual(time.monotonic() - started, 0.9)
        keys = {call[2].get("Idempotency-Key") for call in self.api.calls}
        self.assertEqual(len(self.api.calls), 3)
        self.assertEqual(len(keys), 1)
        self.assertTrue(next(iter(keys)).startswith("py-"))

    def test_retries_are_bounded(self) -> None:
        limited = (429, {"Retry-After": "0"}, {"error": {"code": "rate_limited", "message": "slow"}})
        client = self.client({EVAL: [limited]}, retries=2)
        with self.assertRaises(PolicyError) as caught:
            client.evaluate("s", "demo")
        self.assertEqual(caught.exception.code, "rate_limited")
        self.assertEqual(self.api.count("POST", "/api/v1/policy/eval"), 3)

    def test_retry_after_is_capped(self) -> None:
        client = PolicyClient("http://127.0.0.1:9", "k", max_retry_after=2)
        self.assertEqual(client._delay(0, "3600"), 2)

    def test_address_and_key_default_to_the_environment(self) -> None:
        saved = {name: os.environ.pop(name, None) for name in ("POLICY_API_URL", "POLICY_AGENT_KEY")}
        try:
            with self.assertRaises(ValueError) as caught:
                PolicyClient()
            self.assertIn("POLICY_AGENT_KEY", str(caught.exception))
            os.environ["POLICY_AGENT_KEY"] = "pk_from_env"
            self.assertEqual(PolicyClient().base_url, "http://127.0.0.1:8000")
            os.environ["POLICY_API_URL"] = "http://10.0.0.1:9000/"
            client = PolicyClient()
            self.assertEqual((client.base_url, client._api_key), ("http://10.0.0.1:9000", "pk_from_env"))
            # Arguments win over the environment.
            self.assertEqual(PolicyClient("http://x", "k")._api_key, "k")
        finally:
            for name, value in saved.items():
                os.environ.pop(name, None)
                if value is not None:
                    os.environ[name] = value

    def test_key_never_in_repr(self) -> None:
        self.assertNotIn("pak_secret", repr(PolicyClient("http://x", "pak_secret")))

    def test_wait_resumes_after_a_dropped_connection(self) -> None:
        client = self.client({READ: [(0, {}, None), (200, {}, decided("pending")), (200, {}, decided("approved"))]})
        self.assertEqual(client.wait_for_decision(REQUEST_ID, timeout=10)["status"], "approved")
        self.assertEqual(self.api.count("GET", READ[1]), 3)
        self.assertIn("wait=", self.api.calls[-1][1])

    def test_allow_runs_with_the_payload(self) -> None:
        client = self.client({EVAL: [(200, {}, {"decision": "allow"})]})
        self.assertEqual(self.run_guard(client), [PAYLOAD])

    def test_approved_runs_with_the_edited_payload_and_checks_the_receipt(self) -> None:
        edited = {"amount": 80}
        good = receipt(payload_sha256=payload_sha256(edited))
        request = decided("approved", approved_payload=edited, receipt=good)
        client = self.client({EVAL: [NEEDS_APPROVAL], CREATE: [FILED], READ: [(200, {}, request)], JWKS: [SIGNING]})
        self.assertEqual(self.run_guard(client), [edited])

    def test_refusals_never_run_the_action(self) -> None:
        outcome = {"reason": "not this week", "reason_code": "rejected_by_approver",
                   "decided_by": [{"role": "approver", "principal_id": "carol", "level": 4}]}
        cases = [
            ("deny", {EVAL: [(200, {}, {"decision": "deny"})]}, Denied),
            ("unknown decision", {EVAL: [(200, {}, {"decision": "maybe"})]}, Denied),
            ("rejected", {READ: [(200, {}, decided("rejected", outcome=outcome))]}, Rejected),
            ("expired", {READ: [(200, {}, decided("expired"))]}, Expired),
            ("cancelled", {READ: [(200, {}, decided("cancelled"))]}, Cancelled),
            ("no receipt", {READ: [(200, {}, decided("approved"))]}, ReceiptError),
            ("jwks down", {READ: [(200, {}, decided("approved"))], JWKS: [(500, {}, {})]}, ReceiptError),
            ("other request", {READ: [(200, {}, decided("approved", receipt=receipt(sub="apr_ffffffffffffffff")))]},
             ReceiptError),
            ("other payload", {READ: [(200, {}, decided("approved", receipt=receipt(payload_sha256="0" * 64)))]},
             ReceiptError),
            ("past not-after", {READ: [(200, {}, decided("approved", receipt=receipt(exp=time.time() - 1)))]},
             ReceiptError),
            ("not a jws", {READ: [(200, {}, decided("approved", receipt={"jws": "garbage"}))]}, ReceiptError),
            ("may_proceed false", {READ: [(200, {}, decided("approved", outcome={"may_proceed": False}))]},
             PolicyError),
            ("filed for another payload", {READ: [(200, {}, decided("approved", payload_hash="0" * 64))]},
             ReceiptError),
            ("404 on read", {READ: [(404, {}, {"error": {"code": "not_found", "message": "gone"}})]}, PolicyError),
        ]
        for name, routes, error in cases:
            with self.subTest(name):
                full = {EVAL: [NEEDS_APPROVAL], CREATE: [FILED], JWKS: [SIGNING]}
                full.update(routes)
                client = self.client(full)
                refused = self.assert_refused(client, error)
                if name == "rejected":
                    self.assertEqual(refused.reason, "not this week")
                    self.assertEqual(refused.decided_by[0]["principal_id"], "carol")
                self.api.close()
                self.api = None

    def test_verify_receipt_hook_refusing_or_raising_refuses(self) -> None:
        def boom(*_: object) -> bool:
            raise RuntimeError("bad signature")

        for hook in (lambda *_: False, boom):
            with self.subTest(hook=hook):
                request = decided("approved", receipt=receipt())
                client = self.client({EVAL: [NEEDS_APPROVAL], CREATE: [FILED], READ: [(200, {}, request)], JWKS: [SIGNING]},
                                     verify_receipt=hook)
                self.assert_refused(client, ReceiptError)
                self.api.close()
                self.api = None

    def test_wait_timeout_and_network_failure_refuse(self) -> None:
        client = self.client({EVAL: [NEEDS_APPROVAL], CREATE: [FILED], READ: [(200, {}, decided("pending"))]})
        self.assert_refused(client, WaitTimeout, wait_timeout=1.5)
        offline = PolicyClient("http://127.0.0.1:9", "k", timeout=1, retries=1, backoff=0.01)
        self.assert_refused(offline, NetworkError)

    def test_receipt_not_required_when_the_server_signs_none(self) -> None:
        client = self.client({EVAL: [NEEDS_APPROVAL], CREATE: [FILED], READ: [(200, {}, decided("approved"))],
                              JWKS: [(200, {}, {"keys": []})]})
        self.assertEqual(self.run_guard(client), [PAYLOAD])

    def test_guarded_context_runs_the_body_only_when_authorized(self) -> None:
        client = self.client({EVAL: [(200, {}, {"decision": "allow"}), (200, {}, {"decision": "deny"})]})
        with client.guarded("search.web", "demo", {"q": 1}, agent_id="bot-1") as ok:
            self.assertEqual((ok.payload, ok.decision), ({"q": 1}, "allow"))
        body_ran = False
        with self.assertRaises(Denied):
            with client.guarded("search.web", "demo", {"q": 1}, agent_id="bot-1"):
                body_ran = True
        self.assertFalse(body_ran)

    def test_resume_skips_filing(self) -> None:
        client = self.client({READ: [(200, {}, decided("approved", receipt=receipt()))], JWKS: [SIGNING]})
        self.assertEqual(self.run_guard(client, request_id=REQUEST_ID), [PAYLOAD])
        self.assertEqual(self.api.count("POST", "/"), 0)


if __name__ == "__main__":
    unittest.main()
