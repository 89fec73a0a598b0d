"""Newsletter delivery end to end: a newsletter (personal fields, click tracking, open pixel,
unsubscribe link and List-Unsubscribe headers) sent with SOAP `SendNewsletter` to N subscribed
recipients, delivered by a real `mailup-soap worker` over SMTP to a local sink (aiosmtpd in
its own process, counting and discarding), timed until GetNewsletterDeliveryStatus says
COMPLETED. In the same run, a raw `smtplib` loop pushes the same number of pre-built messages
over as many connections to the same sink. Prints messages per second for both and the ratio.

    DATABASE_URL=... MAILUP_SECRET_KEY=... .venv/bin/python scripts/bench_send.py \
        [--recipients 100000] [--connections 4]
"""
from __future__ import annotations

import argparse
import asyncio
import http.client
import multiprocessing
import os
import pathlib
import random
import re
import smtplib
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from typing import Any

import psycopg2
from bench_getlists import BIN, Server, free_port

SEND = "/MailupSend.asmx"
NS = "http://services.mailupnet.it/WS"
HTML = ("<html><body><p>Dear [campo1] [campo2],</p><p>Our offers for [email]:</p>"
        '<p><a href="https://shop.example/sale?c=[campo3]">Sale</a> '
        '<a href="https://shop.example/new">New</a></p>[unsubscribe]</body></html>')


def sink(port: int, count: Any, ready: Any) -> None:
    """An SMTP server that accepts and counts every message."""
    from aiosmtpd.controller import Controller

    class Counting:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            with count.get_lock():
                count.value += 1
            return "250 OK"

    controller = Controller(Counting(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    threading.Event().wait()


def seed(dsn: str, console_id: int, count: int) -> None:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO lists (account_id, id, guid, name) VALUES "
                    "(%s, 1, gen_random_uuid(), 'bench')", (console_id,))
        cur.execute("INSERT INTO recipients (account_id, email, field1, field2, field3) "
                    "SELECT %s, 'r' || n || '@bench.example', 'Name' || n, 'Surname' || n, "
                    "'C' || (n %% 97) FROM generate_series(1, %s) n", (console_id, count))
        cur.execute("INSERT INTO subscriptions (account_id, list_id, recipient_id, status, "
                    "subscribed_at) SELECT account_id, 1, id, 'subscribed', now() "
                    "FROM recipients WHERE account_id = %s", (console_id,))


def call(port: int, operation: str, params: str) -> str:
    body = (f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
            f'<soap:Body><{operation} xmlns="{NS}">{params}</{operation}></soap:Body>'
            "</soap:Envelope>").encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", SEND, body, {"Content-Type": "text/xml; charset=utf-8",
                                          "SOAPAction": f'"{NS}/{operation}"'})
        reply = conn.getresponse().read().decode()
    finally:
        conn.close()
    return reply.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def raw_smtp(port: int, count: int, connections: int) -> float:
    """The baseline: pre-built messages, smtplib, `connections` connections in parallel."""
    template = EmailMessage()
    template["From"] = "Shop <news@shop.example>"
    template["To"] = "{to}"
    template["Subject"] = "Offers for {name}"
    template.set_content("Dear {name}\n")
    template.add_alternative(HTML.replace("[campo1]", "{name}"), subtype="html")
    raw = template.as_bytes().decode()  # one EmailMessage, then plain formatting per copy
    messages = [(f"r{n}@bench.example", raw.replace("{to}", f"r{n}@bench.example")
                 .replace("{name}", f"Name{n}").encode()) for n in range(count)]

    def push(chunk: list[tuple[str, bytes]]) -> None:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for to, data in chunk:
                smtp.sendmail("bounces@shop.example", [to], data)

    started = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(push, [messages[i::connections] for i in range(connections)]))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    dsn = os.environ["DATABASE_URL"]
    console_id = 500000 + random.randrange(100000)
    password = f"bench-{random.getrandbits(64):x}"
    subprocess.run([str(BIN / "mailup-soap"), "account", "create", "--console-id",
                    str(console_id), "--host", f"send{console_id}.example.com", "--password",
                    password], check=True, stdout=subprocess.DEVNULL)
    seed(dsn, console_id, args.recipients)
    smtp_port, port = free_port(), free_port()
    count = multiprocessing.Value("l", 0)
    ready = multiprocessing.Event()
    sink_process = multiprocessing.Process(target=sink, args=(smtp_port, count, ready),
                                           daemon=True)
    sink_process.start()
    ready.wait(30)
    env = dict(os.environ, MAILUP_SMTP_PORT=str(smtp_port), MAILUP_LOG_LEVEL="WARNING",
               MAILUP_PUBLIC_URL=f"http://127.0.0.1:{port}",
               MAILUP_SEND_CONNECTIONS=str(args.connections))
    logdir = pathlib.Path(tempfile.mkdtemp(prefix="bench-send-"))
    server = Server("mailup-soap", [str(BIN / "mailup-soap"), "serve", "--workers", "2",
                                    "--bind", f"127.0.0.1:{port}"], port, logdir, env)
    with open(logdir / "worker.log", "wb") as log:
        worker = subprocess.Popen([str(BIN / "mailup-soap"), "worker", "--queue", "send",
                                   "--concurrency", "1"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=log)
    try:
        server.wait_ready()
        login = call(port, "LoginFromId", f"<user>m{console_id}</user><pwd>{password}</pwd>"
                                          f"<consoleId>{console_id}</consoleId>")
        key = re.search(r"<accessKey>([^<]+)</accessKey>", login).group(1)  # type: ignore[union-attr]
        html = HTML.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        created = call(port, "CreateNewsletter",
                       f"<accessKey>{key}</accessKey><listID>1</listID>"
                       "<subject>Offers for [campo1]</subject><type>HTML</type>"
                       f"<content>{html}</content>")
        newsletter = re.search(r"<newsletterID>(\d+)<", created).group(1)  # type: ignore[union-attr]
        started = time.perf_counter()
        sent = call(port, "SendNewsletter",
                    f"<accessKey>{key}</accessKey><listID>1</listID>"
                    f"<newsletterID>{newsletter}</newsletterID><options>"
                    "<Option><Key>send_to</Key><Value>ALL</Value></Option>"
                    "<Option><Key>from_email</Key><Value>news@shop.example</Value></Option>"
                    "</options>")
        delivery = re.search(r"<deliveryID>(\d+)<", sent).group(1)  # type: ignore[union-attr]
        while True:
            time.sleep(0.5)
            status = call(port, "GetNewsletterDeliveryStatus",
                          f"<accessKey>{key}</accessKey><deliveryID>{delivery}</deliveryID>")
            if "<status>COMPLETED</status>" in status:
                break
            if worker.poll() is not None:
                raise RuntimeError(f"the worker died: see {logdir / 'worker.log'}")
        elapsed = time.perf_counter() - started
        delivered = count.value
    finally:
        worker.terminate()
        worker.wait(30)
        server.stop()
    with count.get_lock():
        count.value = 0
    raw = raw_smtp(smtp_port, args.recipients, args.connections)
    sink_process.terminate()
    print(f"newsletter via mailup-soap (SOAP SendNewsletter, worker, {args.connections} SMTP "
          f"connections): {delivered:,} messages in {elapsed:.1f} s = "
          f"{delivered / elapsed:,.0f} messages/s")
    print(f"raw smtplib loop, pre-built messages, {args.connections} connections: "
          f"{args.recipients / raw:,.0f} messages/s")
    print(f"ratio mailup-soap / raw smtplib: {raw / elapsed * delivered / args.recipients:.3f}")


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
