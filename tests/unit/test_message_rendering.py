"""How one recipient's message is made: fields merged (escaped in HTML), links rewritten,
the unsubscribe link placed, the text alternative, and the MIME bytes on the wire."""
from __future__ import annotations

import dataclasses
import email
import email.policy

import pytest

from mailup_soap import errors
from mailup_soap.domain import messages as msg
from mailup_soap.service_layer.tracking import _redirectable

WHO = msg.Addressee(7, "ann@example.test", {1: "Ann <3", 2: "Smith"})


def _message(html: str, **kwargs: object) -> msg.Message:
    return msg.Message(1, 1, 1, "Hi [campo1]", msg.ContentType.HTML, html, **kwargs)  # type: ignore[arg-type]


def test_fields_are_merged_and_escaped_in_html_but_not_in_text() -> None:
    message = _message("<p>Dear [CAMPO1] [campo2] ([email]) [campo9]</p>")

    html = msg.render_html(message, WHO, lambda u: u, "https://t/o", "https://t/u")
    text = msg.render_text(message, WHO, "https://t/u")

    assert "Dear Ann &lt;3 Smith (ann@example.test) </p>" in html
    assert text.startswith("Dear Ann <3 Smith (ann@example.test)")


def test_http_links_go_through_the_tracker_and_others_do_not() -> None:
    message = _message('<a href="https://shop.example/a?x=1&amp;y=2">A</a> '
                       "<a href='http://b.example'>B</a> <a href=\"mailto:x@y\">M</a>")

    html = msg.render_html(message, WHO, lambda u: "https://t/c?u=" + u, "https://t/o",
                           "https://t/u")

    assert 'href="https://t/c?u=https://shop.example/a?x=1&amp;y=2"' in html
    assert "href='https://t/c?u=http://b.example'" in html
    assert 'href="mailto:x@y"' in html


def test_without_link_tracking_links_stay_as_they_are() -> None:
    message = _message('<a href="https://shop.example/">A</a>', link_tracking=False)

    html = msg.render_html(message, WHO, lambda u: "https://t/c", "https://t/o", "https://t/u")

    assert 'href="https://shop.example/"' in html


def test_the_unsubscribe_link_goes_where_the_placeholder_is_or_at_the_end() -> None:
    placed = msg.render_html(_message("<p>x</p>[unsubscribe]<p>y</p>"), WHO, str,
                             "https://t/o", "https://t/u")
    appended = msg.render_html(_message("<p>x</p>"), WHO, str, "https://t/o", "https://t/u")

    assert '<p>x</p><a href="https://t/u">Unsubscribe</a><p>y</p>' in placed
    assert appended.index("https://t/u") > appended.index("<p>x</p>")
    assert '<img src="https://t/o"' in appended


def test_a_lists_own_confirmation_request_has_its_link_where_it_says_or_at_the_end() -> None:
    placed = msg.render_confirmation(
        _message("<p>Dear [campo1]</p><p>[subscribe]</p>[unsubscribe]"), WHO, "https://c/?t=a&b")
    appended = msg.render_confirmation(_message("<p>Welcome</p>", dynamic_fields=False), WHO,
                                       "https://c/?t=x")
    two_lines = dataclasses.replace(WHO, fields={1: "A\r\nB"})
    subject = msg.render_confirmation(_message("x"), two_lines, "https://c/")[0]

    assert placed == (
        "Hi Ann <3",
        '<p>Dear Ann &lt;3</p><p><a href="https://c/?t=a&amp;b">Confirm your subscription</a>'
        "</p>",
        "Dear Ann <3\nhttps://c/?t=a&b\n")
    assert appended == (
        "Hi [campo1]",
        '<p>Welcome</p>\n<p><a href="https://c/?t=x">Confirm your subscription</a></p>',
        "Welcome\n\nConfirm your subscription: https://c/?t=x\n")
    assert subject == "Hi A  B"


def test_the_mime_bytes_parse_back_with_both_parts_and_encoded_headers() -> None:
    raw = msg.mime([("From", msg.address("Shöp", "news@shop.example")),
                    ("To", "ann@example.test"), ("Subject", msg.header_text("Grüße\r\nX: y"))],
                   "Hello Ann\nline two", "<p>Hello Ann</p>", "=_b1")

    parsed = email.message_from_bytes(raw, policy=email.policy.default)

    assert parsed["Subject"] == "Grüße  X: y"  # a header never spans lines it was not given
    assert parsed["From"].addresses[0].display_name == "Shöp"  # type: ignore[attr-defined]
    plain = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert plain.splitlines() == ["Hello Ann", "line two"]
    assert parsed.get_body(("html",)).get_content().strip() == "<p>Hello Ann</p>"  # type: ignore[union-attr]
    assert b"=0D" not in raw  # line breaks are line breaks, not quoted carriage returns
    assert all(line.endswith(b"\r") for line in raw.split(b"\n")[:-1])  # CRLF throughout


@pytest.mark.parametrize(("options", "problem"), [
    ({"send_to": "ALL", "colour": "red"}, "unknown option"),
    ({"send_to": "ALL", "from_email": "a@b\r\nBcc: c@d"}, "not an email address"),
    ({"send_to": "ALL", "from_email": "jos\u00e9@shop.example"}, "not an email address"),
    ({"send_to": "ALL", "from_name": "A\nB"}, "one line"),
    ({"send_to": "ALL", "deliverydt": "99991231235959"}, "year"),
    ({"send_to": "ALL", "deliverydt": "00010101000000"}, "year"),
    ({"send_to": "RECIPIENTS"}, "needs emails"),
    ({"send_to": "GROUPS", "recipients": "1;x"}, "ids"),
])
def test_bad_send_options_are_refused_with_the_reason(options: dict[str, str],
                                                      problem: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=problem):
        msg.send_options(options)


@pytest.mark.parametrize(("url", "ok"), [
    ("https://shop.example/a", True), ("http://x.example", True),
    ("https://x.example/\r\nSet-Cookie: a=b", False), ("javascript:alert(1)", False),
    ("//x.example", False), (None, False),
])
def test_only_plain_http_urls_are_redirected_to(url: str | None, ok: bool) -> None:
    assert _redirectable(url) is ok


def test_a_deliverys_estimate_follows_its_pace_so_far() -> None:
    import datetime as dt

    start = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC)
    running = msg.Delivery(1, 1, 1, 1, "a@b.c", "A", status=msg.DeliveryStatus.SENDING,
                           total=400, sent=90, failed=5, skipped=5, scheduled_at=start,
                           started_at=start, completed_at=None)
    done = dataclasses.replace(running, sent=390, completed_at=start)

    assert (running.percent, running.to_send) == (25, 300)
    assert running.seconds_left(start + dt.timedelta(seconds=100)) == 300
    assert (done.percent, done.seconds_left(start + dt.timedelta(hours=1))) == (100, 0)


def test_a_worker_leaves_a_paused_completed_or_not_yet_due_delivery_alone() -> None:
    import datetime as dt

    now = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC)
    due = msg.Delivery(1, 1, 1, 1, "a@b.c", "A", status=msg.DeliveryStatus.SCHEDULED, total=3,
                       sent=0, failed=0, skipped=0, scheduled_at=now, started_at=None,
                       completed_at=None)
    later = dataclasses.replace(due, scheduled_at=now + dt.timedelta(minutes=5))

    assert due.why_not_run(now) is None
    assert dataclasses.replace(due, status=msg.DeliveryStatus.SENDING).why_not_run(now) is None
    assert dataclasses.replace(due, status=msg.DeliveryStatus.PAUSED).why_not_run(now) == "paused"
    assert (dataclasses.replace(due, status=msg.DeliveryStatus.COMPLETED).why_not_run(now)
            == "completed")
    assert later.why_not_run(now) == "not due"
    assert later.why_not_run(now + dt.timedelta(minutes=5)) is None
