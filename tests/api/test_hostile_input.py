"""Generated hostile input (hypothesis): whatever a client sends, the answer is never a 500, and
every error is a problem document. (ARCHITECTURE.md: "Bad input (malformed, oversized, wrong
encoding, hostile) gets a clear 4xx error".)"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import Api, World
from tests.api.test_endpoints import JSON_BODIES, Endpoint

# Text with the awkward characters: controls, NUL, combining marks, RTL, surrogate-free astral.
texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40
) | st.sampled_from(["", " ", "\x00", "\x1f", "e\u0301", "\u202e", "🌸", "0" * 300, "null"])
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=12,
)

HYPOTHESIS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def assert_answered(response: Any) -> None:
    assert response.status_code < 500, response.content.decode()
    if response.status_code >= 400:
        assert response["Content-Type"].startswith("application/problem+json")
        json.loads(response.content)


def mutated(endpoint: Endpoint) -> st.SearchStrategy[dict[str, Any]]:
    """The endpoint's valid body with any of its values replaced, and maybe extra keys."""
    valid = endpoint.valid()
    return st.fixed_dictionaries(
        {key: st.just(value) | json_values for key, value in valid.items()},
        optional={"extra": json_values},
    )


def generated_calls() -> st.SearchStrategy[tuple[Endpoint, dict[str, Any]]]:
    return st.sampled_from(JSON_BODIES).flatmap(lambda e: st.tuples(st.just(e), mutated(e)))


@HYPOTHESIS
@given(call=generated_calls())
def test_mutated_bodies_never_cause_a_500(api: Api, world: World, call: Any) -> None:
    endpoint, body = call
    assert_answered(endpoint.call(api, world, data=body))


@HYPOTHESIS
@given(endpoint=st.sampled_from(JSON_BODIES), raw=st.binary(max_size=200))
def test_arbitrary_bytes_never_cause_a_500(
    api: Api, world: World, endpoint: Endpoint, raw: bytes
) -> None:
    assert_answered(endpoint.call(api, world, raw=raw))


@HYPOTHESIS
@given(purpose=texts, value=texts)
def test_arbitrary_query_strings_never_cause_a_500(
    api: Api, world: World, purpose: str, value: str
) -> None:
    for path, query in (
        ("/customers/lookup", {"purpose": purpose, "full_name": value}),
        (f"/customers/{world.a}", {"purpose": purpose, "fields": value}),
        ("/guarantees/lookup", {"purpose": purpose, "number": value}),
    ):
        assert_answered(api.get(path, **query))
