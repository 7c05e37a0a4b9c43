"""Locksmith's hooks for Schemathesis (scripts/fuzz-api.sh).

1. A check: every problem answer has a request id, matching x-request-id.
2. A before_call hook for the rules the OpenAPI document states in words but JSON Schema
   cannot (a password that is not common, an expiry in the future, a CIDR network without
   host bits, a usage range of at most 2208 hours, a cursor the server issued...). In the
   *positive* phases Schemathesis generates data that matches the schema and expects it
   accepted; the hook moves such data onto the right side of those rules, value by value,
   so that the positive checks test everything else instead of failing on them. Negative
   cases are never touched: they must still be refused. Each rule says where the server
   enforces it and which test covers it there.
"""

import datetime
import ipaddress
import os
import secrets

import schemathesis
from schemathesis import GenerationMode

# 1970-01-01 to 9999-12-31: `core::timestamp::in_range`.
EARLIEST = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
LATEST = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.timezone.utc)


@schemathesis.check
def problem_has_request_id(ctx, response, case):
    """Every RFC 9457 answer carries the request id, in its body and in x-request-id."""
    content_type = (response.headers.get("content-type") or [""])[0]
    if not content_type.startswith("application/problem+json"):
        return None
    body = response.json()
    request_id = body.get("request_id")
    if not request_id:
        raise AssertionError(f"problem body without request_id: {body}")
    header = (response.headers.get("x-request-id") or [None])[0]
    if header != request_id:
        raise AssertionError(f"request_id {request_id!r} differs from x-request-id {header!r}")
    for field in ("type", "title", "status", "detail", "code"):
        if field not in body:
            raise AssertionError(f"problem body without {field}: {body}")
    return None


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _parse_time(value):
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None


def _iso(at):
    return at.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def _in_range(value):
    """A date-time inside the years Locksmith stores (`core::timestamp`)."""
    at = _parse_time(value)
    if at is None or at.tzinfo is None or not EARLIEST <= at <= LATEST:
        return _iso(_now())
    return value


def _future(value):
    """`expires_at` must be in the future, and within 100 years (`keys::service`,
    tests/api/keys.rs)."""
    at = _parse_time(value)
    latest = _now() + datetime.timedelta(days=365 * 99)
    if at is None or at.tzinfo is None or not _now() + datetime.timedelta(minutes=5) < at <= latest:
        return _iso(_now() + datetime.timedelta(days=1))
    return value


def _address(entry):
    """An allowlist entry: an address, or a network without host bits
    (`keys::model::parse_net`, tests in core/src/keys/model.rs)."""
    if not isinstance(entry, str) or "%" in entry:
        return "203.0.113.7"
    try:
        if "/" in entry:
            ipaddress.ip_network(entry, strict=True)
        else:
            ipaddress.ip_address(entry)
        return entry
    except ValueError:
        return "203.0.113.7"


def _integral(value):
    """Locksmith reads JSON integers as written: `2625.0` is refused where JSON Schema
    would call it an integer (`api::extract::json_object`)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def _unique(values):
    """Scope lists refuse duplicates (`core::scope::Scope::parse_list`)."""
    if not isinstance(values, list):
        return values
    seen, out = set(), []
    for v in values:
        if v not in seen:
            seen.add(v)
            out.append(v)
    return out


def _not_blank(body, field):
    """Names are "not blank" after trimming (`keys::model::KeyName`, `DisplayName`); the
    document's pattern refuses control characters but cannot say "not only spaces"."""
    value = body.get(field)
    if isinstance(value, str) and not value.strip():
        body[field] = "fuzzed " + value


def _key_fields(body, keyspace_id=None):
    if not isinstance(body, dict):
        return body
    _not_blank(body, "name")
    # An owner must be an existing user (400 naming `owner_id`, tests/api/keys.rs); the
    # caller owns the key when it is absent.
    body.pop("owner_id", None)
    if "keyspace_id" in body:
        # A key goes into an existing keyspace (400 naming `keyspace_id`), and a bulk
        # item's into the batch's (tests/api/keys.rs): the fuzzer's own keyspace.
        body["keyspace_id"] = keyspace_id or os.environ["LOCKSMITH_FUZZ_KEYSPACE_ID"]
    if isinstance(body.get("expires_at"), str):
        body["expires_at"] = _future(body["expires_at"])
    if isinstance(body.get("ip_allowlist"), list):
        body["ip_allowlist"] = list(dict.fromkeys(_address(e) for e in body["ip_allowlist"]))
    if "scopes" in body:
        body["scopes"] = _unique(body["scopes"])
    if "meta" in body:
        # At most 4 KiB, and numbers that round-trip (`keys::model::Meta`).
        body["meta"] = {"fuzzed": True}
    return body


def _user_fields(body):
    if not isinstance(body, dict):
        return body
    if isinstance(body.get("password"), str):
        # Common, trivial or email-containing passwords are refused
        # (`identity::password`, its unit tests).
        body["password"] = "fz " + secrets.token_urlsafe(18)
    if isinstance(body.get("email"), str):
        # The server's address rules are stricter than JSON Schema's `email` format
        # (`identity::email`, its unit tests); a fresh one also avoids 409s.
        body["email"] = f"fz{secrets.token_hex(6)}@example.com"
    if "allowed_scopes" in body:
        body["allowed_scopes"] = _unique(body["allowed_scopes"])
    _not_blank(body, "display_name")
    return body


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    meta = getattr(case, "meta", None)
    mode = getattr(getattr(meta, "generation", None), "mode", None)
    if mode != GenerationMode.POSITIVE:
        return
    operation = getattr(case.operation, "label", "")
    query = case.query if isinstance(case.query, dict) else None
    if query is not None:
        # Cursors are opaque and issued by the server (`keys::listing::KeyCursor`).
        query.pop("cursor", None)
        for field in ("from", "to"):
            if isinstance(query.get(field), str):
                query[field] = _in_range(query[field])
        if operation.endswith("/usage") and ("from" in query or "to" in query):
            # At most 2208 hourly or 731 daily buckets, `from` before `to`
            # (`usage::UsageRange::new`, its unit tests): one day back from `to`.
            to = _parse_time(query.get("to")) or _now()
            if to - datetime.timedelta(days=1) < EARLIEST:
                to = _now()
            query["to"] = _iso(to)
            query["from"] = _iso(to - datetime.timedelta(days=1))
    body = _integral(case.body) if isinstance(case.body, (dict, list)) else case.body
    if operation in ("POST /v1/keys", "PATCH /v1/keys/{id}"):
        body = _key_fields(body)
    elif operation == "POST /v1/keys/bulk" and isinstance(body, dict):
        if body.get("action") == "create":
            body["keyspace_id"] = os.environ["LOCKSMITH_FUZZ_KEYSPACE_ID"]
        if isinstance(body.get("items"), list):
            # A body over 64 KiB is refused before it is read (413, tests/api/errors.rs),
            # a limit JSON Schema cannot state: twenty keys stay well under it.
            body["items"] = [_key_fields(item, body.get("keyspace_id")) for item in body["items"][:20]]
        if isinstance(body.get("ids"), list) and body["ids"]:
            # Revoking is all or nothing, and an id that names no key refuses the batch
            # (tests/api/keys.rs): the keys the fuzz script made, as many as were asked.
            known = os.environ["LOCKSMITH_FUZZ_KEY_IDS"].split(",")
            body["ids"] = known[: max(1, min(len(body["ids"]), len(known)))]
    elif operation in ("POST /v1/users", "PATCH /v1/users/{id}"):
        body = _user_fields(body)
    elif operation in ("POST /v1/keyspaces", "POST /v1/keyspaces/{id}/verifiers") and isinstance(body, dict):
        _not_blank(body, "name")
    elif operation == "POST /v1/verify" and isinstance(body, dict):
        if "client_ip" in body:
            body["client_ip"] = _address(body["client_ip"]).split("/")[0]
        if "scopes" in body:
            body["scopes"] = _unique(body["scopes"])
    if body is not case.body:
        case.body = body
