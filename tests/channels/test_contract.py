from decimal import Decimal

import pytest

from invoicing.channels.base import (
    Capability,
    ChannelDuplicate,
    ChannelRejected,
    ChannelUnavailable,
    ChannelUnsupported,
    IssueRequest,
    IssueResult,
    RedFormStatus,
    TaxChannel,
)


class OnlyIssuing(TaxChannel):
    code = "stub"
    capabilities = frozenset({Capability.ISSUE, Capability.QUERY_ISSUE})

    def issue_invoice(self, request: IssueRequest) -> IssueResult:
        return IssueResult(serial=request.serial, status="pending")

    def query_issue(self, serial: str) -> IssueResult:
        return IssueResult(serial=serial, status="pending")


def test_operations_outside_the_capabilities_raise_unsupported():
    channel = OnlyIssuing()
    assert channel.supports("issue") and not channel.supports(Capability.RED_FORM)
    with pytest.raises(ChannelUnsupported):
        channel.get_quota()
    with pytest.raises(ChannelUnsupported):
        channel.red_form_query("1")
    for operation in ("deduction_statistics_apply", "deduction_statistics_undo", "deduction_confirm",
                      "deduction_confirm_undo", "deduction_statistics_query"):
        with pytest.raises(ChannelUnsupported) as exc:
            getattr(channel, operation)("202611")
        assert exc.value.operation == operation


def test_errors_carry_code_kind_and_serial():
    assert str(ChannelRejected("3103", "专票购买方税号必填")) == "[3103] 专票购买方税号必填"
    assert ChannelUnavailable(kind="session").kind == "session"
    assert ChannelDuplicate("S1").serial == "S1"


def test_red_form_status_groups_follow_the_bureau_table():
    assert RedFormStatus("01").is_effective and RedFormStatus("04").is_effective
    assert RedFormStatus("02").is_waiting and RedFormStatus("03").is_waiting
    assert all(RedFormStatus(f"{n:02d}").is_terminal for n in range(5, 14))
    assert Decimal("0.06") == Decimal("0.060")
