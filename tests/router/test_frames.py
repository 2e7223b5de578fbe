"""OCPP-J RPC frames (Part 4 §4): parsing, per-version error codes, the frames the LC builds."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.frames import (
    MAX_MESSAGE_ID_LENGTH,
    Call,
    CallError,
    CallResult,
    ErrorKind,
    FrameError,
    OcppVersion,
    call_error_text,
    call_result_text,
    call_text,
    error_code,
    parse_frame,
)

V16, V201, V21 = OcppVersion.V16, OcppVersion.V201, OcppVersion.V21
ALL_VERSIONS = [V16, V201, V21]


def _error(text: str, version: OcppVersion = V201, max_size: int | None = None) -> FrameError:
    parsed = parse_frame(text, version, max_size)
    assert isinstance(parsed, FrameError), parsed
    return parsed


# -- valid frames -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_call_parses_into_id_action_and_payload(version: OcppVersion) -> None:
    parsed = parse_frame('[2,"19223201","BootNotification",{"reason":"PowerUp"}]', version)
    assert parsed == Call("19223201", "BootNotification", {"reason": "PowerUp"})
    assert isinstance(parsed, Call) and parsed.unconfirmed is False


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_call_with_whitespace_and_unicode_parses(version: OcppVersion) -> None:
    text = ' [ 2 ,\n"é-1" ,\t"DataTransfer" , {"vendorId":"Ünïcode","data":"€"} ] '
    assert parse_frame(text, version) == Call(
        "é-1", "DataTransfer", {"vendorId": "Ünïcode", "data": "€"}
    )


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_callresult_parses_into_id_and_payload(version: OcppVersion) -> None:
    parsed = parse_frame('[3,"19223201",{"status":"Accepted","interval":300}]', version)
    assert parsed == CallResult("19223201", {"status": "Accepted", "interval": 300})


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_callerror_parses_into_code_description_and_details(version: OcppVersion) -> None:
    parsed = parse_frame('[4,"162376037","NotSupported","not implemented",{"a":1}]', version)
    assert parsed == CallError("162376037", "NotSupported", "not implemented", {"a": 1})
    assert isinstance(parsed, CallError) and parsed.about_result is False


def test_message_id_of_exactly_36_characters_is_accepted() -> None:
    message_id = "x" * MAX_MESSAGE_ID_LENGTH
    assert parse_frame(f'[2,"{message_id}","Heartbeat",{{}}]', V201) == Call(
        message_id, "Heartbeat", {}
    )


# -- OCPP 2.1 message types ---------------------------------------------------------------------


def test_send_is_an_unconfirmed_call_on_ocpp21() -> None:
    parsed = parse_frame('[6,"s1","NotifyPeriodicEventStream",{"id":1}]', V21)
    assert parsed == Call("s1", "NotifyPeriodicEventStream", {"id": 1}, unconfirmed=True)


def test_callresulterror_is_an_error_about_a_result_on_ocpp21() -> None:
    parsed = parse_frame('[5,"r1","FormatViolation","bad result",{}]', V21)
    assert parsed == CallError("r1", "FormatViolation", "bad result", {}, about_result=True)


@pytest.mark.parametrize("version", [V16, V201])
@pytest.mark.parametrize(
    "text",
    ['[6,"s1","NotifyPeriodicEventStream",{"id":1}]', '[5,"r1","FormatViolation","bad",{}]'],
)
def test_send_and_callresulterror_are_unsupported_message_types_before_21(
    version: OcppVersion, text: str
) -> None:
    error = _error(text, version)
    assert error.kind is ErrorKind.MESSAGE_TYPE
    assert error.message_id == json.loads(text)[1]


def test_malformed_send_expects_no_answer_on_ocpp21() -> None:
    error = _error('[6,"s1","NotifyPeriodicEventStream",[]]', V21)
    assert (error.kind, error.message_id, error.expects_answer) == (ErrorKind.FORMAT, "s1", False)


# -- malformed JSON -----------------------------------------------------------------------------


def test_invalid_json_with_a_readable_call_id_keeps_the_id() -> None:
    error = _error('[2, "abc", "Heartbeat", {')
    assert error.kind is ErrorKind.RPC_FRAMEWORK
    assert error.detail.startswith("invalid JSON")
    assert (error.message_id, error.expects_answer) == ("abc", True)


def test_invalid_json_of_a_callresult_keeps_the_id_but_expects_no_answer() -> None:
    error = _error('[3,"abc",{"status":')
    assert (error.kind, error.message_id, error.expects_answer) == (
        ErrorKind.RPC_FRAMEWORK,
        "abc",
        False,
    )


@pytest.mark.parametrize(
    "text",
    [
        "this is not json",
        "",
        "{]",
        '[2, 17, "Heartbeat", {',  # id is a number
        '[2, "' + "i" * 37 + '", "Heartbeat", {',  # id too long to be an id
        '[2, "a\\"b", "Heartbeat", {',  # escaped id: not salvaged
    ],
)
def test_invalid_json_without_a_readable_id_has_no_id_and_expects_an_answer(text: str) -> None:
    error = _error(text)
    assert (error.kind, error.message_id, error.expects_answer) == (
        ErrorKind.RPC_FRAMEWORK,
        None,
        True,
    )


def test_deeply_nested_json_is_an_rpc_framework_error_not_a_crash() -> None:
    error = _error("[" * 100_000)
    assert error.kind is ErrorKind.RPC_FRAMEWORK


def test_number_beyond_the_int_conversion_limit_is_an_rpc_framework_error() -> None:
    error = _error('[2,"a","Heartbeat",{"n":' + "9" * 5000 + "}]")
    assert error.kind is ErrorKind.RPC_FRAMEWORK


# -- not an RPC frame ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", ['{"not":"an array"}', '"text"', "42", "null", "[]", '[2,"abc"]'])
def test_not_an_array_of_at_least_three_is_an_rpc_framework_error(text: str) -> None:
    error = _error(text)
    assert error.kind is ErrorKind.RPC_FRAMEWORK
    assert error.expects_answer is True


def test_short_array_with_a_readable_id_keeps_the_id() -> None:
    assert _error('[2,"abc"]').message_id == "abc"


@pytest.mark.parametrize("message_id", ["17", "null", "true", '""', '["a"]', '{"a":1}'])
def test_message_id_that_is_not_a_non_empty_string_is_unreadable(message_id: str) -> None:
    error = _error(f'[2,{message_id},"Heartbeat",{{}}]')
    assert (error.kind, error.message_id, error.expects_answer) == (
        ErrorKind.RPC_FRAMEWORK,
        None,
        True,
    )


def test_message_id_longer_than_36_characters_is_an_rpc_framework_error() -> None:
    message_id = "x" * (MAX_MESSAGE_ID_LENGTH + 1)
    error = _error(f'[2,"{message_id}","Heartbeat",{{}}]')
    assert error.kind is ErrorKind.RPC_FRAMEWORK
    assert error.expects_answer is True
    assert "36" in error.detail


@pytest.mark.parametrize("type_id", ["0", "1", "7", "99", "-2", "2.0", '"2"', "true", "null"])
@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_unknown_message_type_keeps_the_id(type_id: str, version: OcppVersion) -> None:
    error = _error(f'[{type_id},"m1","Heartbeat",{{}}]', version)
    assert (error.kind, error.message_id, error.expects_answer) == (
        ErrorKind.MESSAGE_TYPE,
        "m1",
        True,
    )


# -- wrong arity / payload ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '[2,"c1","Heartbeat"]',
        '[2,"c1","Heartbeat",{},{}]',
        '[2,"c1",17,{}]',
        '[2,"c1",null,{}]',
    ],
)
def test_call_of_the_wrong_shape_is_a_format_error_that_expects_an_answer(text: str) -> None:
    error = _error(text)
    assert (error.kind, error.message_id, error.expects_answer) == (ErrorKind.FORMAT, "c1", True)


@pytest.mark.parametrize("payload", ["[]", "null", '"x"', "1", "true"])
def test_call_payload_that_is_not_an_object_is_a_format_error(payload: str) -> None:
    error = _error(f'[2,"c1","Heartbeat",{payload}]')
    assert (error.kind, error.message_id, error.expects_answer) == (ErrorKind.FORMAT, "c1", True)
    assert "object" in error.detail


@pytest.mark.parametrize(
    "text", ['[3,"r1",{},{}]', '[3,"r1",[]]', '[3,"r1",null]', '[3,"r1","ok"]']
)
def test_callresult_of_the_wrong_shape_is_a_format_error_without_answer(text: str) -> None:
    error = _error(text)
    assert (error.kind, error.message_id, error.expects_answer) == (ErrorKind.FORMAT, "r1", False)


@pytest.mark.parametrize(
    "text",
    [
        '[4,"e1","GenericError","no details"]',
        '[4,"e1","GenericError","d",{},{}]',
        '[4,"e1",17,"d",{}]',
        '[4,"e1","GenericError",null,{}]',
    ],
)
def test_callerror_of_the_wrong_shape_is_a_format_error_without_answer(text: str) -> None:
    error = _error(text)
    assert (error.kind, error.message_id, error.expects_answer) == (ErrorKind.FORMAT, "e1", False)


# -- size limit ---------------------------------------------------------------------------------


def test_frame_above_max_size_is_oversize_with_the_salvaged_call_id() -> None:
    text = '[2,"big","DataTransfer",{"vendorId":"v","data":"' + "y" * 200 + '"}]'
    error = _error(text, max_size=100)
    assert (error.kind, error.message_id, error.expects_answer) == (
        ErrorKind.OVERSIZE,
        "big",
        True,
    )
    assert str(len(text)) in error.detail and "100" in error.detail


def test_oversize_callresult_expects_no_answer() -> None:
    error = _error('[3,"r1",{"data":"' + "y" * 200 + '"}]', max_size=100)
    assert (error.kind, error.message_id, error.expects_answer) == (
        ErrorKind.OVERSIZE,
        "r1",
        False,
    )


def test_frame_of_exactly_max_size_is_parsed() -> None:
    text = '[2,"a","Heartbeat",{}]'
    assert parse_frame(text, V201, max_size=len(text)) == Call("a", "Heartbeat", {})
    assert _error(text, max_size=len(text) - 1).kind is ErrorKind.OVERSIZE


def test_no_max_size_means_no_limit() -> None:
    text = '[2,"a","DataTransfer",{"vendorId":"v","data":"' + "y" * 100_000 + '"}]'
    assert isinstance(parse_frame(text, V201), Call)


# -- error codes per version --------------------------------------------------------------------

_CODES_16 = {
    ErrorKind.RPC_FRAMEWORK: "FormationViolation",
    ErrorKind.FORMAT: "FormationViolation",
    ErrorKind.MESSAGE_TYPE: None,
    ErrorKind.NOT_IMPLEMENTED: "NotImplemented",
    ErrorKind.OCCURRENCE: "OccurrenceConstraintViolation",
    ErrorKind.TYPE: "TypeConstraintViolation",
    ErrorKind.PROPERTY: "PropertyConstraintViolation",
    ErrorKind.OVERSIZE: "FormationViolation",
    ErrorKind.GENERIC: "GenericError",
}
_CODES_2X = {
    ErrorKind.RPC_FRAMEWORK: "RpcFrameworkError",
    ErrorKind.FORMAT: "FormatViolation",
    ErrorKind.MESSAGE_TYPE: "MessageTypeNotSupported",
    ErrorKind.NOT_IMPLEMENTED: "NotImplemented",
    ErrorKind.OCCURRENCE: "OccurrenceConstraintViolation",
    ErrorKind.TYPE: "TypeConstraintViolation",
    ErrorKind.PROPERTY: "PropertyConstraintViolation",
    ErrorKind.OVERSIZE: "FormatViolation",
    ErrorKind.GENERIC: "GenericError",
}


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_ocpp16_error_codes(kind: ErrorKind) -> None:
    assert error_code(V16, kind) == _CODES_16[kind]


@pytest.mark.parametrize("version", [V201, V21])
@pytest.mark.parametrize("kind", list(ErrorKind))
def test_ocpp2x_error_codes(version: OcppVersion, kind: ErrorKind) -> None:
    assert error_code(version, kind) == _CODES_2X[kind]


def test_ocpp16_has_no_rpc_framework_or_message_type_codes() -> None:
    codes_16 = {error_code(V16, kind) for kind in ErrorKind}
    assert "RpcFrameworkError" not in codes_16
    assert "MessageTypeNotSupported" not in codes_16
    assert "FormatViolation" not in codes_16


# -- frames the LC builds -----------------------------------------------------------------------


def test_call_text_is_compact_json_and_parses_back() -> None:
    text = call_text("id-1", "SetChargingProfile", {"evseId": 1, "note": "ü"})
    assert text == '[2,"id-1","SetChargingProfile",{"evseId":1,"note":"ü"}]'
    assert parse_frame(text, V201) == Call("id-1", "SetChargingProfile", {"evseId": 1, "note": "ü"})


def test_call_result_text_parses_back() -> None:
    text = call_result_text("id-1", {"status": "Accepted"})
    assert text == '[3,"id-1",{"status":"Accepted"}]'


def test_call_error_text_uses_an_empty_object_without_details() -> None:
    assert json.loads(call_error_text("id-1", "GenericError", "oops")) == [
        4,
        "id-1",
        "GenericError",
        "oops",
        {},
    ]


def test_call_error_text_keeps_given_details() -> None:
    frame = json.loads(call_error_text("id-1", "GenericError", "oops", {"why": "x"}))
    assert frame[4] == {"why": "x"}


def test_call_error_text_truncates_the_description_to_255_characters() -> None:
    frame = json.loads(call_error_text("id-1", "GenericError", "d" * 300))
    assert frame[3] == "d" * 255


def test_call_error_text_escapes_a_description_with_quotes_into_valid_json() -> None:
    text = call_error_text("-1", "RpcFrameworkError", 'invalid JSON: "[2, \\" at char 3')
    parsed = parse_frame(text, V201)
    assert isinstance(parsed, CallError)
    assert parsed.description == 'invalid JSON: "[2, \\" at char 3'


# -- parse_frame never raises -------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)

# Shapes close to real frames reach the deeper branches more often than arbitrary values.
_frame_like = st.tuples(
    st.sampled_from([2, 3, 4, 5, 6, 7, "2", None, 2.0, True]),
    st.one_of(st.text(max_size=40), st.integers(), st.none()),
    st.lists(_json_values, max_size=4),
).map(lambda parts: [parts[0], parts[1], *parts[2]])


def _check_result(parsed: Any) -> None:
    assert isinstance(parsed, Call | CallResult | CallError | FrameError)
    if isinstance(parsed, FrameError):
        assert parsed.message_id is None or isinstance(parsed.message_id, str)
    else:
        assert isinstance(parsed.message_id, str)
        assert 0 < len(parsed.message_id) <= MAX_MESSAGE_ID_LENGTH


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200), version=st.sampled_from(ALL_VERSIONS))
def test_parse_frame_never_raises_on_arbitrary_text(text: str, version: OcppVersion) -> None:
    _check_result(parse_frame(text, version))
    _check_result(parse_frame(text, version, max_size=50))


@settings(max_examples=300, deadline=None)
@given(value=_json_values | _frame_like, version=st.sampled_from(ALL_VERSIONS))
def test_parse_frame_never_raises_on_arbitrary_json(value: Any, version: OcppVersion) -> None:
    _check_result(parse_frame(json.dumps(value), version))


@settings(max_examples=200, deadline=None)
@given(value=_frame_like, cut=st.integers(min_value=0, max_value=60))
def test_parse_frame_never_raises_on_truncated_json(value: Any, cut: int) -> None:
    text = json.dumps(value)
    _check_result(parse_frame(text[: len(text) - cut], V201))
