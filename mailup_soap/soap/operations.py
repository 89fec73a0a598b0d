"""Operations as data: each service module lists its WSDL signature and a translating handler;
`build_service` turns the list into a spyne ServiceBase, and `invoke` is the one call wrapper
that maps results and errors to MailUp's answers."""
from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Callable, Sequence
from typing import Any

from spyne import ServiceBase, rpc

from mailup_soap import errors
from mailup_soap.service_layer.deps import AccessKey, Credentials, Deps, WsLogin
from mailup_soap.soap import faults, results
from mailup_soap.soap.results import Result
from mailup_soap.soap.types import Authentication, ResultString

log = logging.getLogger("mailup_soap.soap")

Handler = Callable[..., Result | int]
Params = Sequence[tuple[str, Any]]


class Style(enum.Enum):
    IMPORT = "import"  # Authentication header, mailupMessage/ReturnCode result
    ACCESS_KEY = "access_key"  # accessKey parameter, errorCode/errorDescription result


@dataclasses.dataclass(frozen=True)
class Op:
    name: str
    params: Params
    handler: Handler
    returns: Any = ResultString
    root: str | None = None  # result document root; default <Name>Result
    # Send CreateList / GetListIdentity / GetFields: <Error> on error, no errorCode on success
    plain_errors: bool = False
    error_base: int = -200  # Import: the operation's "unrecognized error" code


def invoke(style: Style, op: Op, deps: Deps, header: Any, args: Sequence[Any],
           cred: Credentials | None = None) -> Any:
    """Run one operation: credentials out of the call (unless given), handler, result or
    error document."""
    kwargs = {name: value for (name, _), value in zip(op.params, args, strict=True)}
    if cred is not None:
        pass
    elif style is Style.IMPORT:
        cred = WsLogin(getattr(header, "User", None), getattr(header, "Password", None))
    else:
        cred = AccessKey(kwargs.pop("accessKey", None))
    root = op.root or f"{op.name}Result"
    try:
        outcome = op.handler(deps, cred, **kwargs)
    except errors.MailUpError as exc:
        return _error(style, op, root, exc)
    except Exception:
        log.exception("unexpected error in %s", op.name)
        raise faults.internal_error() from None
    if not isinstance(outcome, Result):
        return outcome  # the two operations typed s:int return their number directly
    if style is Style.IMPORT:
        return results.mailup_message(outcome.code, outcome.payload)
    if op.plain_errors:
        return results.plain_document(root, outcome.payload)
    return results.error_code_document(root, 0, "", outcome.payload)


def _error(style: Style, op: Op, root: str, exc: errors.MailUpError) -> str:
    if style is Style.IMPORT:
        return results.mailup_message(faults.import_code(exc, op.error_base))
    code = faults.access_key_code(exc) or -1000
    if op.plain_errors:
        return results.plain_error(root, code, str(exc))
    return results.error_code_document(root, code, str(exc))


def _method(style: Style, op: Op, deps: Deps) -> Any:
    def method(ctx: Any, *args: Any) -> Any:
        return invoke(style, op, deps, ctx.in_header, args)

    method.__name__ = op.name
    return rpc(*[t for _, t in op.params], _args=[n for n, _ in op.params], _returns=op.returns,
               _operation_name=op.name, _out_variable_name=f"{op.name}Result")(method)


def build_service(name: str, style: Style, ops: Sequence[Op], deps: Deps) -> type[ServiceBase]:
    attrs: dict[str, Any] = {op.name: _method(style, op, deps) for op in ops}
    attrs["__service_name__"] = name
    if style is Style.IMPORT:
        attrs["__in_header__"] = Authentication
    return type(name, (ServiceBase,), attrs)
