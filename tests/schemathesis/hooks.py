"""Schemathesis hooks for the tracker's API run by `tests/api/schemathesis.rs`.

- `problem_json`: a check that every 4xx / 5xx answer is RFC 9457 `application/problem+json` with `type`,
  `title` and `status` (the answer's own status).
- Half of the generated programme ids are replaced by `connection`, a seeded programme, so that operations
  below `/v1/programmes/{id}` get past the 404 and their bodies and queries are exercised.
- The token the run uses is never revoked by the run itself: `DELETE /v1/tokens/{name}` is not sent with the
  name given in `TRACKER_SCHEMATHESIS_TOKEN_NAME` (every other name is).
"""

import json
import os

import schemathesis

PROTECTED_TOKEN = os.environ.get("TRACKER_SCHEMATHESIS_TOKEN_NAME", "")


@schemathesis.check
def problem_json(ctx, response, case):
    """Every error answer is application/problem+json with type, title and status."""
    if response.status_code < 400:
        return None
    content_type = ",".join(response.headers.get("content-type", []))
    if not content_type.startswith("application/problem+json"):
        raise AssertionError(
            f"{response.status_code} answered with Content-Type {content_type!r}, not application/problem+json"
        )
    try:
        problem = json.loads(response.content)
    except ValueError as error:
        raise AssertionError(f"the problem body is not JSON: {error}") from None
    if not isinstance(problem, dict):
        raise AssertionError("the problem body is not a JSON object")
    for field, kind in (("type", str), ("title", str), ("status", int)):
        if not isinstance(problem.get(field), kind):
            raise AssertionError(f"the problem has no {kind.__name__} {field!r}: {problem}")
    if problem["status"] != response.status_code:
        raise AssertionError(f"the problem says status {problem['status']}, the answer {response.status_code}")
    return None


@schemathesis.hook
def filter_path_parameters(ctx, path_parameters):
    """Keeps the run's own token: never revoke it."""
    if not PROTECTED_TOKEN or path_parameters is None:
        return True
    operation = ctx.operation
    if operation.method.upper() == "DELETE" and operation.path == "/v1/tokens/{name}":
        return path_parameters.get("name") != PROTECTED_TOKEN
    return True


@schemathesis.hook
def map_path_parameters(ctx, path_parameters):
    """Points half of the programme ids at a programme that exists."""
    if path_parameters and isinstance(path_parameters.get("id"), str) and len(path_parameters["id"]) % 2 == 0:
        path_parameters["id"] = "connection"
    return path_parameters
