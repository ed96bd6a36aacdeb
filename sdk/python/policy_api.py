"""Policy API client for Python agents: one module, standard library only (Python 3.9+).

Copy this file next to your agent. It evaluates a skill call, files an approval request, waits for
the decision (long-poll, resuming after a dropped connection) and guards an action so that it runs
only when allowed or approved, with the approved payload. Everything else fails closed: deny,
reject, expiry, cancel, timeout, a network failure or a bad receipt raise and never run the action.

Receipts: the standard library has no Ed25519, so this module does NOT verify a receipt's signature.
It checks what it can without cryptography (the receipt is there, it names this request, it binds the
SHA-256 of the payload about to run, it is not past its not-after); pass ``verify_receipt=`` a
callable backed by a JOSE library (PyJWT, joserfc) for the signature. See docs/SDK.md.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http.client
import json
import math
import os
import random
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional, Union
from contextlib import contextmanager

__all__ = [
    "PolicyClient",
    "Authorization",
    "PolicyError",
    "Denied",
    "Rejected",
    "Expired",
    "Cancelled",
    "WaitTimeout",
    "NetworkError",
    "ReceiptError",
    "canonical_json",
    "payload_sha256",
]

OPEN_STATUSES = ("pending", "escalated")
MAY_PROCEED = ("approved", "auto_approved")
MAX_WAIT_SECONDS = 55  # the server's bound on ?wait=
DEFAULT_BASE_URL = "http://127.0.0.1:8000"  # what `npm run dev` serves

JsonObject = Dict[str, Any]


class PolicyError(Exception):
    """Any refusal or failure. ``code`` is the API's error code (switch on it, never on ``message``)."""

    def __init__(
        self,
        code: str,
        status: Optional[int] = None,
        message: str = "",
        details: Any = None,
        request_id: Optional[str] = None,
    ) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.status = status
        self.message = message
        self.details = details
        self.request_id = request_id


class Denied(PolicyError):
    """The policy denies the call (evaluation said deny, or filing answered 403 policy_denied)."""

    @property
    def reasons(self) -> List[str]:
        details = self.details if isinstance(self.details, dict) else {}
        reasons = details.get("reasons")
        return [str(r) for r in reasons] if isinstance(reasons, list) else []


class _Decided(PolicyError):
    """A request that was decided against running: the outcome as data, never as control flow."""

    def __init__(self, code: str, request: JsonObject) -> None:
        outcome = request.get("outcome") if isinstance(request.get("outcome"), dict) else {}
        super().__init__(
            code,
            None,
            f"request {request.get('request_id')} is {request.get('status')}",
            outcome,
            None,
        )
        self.approval_request_id: Optional[str] = request.get("request_id")
        self.outcome: JsonObject = outcome or {}
        # Text a person wrote: surfaced as a field, never parsed.
        self.reason: Optional[str] = self.outcome.get("reason")
        self.reason_code: Optional[str] = self.outcome.get("reason_code")
        self.decided_by: List[JsonObject] = list(self.outcome.get("decided_by") or [])


class Rejected(_Decided):
    def __init__(self, request: JsonObject) -> None:
        super().__init__("rejected", request)


class Expired(_Decided):
    def __init__(self, request: JsonObject) -> None:
        super().__init__("expired", request)


class Cancelled(_Decided):
    def __init__(self, request: JsonObject) -> None:
        super().__init__("cancelled", request)


class WaitTimeout(PolicyError):
    """Still undecided when the caller's wait ran out; the request may still be decided later."""


class NetworkError(PolicyError):
    """The API could not be reached, or the connection dropped, after the retries."""


class ReceiptError(PolicyError):
    """Approved, but the receipt is missing or does not bind this request and payload."""


# --- canonical JSON -------------------------------------------------------------------------------


def _normalize(value: Any) -> Any:
    # JavaScript writes an integral number without a fraction (1.0 is "1"): match the server's hash.
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalize(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """Keys sorted, no whitespace, UTF-8 text: the server's canonical JSON (RFC 8785) for ordinary
    payloads. It differs for floats Python writes with an exponent JavaScript does not (1e-05 vs
    0.00001, 1e+16 vs 10000000000000000) and for keys outside the Basic Multilingual Plane mixed with
    keys above U+E000 (sorted by code point here, by UTF-16 unit there). A difference never runs an
    action: the payload hash then fails to match and the guard refuses."""
    return json.dumps(
        _normalize(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def payload_sha256(payload: Any) -> str:
    """Lower-case hex SHA-256 of the canonical JSON: the API's ``payload_hash``."""
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def _b64url_json(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8"))


class Authorization:
    """What the guard runs with: the payload (the approver's edit when there was one) and why."""

    def __init__(
        self,
        payload: JsonObject,
        decision: str,
        request_id: Optional[str] = None,
        request: Optional[JsonObject] = None,
        receipt_claims: Optional[JsonObject] = None,
    ) -> None:
        self.payload = payload
        self.decision = decision
        self.request_id = request_id
        self.request = request
        self.receipt_claims = receipt_claims

    @property
    def payload_modified(self) -> bool:
        return bool(self.request and "approved_payload" in self.request)


class PolicyClient:
    """A client for one API key. ``retries`` bounds the retries of one call (429, 503, network).

    ``base_url`` defaults to $POLICY_API_URL, else http://127.0.0.1:8000; ``api_key`` to $POLICY_AGENT_KEY.
    """

    def __init__(
        self,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_retry_after: float = 30.0,
        require_receipt: Union[bool, str] = "auto",
        verify_receipt: Optional[Callable[[str, JsonObject, str], Any]] = None,
        user_agent: str = "policy-api-python/0.1",
    ) -> None:
        base_url = base_url or os.environ.get("POLICY_API_URL") or DEFAULT_BASE_URL
        api_key = api_key or os.environ.get("POLICY_AGENT_KEY")
        if not api_key:
            # The caller's setup, not an API answer: said before any call.
            raise ValueError("PolicyClient: no API key: pass api_key or set POLICY_AGENT_KEY to an agent key")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        # "auto": required when the server publishes receipt keys (GET /.well-known/jwks.json).
        self.require_receipt = require_receipt
        self.verify_receipt = verify_receipt
        self.user_agent = user_agent
        self._receipts_issued: Optional[bool] = None

    def __repr__(self) -> str:  # never print the key
        return f"PolicyClient({self.base_url!r})"

    # --- transport --------------------------------------------------------------------------------

    def _once(
        self, method: str, path: str, body: Any, headers: Dict[str, str], timeout: float
    ) -> "tuple[int, Dict[str, str], Any]":
        data = None if body is None else json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self._api_key}")
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", self.user_agent)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in headers.items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, answer_headers, raw = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            status, answer_headers = error.code, dict(error.headers or {})
            try:
                raw = error.read()
            except (OSError, http.client.HTTPException) as inner:
                raise NetworkError("network_error", None, f"{method} {path}: {inner}") from inner
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
            # URLError, RemoteDisconnected, IncompleteRead, timeouts, resets: the connection failed.
            raise NetworkError("network_error", None, f"{method} {path}: {error}") from error
        try:
            parsed = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, ValueError) as error:
            if 200 <= status < 300:
                # A cut-off body is a dropped connection, not an answer.
                raise NetworkError("network_error", status, f"{method} {path}: unreadable body") from error
            parsed = None
        return status, {k.lower(): v for k, v in answer_headers.items()}, parsed

    def _delay(self, attempt: int, retry_after: Optional[str]) -> float:
        if retry_after is not None:
            try:
                return min(max(0.0, float(retry_after)), self.max_retry_after)
            except ValueError:
                pass  # an HTTP date: fall back to the backoff
        return min(self.backoff * (2**attempt) * (1 + random.random() / 2), self.max_retry_after)

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Optional[Dict[str, str]] = None,
        timeout: Optional[float] = None,
    ) -> Any:
        """One API call: retries 429 and 503 (honouring Retry-After) and network failures, bounded."""
        attempt = 0
        while True:
            try:
                status, answer_headers, parsed = self._once(
                    method, path, body, headers or {}, timeout if timeout is not None else self.timeout
                )
            except NetworkError:
                if attempt >= self.retries:
                    raise
                time.sleep(self._delay(attempt, None))
                attempt += 1
                continue
            if 200 <= status < 300:
                return parsed
            if status in (429, 503) and attempt < self.retries:
                time.sleep(self._delay(attempt, answer_headers.get("retry-after")))
                attempt += 1
                continue
            raise _error_from(status, parsed, answer_headers)

    # --- the API --------------------------------------------------------------------------------

    def evaluate(
        self,
        skill_id: str,
        tenant_id: str,
        payload: Optional[JsonObject] = None,
        agent_id: Optional[str] = None,
        policy_type: str = "cost",
        **extra: Any,
    ) -> JsonObject:
        """POST /api/v1/policy/eval: ``decision`` is allow, deny or requires_approval."""
        body: JsonObject = {"skill_id": skill_id, "tenant_id": tenant_id, "payload": payload or {}}
        body["policy_type"] = policy_type
        if agent_id is not None:
            body["agent_id"] = agent_id
        body.update(extra)
        return self._call("POST", "/api/v1/policy/eval", body)

    def request_approval(
        self,
        skill_id: str,
        tenant_id: str,
        payload: Optional[JsonObject] = None,
        requested_by: Optional[str] = None,
        agent_id: Optional[str] = None,
        policy_type: str = "cost",
        justification: Optional[str] = None,
        expires_in_seconds: Optional[int] = None,
        idempotency_key: Optional[str] = None,
        **extra: Any,
    ) -> JsonObject:
        """POST /api/v1/policy/requests. One Idempotency-Key (generated unless given) for every
        retry, so a retried filing never files twice. Raises Denied when the policy denies."""
        who = requested_by or agent_id
        if not who:
            raise ValueError("request_approval needs requested_by (or agent_id)")
        body: JsonObject = {
            "policy_type": policy_type,
            "skill_id": skill_id,
            "tenant_id": tenant_id,
            "payload": payload or {},
            "requested_by": who,
        }
        if agent_id is not None:
            body["agent_id"] = agent_id
        if justification is not None:
            body["justification"] = justification
        if expires_in_seconds is not None:
            body["expires_in_seconds"] = expires_in_seconds
        body.update(extra)
        key = idempotency_key or f"py-{uuid.uuid4()}"
        return self._call("POST", "/api/v1/policy/requests", body, {"Idempotency-Key": key})

    def get_request(self, request_id: str, wait: Optional[int] = None) -> JsonObject:
        """GET /api/v1/policy/requests/{id}, held up to ``wait`` s (≤ 55) until decided."""
        path = f"/api/v1/policy/requests/{urllib.parse.quote(request_id, safe='')}"
        if wait:
            wait = max(1, min(int(wait), MAX_WAIT_SECONDS))
            # The socket outlives the server's hold, which answers at its deadline.
            return self._call("GET", f"{path}?wait={wait}", timeout=wait + max(self.timeout, 10.0))
        return self._call("GET", path)

    def redeem_receipt(self, receipt_id: str) -> JsonObject:
        """POST /api/v1/policy/receipts/{id}/redeem: uses the approval once. A receipt redeemed before
        (or past its not-after) raises ReceiptError ``receipt_already_redeemed`` (409)."""
        path = f"/api/v1/policy/receipts/{urllib.parse.quote(receipt_id, safe='')}/redeem"
        try:
            return self._call("POST", path, {})
        except PolicyError as error:
            if error.status == 409:
                # A retry after a lost answer lands here too: refusing then is the safe side.
                raise ReceiptError(
                    "receipt_already_redeemed", 409, f"receipt {receipt_id} was redeemed already", error.details
                ) from error
            raise

    def cancel(self, request_id: str, reason: Optional[str] = None) -> JsonObject:
        path = f"/api/v1/policy/requests/{urllib.parse.quote(request_id, safe='')}/cancel"
        return self._call("POST", path, {"reason": reason} if reason is not None else {})

    def wait_for_decision(self, request_id: str, timeout: float = 300.0) -> JsonObject:
        """Long-polls until the request is decided and returns it (whatever the decision), or raises
        WaitTimeout. A dropped connection or a refused wait is resumed until the timeout."""
        deadline = time.monotonic() + timeout
        failures = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout("wait_timeout", None, f"request {request_id} undecided after {timeout} s")
            try:
                request = self.get_request(request_id, wait=max(1, min(MAX_WAIT_SECONDS, math.ceil(remaining))))
                failures = 0
            except (NetworkError, PolicyError) as error:
                # Resume after a drop or a 429/503 past the retries; anything else (404, 401) is final.
                if isinstance(error, NetworkError) or error.status in (429, 503):
                    failures += 1
                    time.sleep(min(self._delay(failures - 1, None), max(0.0, deadline - time.monotonic())))
                    continue
                raise
            if not isinstance(request, dict):
                raise NetworkError("network_error", None, f"request {request_id}: unexpected answer")
            if request.get("status") not in OPEN_STATUSES:
                return request

    def receipts_issued(self) -> bool:
        """Whether the server signs receipts (its JWKS has a key). Unknown counts as yes: fail closed."""
        if self._receipts_issued is None:
            try:
                jwks = self._call("GET", "/.well-known/jwks.json")
                keys = jwks.get("keys") if isinstance(jwks, dict) else None
                self._receipts_issued = bool(keys)
            except PolicyError:
                return True
        return self._receipts_issued

    def check_receipt(self, request: JsonObject, payload: JsonObject) -> Optional[JsonObject]:
        """The checks the standard library can make (no signature: see the module's docstring).
        Returns the receipt's claims, or None when the server issues no receipts; raises ReceiptError."""
        required = self.require_receipt
        if required == "auto":
            required = self.receipts_issued()
        receipt = request.get("receipt")
        jws = receipt.get("jws") if isinstance(receipt, dict) else None
        request_id = request.get("request_id")
        if not isinstance(jws, str) or not jws:
            if required:
                raise ReceiptError("receipt_missing", None, f"request {request_id} carries no receipt")
            return None
        try:
            header_part, claims_part, _signature = jws.split(".")
            header = _b64url_json(header_part)
            claims = _b64url_json(claims_part)
        except (ValueError, UnicodeDecodeError) as error:
            raise ReceiptError("receipt_malformed", None, "the receipt is not a compact JWS") from error
        if not isinstance(header, dict) or header.get("typ") != "policy-receipt+jwt":
            raise ReceiptError("receipt_malformed", None, "the receipt is not a policy receipt")
        if not isinstance(claims, dict) or claims.get("sub") != request_id:
            raise ReceiptError("receipt_wrong_request", None, f"the receipt is not for request {request_id}")
        if claims.get("payload_sha256") != payload_sha256(payload):
            raise ReceiptError("receipt_payload_mismatch", None, "the receipt binds another payload")
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp <= time.time():
            raise ReceiptError("receipt_expired", None, "the receipt is past its not-after")
        if self.verify_receipt is not None:
            # The caller's JOSE check of the signature; any exception or a falsy answer refuses.
            try:
                ok = self.verify_receipt(jws, payload, str(request_id))
            except Exception as error:  # noqa: BLE001 - whatever it raises, the action does not run
                raise ReceiptError("receipt_invalid", None, f"verify_receipt refused: {error}") from error
            if not ok:
                raise ReceiptError("receipt_invalid", None, "verify_receipt refused the receipt")
        return claims

    # --- the guard --------------------------------------------------------------------------------

    def authorize(
        self,
        skill_id: str,
        tenant_id: str,
        payload: Optional[JsonObject] = None,
        agent_id: Optional[str] = None,
        requested_by: Optional[str] = None,
        policy_type: str = "cost",
        justification: Optional[str] = None,
        wait_timeout: float = 300.0,
        request_id: Optional[str] = None,
        on_filed: Optional[Callable[[JsonObject], None]] = None,
        redeem: bool = False,
        **extra: Any,
    ) -> Authorization:
        """Evaluate, and when approval is needed file, wait and check: returns what to run with, or
        raises. ``request_id`` resumes a request filed earlier (a second invocation after a restart);
        ``on_filed`` gets the filing's answer at once (persist its ``request_id`` there); ``redeem``
        redeems the approval's receipt before answering, so the approval runs an action once."""
        payload = dict(payload or {})
        if request_id is None:
            evaluation = self.evaluate(skill_id, tenant_id, payload, agent_id, policy_type)
            decision = evaluation.get("decision")
            if decision == "allow":
                return Authorization(payload, "allow")
            if decision != "requires_approval":
                # deny, or anything this client does not know: do not run.
                raise Denied("policy_denied", None, f"evaluation said {decision}", evaluation)
            try:
                created = self.request_approval(
                    skill_id,
                    tenant_id,
                    payload,
                    requested_by,
                    agent_id,
                    policy_type,
                    justification,
                    **extra,
                )
            except PolicyError as error:
                if error.code == "policy_denied" and not isinstance(error, Denied):
                    raise Denied(error.code, error.status, error.message, error.details, error.request_id) from error
                raise
            request_id = str(created["request_id"])
            if on_filed is not None:
                on_filed(created)
        request = self.wait_for_decision(request_id, timeout=wait_timeout)
        status = request.get("status")
        if status == "rejected":
            raise Rejected(request)
        if status == "expired":
            raise Expired(request)
        if status == "cancelled":
            raise Cancelled(request)
        if request.get("payload_hash") != payload_sha256(payload):
            # Resumed with another payload than the one filed (or a hash this module cannot reproduce).
            raise ReceiptError("payload_mismatch", None, f"request {request_id} was filed for another payload")
        outcome = request.get("outcome")
        if status not in MAY_PROCEED or (isinstance(outcome, dict) and outcome.get("may_proceed") is not True):
            raise PolicyError("not_approved", None, f"request {request_id} is {status}", outcome)
        # The approver's edit, when one stands, is what runs.
        run_with = request["approved_payload"] if "approved_payload" in request else payload
        if not isinstance(run_with, dict):
            raise ReceiptError("payload_mismatch", None, "the approved payload is not an object")
        claims = self.check_receipt(request, run_with)
        if redeem:
            receipt = request.get("receipt")
            receipt_id = receipt.get("receipt_id") if isinstance(receipt, dict) else None
            if not isinstance(receipt_id, str) or not receipt_id:
                raise ReceiptError("receipt_missing", None, f"request {request_id} carries no receipt to redeem")
            self.redeem_receipt(receipt_id)
        return Authorization(run_with, str(status), request_id, request, claims)

    @contextmanager
    def guarded(
        self, skill_id: str, tenant_id: str, payload: Optional[JsonObject] = None, **options: Any
    ) -> Iterator[Authorization]:
        """``with client.guarded(...) as ok: run(ok.payload)``: the body runs only when authorized."""
        yield self.authorize(skill_id, tenant_id, payload, **options)

    def guard(
        self, skill_id: str, tenant_id: str, **options: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: the function's first argument is the payload; it is called with the payload to
        run (the approved one when an approver changed it), and never when the call is not authorized."""

        def decorate(action: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(action)
            def wrapper(payload: JsonObject, *args: Any, **kwargs: Any) -> Any:
                authorization = self.authorize(skill_id, tenant_id, payload, **options)
                return action(authorization.payload, *args, **kwargs)

            return wrapper

        return decorate


def _error_from(status: int, parsed: Any, headers: Dict[str, str]) -> PolicyError:
    """The error envelope {error: {code, message, details?}, request_id} as a typed exception."""
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        code = "http_error"
        return (NetworkError if status >= 500 else PolicyError)(
            code, status, f"HTTP {status} without an error envelope", None, headers.get("x-request-id")
        )
    code = str(error.get("code") or "http_error")
    request_id = error.get("request_id") or parsed.get("request_id") or headers.get("x-request-id")
    cls = Denied if code == "policy_denied" else PolicyError
    return cls(code, status, str(error.get("message") or ""), error.get("details"), request_id)
