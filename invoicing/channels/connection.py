"""测试连接: one entity's channel settings tried against its platform, the outcome in words.

``channel_connection_check`` calls ``get_channel(taxpayer).check_connection()`` (one cheap call that changes nothing
on the platform; the integration log records it like any call) and names what happened: ok, or which kind of failure
(the credentials refused, the network, a time-out, the platform's server, rate limiting, a business refusal with the
platform's code). The words never carry the secret, the platform's message or an exception's text: only the kind and,
when the platform gave one, its code (letters and digits).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from django.utils.translation import gettext

from invoicing.channels import get_channel
from invoicing.channels.base import ChannelRejected, ChannelUnavailable, ChannelUnsupported
from invoicing.models import Taxpayer

logger = logging.getLogger(__name__)

_CODE = re.compile(r"^[A-Za-z0-9_-]{1,20}$")


@dataclass(frozen=True)
class ConnectionCheck:
    """The outcome of one 测试连接. ``kind``: ok, not_configured, unsupported, session, network, timeout, server,
    rate_limited, refused or error; ``code``: the platform's code, when it gave a plain one."""

    kind: str
    code: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == "ok"

    @property
    def words(self) -> str:
        words = {
            "ok": gettext("连接正常（签名、凭据与接口权限均已通过）"),
            "not_configured": gettext("未填写通道账号（AppKey）或通道密钥"),
            "unsupported": gettext("该开票通道不支持测试连接"),
            "session": gettext("平台拒绝了凭据或访问令牌，请核对通道账号（AppKey）与通道密钥"),
            "network": gettext("无法连接到平台（网络不通）"),
            "timeout": gettext("平台未在时限内应答（超时）"),
            "server": gettext("平台服务出错，请稍后再试"),
            "rate_limited": gettext("平台限流，请稍后再试"),
            "refused": gettext("平台拒绝了请求"),
        }.get(self.kind, gettext("测试连接时出错，请查看通道调用日志"))
        if self.code:
            words += gettext("（代码 %(code)s）") % {"code": self.code}
        return words


def _code(value: str) -> str:
    return value if _CODE.match(value or "") else ""


def channel_connection_check(*, taxpayer: Taxpayer) -> ConnectionCheck:
    """Try the entity's channel settings (never inside a transaction: it calls the platform)."""
    if not taxpayer.channel_app_key or not taxpayer.channel_secret:
        return ConnectionCheck("not_configured")
    try:
        get_channel(taxpayer).check_connection()
    except ChannelUnsupported:
        return ConnectionCheck("unsupported")
    except ChannelUnavailable as exc:
        known = exc.kind in ("session", "network", "timeout", "server", "rate_limited")
        return ConnectionCheck(exc.kind if known else "server", _code(exc.code))
    except ChannelRejected as exc:
        return ConnectionCheck("refused", _code(exc.code))
    except Exception:  # noqa: BLE001 - reported in words; the details go to the application log only
        logger.exception("connection check of entity #%s failed", taxpayer.pk)
        return ConnectionCheck("error")
    return ConnectionCheck("ok")
