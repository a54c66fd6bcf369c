"""The normalising pass's own rule for attribute names agrees with openapi-python-client's."""

from __future__ import annotations

import pytest
from openapi_python_client.strings import PythonIdentifier

from tasks.core.codegen.pyprep import _python_name

NAMES = [
    "id",
    "ID",
    "Id",
    "userId",
    "user_id",
    "user-id",
    "UserId",
    "USER_ID",
    "user id",
    "user.id",
    "_",
    "__x",
    "_private",
    "$",
    "$ref",
    "@type",
    "+1",
    "1st",
    "2fa_code",
    "a b",
    "😀",
    "Ünïcode",
    "class",
    "Class",
    "self",
    "Self",
    "true",
    "True",
    "None",
    "list",
    "type",
    "datetime",
    "date",
    "from_dict",
    "to_dict",
    "additionalProperties",
    "additional_properties",
    "d",
    "Item",
    "item",
    "HTTPResponse",
    "getHTTPResponseCode",
    "XMLHttpRequest",
    "snake_case_2",
    "field_",
    "x-y_z",
    "keys",
    "values",
    "async",
    "await",
    "print",
    "id_",
    "ÅngströmUnit",
    "camelCase42Value",
]


@pytest.mark.parametrize("name", NAMES)
def test_attribute_names_match_openapi_python_client(name: str) -> None:
    assert _python_name(name) == str(PythonIdentifier(name, "field_"))
