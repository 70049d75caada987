from __future__ import annotations

import pytest

from archetype_ecs import errors
from archetype_ecs.errors import (
    AccessConflictError,
    ComponentNotRegisteredError,
    EcsError,
    EntityNotAliveError,
    InternalError,
    MissingComponentError,
    ResourceNotFoundError,
    ScheduleCycleError,
    SchemaError,
    SerializationError,
    StructuralChangeError,
    coded,
)


def test_coded_frames_message_with_code_and_docs_page():
    assert coded("E0001", "entity 3v1 is not alive") == (
        "[E0001] entity 3v1 is not alive (see docs/errors/E0001.md)"
    )


def test_error_codes_are_distinct_and_well_formed():
    codes = [v for k, v in vars(errors).items() if k.startswith("E_")]
    assert len(codes) >= 10
    assert len(set(codes)) == len(codes)
    assert all(c.startswith("E00") and len(c) == 5 for c in codes)


@pytest.mark.parametrize(
    ("exc", "builtin"),
    [
        (EntityNotAliveError, LookupError),
        (ComponentNotRegisteredError, LookupError),
        (MissingComponentError, LookupError),
        (ResourceNotFoundError, LookupError),
        (SchemaError, TypeError),
        (StructuralChangeError, RuntimeError),
        (AccessConflictError, RuntimeError),
        (ScheduleCycleError, RuntimeError),
        (SerializationError, ValueError),
        (InternalError, AssertionError),
    ],
)
def test_every_error_is_an_ecs_error_and_its_builtin(exc, builtin):
    assert issubclass(exc, EcsError)
    assert issubclass(exc, builtin)


def test_internal_error_asks_for_a_report():
    message = str(InternalError("table 3 lost a column"))
    assert message.startswith("table 3 lost a column; this is a bug")
    assert errors.ISSUES_URL in message
