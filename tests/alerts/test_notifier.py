"""Property 31: the notifier itself: the payload shape, channels that fail, the rate limit across processes."""

from __future__ import annotations

import logging

from eventlake.alerts import Alert, Notifier
from eventlake.settings import Settings
from tests.conftest import free_port

ALERT = Alert("job_failed", "dataset events", "stream record could not be decoded", ("Ingestion job(s) j1.",))


def test_the_payload_is_slack_shaped(alert_home, receiver):
    """Property 31: the body is Slack's incoming-webhook JSON: a ``text`` summary and ``blocks`` (a header, a
    section saying what and why, the links in a context block)."""
    assert Notifier(Settings(home=alert_home)).notify(ALERT) == "sent"
    (body,) = receiver.bodies("/a")
    assert set(body) == {"text", "blocks"}
    assert body["text"].startswith("[eventlake] Ingestion job FAILED: dataset events: stream record could not be decoded")
    header, section, context = body["blocks"]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert section["type"] == "section" and "*Why:* stream record could not be decoded" in section["text"]["text"]
    assert context["type"] == "context" and "<http://dashboard.example:8501|Dashboard>" in context["elements"][0]["text"]


def test_webhooks_that_are_down_are_logged_never_raised_and_the_alert_is_tried_again(
    alert_home, receiver, monkeypatch, caplog
):
    """Property 31: when no channel answers (a closed port, a 500), notify() returns "failed", logs each
    webhook by host only (its path is the secret), raises nothing, and does not count the alert as sent: the
    next occurrence is sent once a channel is back."""
    closed = f"http://127.0.0.1:{free_port()}/services/T000/B000/secret-token"
    monkeypatch.setenv("EVENTLAKE_ALERT_WEBHOOK_URLS", f"{closed},{receiver.url}/broken")
    with caplog.at_level(logging.WARNING, logger="eventlake.alerts"):
        assert Notifier(Settings(home=alert_home)).notify(ALERT) == "failed"
    assert "secret-token" not in caplog.text
    assert caplog.text.count("alert webhook") == 2

    monkeypatch.setenv("EVENTLAKE_ALERT_WEBHOOK_URLS", f"{receiver.url}/a")
    assert Notifier(Settings(home=alert_home)).notify(ALERT) == "sent"
    assert len(receiver.bodies("/a")) == 1


def test_the_rate_limit_holds_across_notifiers_and_reports_what_it_held_back(alert_home, receiver):
    """Property 31: the last sent time is in the state database: another Notifier (another process) holds the
    repeat back inside the window; after it, the alert is sent again and says how many repeats were held back.
    Another reason is another failure, sent at once."""
    settings = Settings(home=alert_home)
    assert Notifier(settings).notify(ALERT, now=1_000.0) == "sent"
    assert Notifier(settings).notify(ALERT, now=1_000.0 + 59 * 60) == "held back"
    assert Notifier(settings).notify(ALERT, now=1_000.0 + 59 * 60 + 1) == "held back"
    other = Alert(ALERT.kind, ALERT.subject, "another reason")
    assert Notifier(settings).notify(other, now=1_000.0 + 60) == "sent"
    assert Notifier(settings).notify(ALERT, now=1_000.0 + 61 * 60) == "sent"
    bodies = receiver.bodies("/a")
    assert len(bodies) == 3
    assert "2 repeat(s) of this alert were held back" in bodies[2]["blocks"][1]["text"]["text"]


def test_no_channel_configured_sends_nothing(eventlake_home, receiver):
    """Property 31: without EVENTLAKE_ALERT_WEBHOOK_URLS nothing is posted."""
    assert Notifier(Settings(home=eventlake_home)).notify(ALERT) == "off"
    assert receiver.posts == []
