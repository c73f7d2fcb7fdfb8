"""Alerts: tell someone when the pipeline breaks (property 31, docs/alerts.md).

An ``Alert`` names what failed (``subject``: the asset and check, the Dagster
job, the ingestion jobs, the stream), why (``reason``), sample failing records
when they are known, and links: the Dagster run (``{dagster_url}/runs/{run_id}``),
the Data Docs page the check's metadata names (else the dashboard, whose Quality
view lists every failing check) and the dashboard.

``Notifier`` POSTs each alert as Slack-compatible webhook JSON
(``{"text": ..., "blocks": [...]}``) to every URL of
``EVENTLAKE_ALERT_WEBHOOK_URLS``. The same failure (same kind, subject and
reason) is sent at most once per ``EVENTLAKE_ALERT_REPEAT_MINUTES``: the time
it was last sent is kept in the state database (``alerts_sent``, beside the job
store), so the limit holds across processes and restarts; the next alert after
the window says how many repeats were held back. A webhook that fails (refused,
timed out, not 2xx) is logged and never raised: alerting must not break what it
reports on. An alert no channel accepted is not recorded as sent, so the next
occurrence tries again.

The Dagster sensors that raise these alerts live in ``eventlake.sensors.alerts``;
this module holds the parts that need no Dagster run: building alerts, the
payload, the rate limit, and the measures the sensors compare (stream lag,
newly FAILED ingestion jobs). Nothing happens at import time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from eventlake.state.database import create_tables

if TYPE_CHECKING:
    from eventlake.settings import Settings
    from eventlake.state.ingestion_jobs import Job

log = logging.getLogger("eventlake.alerts")

#: what each kind of alert is called in its title
KINDS = {
    "check_failed": "Check failed",
    "freshness": "Freshness breach",
    "run_failed": "Dagster run failed",
    "job_failed": "Ingestion job FAILED",
    "consumer_lag": "Consumer lag over threshold",
}
#: sample records shown per alert, and characters per sample
SAMPLE_LIMIT = 10
SAMPLE_CHARS = 300
#: Slack's limits: a section's text, a header's text
SECTION_CHARS = 3000
HEADER_CHARS = 150
#: metadata keys whose values are sample failing records (besides GX's failed expectations)
SAMPLE_KEY_PARTS = ("sample", "failing_record", "failing_rows", "failing_keys", "unexpected_rows")
FRESHNESS_PARAMS_KEY = "dagster/freshness_params"
#: set on a freshness check's result once its asset has a last update (Dagster's freshness checks)
FRESHNESS_LAST_UPDATED_KEY = "dagster/last_updated_timestamp"


@dataclass(frozen=True)
class Alert:
    """One thing to tell the channels. ``kind`` + ``subject`` + ``reason`` identify a failure (its repeats
    are rate-limited), so ``reason`` holds no counts or times; those go in ``details``."""

    kind: str
    subject: str
    reason: str
    details: tuple[str, ...] = ()
    samples: tuple[str, ...] = ()
    run_id: str | None = None
    data_docs: str | None = None

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.kind}\x1f{self.subject}\x1f{self.reason}".encode()).hexdigest()[:32]

    @property
    def title(self) -> str:
        return f"{KINDS.get(self.kind, self.kind)}: {self.subject}"


# -- links and payload ---------------------------------------------------------------------
def dashboard_url(settings: Settings) -> str:
    return (settings.dashboard_url or f"http://127.0.0.1:{settings.dashboard_port}").rstrip("/")


def run_url(settings: Settings, run_id: str) -> str:
    return f"{settings.dagster_url.rstrip('/')}/runs/{run_id}"


def links(alert: Alert, settings: Settings) -> list[tuple[str, str]]:
    """``(label, url)`` pairs: the Dagster run, the Data Docs page (a check's, else the dashboard's
    Quality view), the dashboard."""
    found: list[tuple[str, str]] = []
    if alert.run_id:
        found.append((f"Dagster run {alert.run_id[:8]}", run_url(settings, alert.run_id)))
    if alert.kind in ("check_failed", "freshness"):
        if alert.data_docs:
            found.append(("Data Docs", alert.data_docs))
        else:
            found.append(("Data Docs: dashboard, Quality view", dashboard_url(settings)))
    found.append(("Dashboard", dashboard_url(settings)))
    return found


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def payload(alert: Alert, settings: Settings, *, suppressed: int = 0) -> dict[str, Any]:
    """The Slack-compatible webhook body: ``text`` (the one-line summary clients show) and ``blocks``."""
    link_pairs = links(alert, settings)
    body = [f"*{alert.subject}*", f"*Why:* {alert.reason}", *alert.details]
    if suppressed:
        body.append(f"_{suppressed} repeat(s) of this alert were held back since the last one._")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(f"eventlake: {alert.title}", HEADER_CHARS)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip("\n".join(body), SECTION_CHARS)}},
    ]
    if alert.samples:
        sample_text = "\n".join(alert.samples)
        blocks.append({
            "type": "section",
            "text": {"type": "mrkdwn", "text": _clip(f"*Sample failing records:*\n```{sample_text}```", SECTION_CHARS)},
        })
    blocks.append({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": " · ".join(f"<{url}|{label}>" for label, url in link_pairs)}],
    })
    text = f"[eventlake] {alert.title}: {alert.reason}" + (f" ({alert.details[0]})" if alert.details else "")
    text += "".join(f" | {label}: {url}" for label, url in link_pairs)
    return {"text": _clip(text, SECTION_CHARS), "blocks": blocks}


# -- the rate limit ------------------------------------------------------------------------
# declared like the state database's other tables (leases, positions): a table declaration, alike on purpose
_meta = sa.MetaData()
alerts_sent_table = sa.Table(
    "alerts_sent",
    _meta,
    sa.Column("alert_key", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("last_sent_at", sa.Float, nullable=False),
    sa.Column("suppressed", sa.Integer, nullable=False, default=0),
)


class AlertLog:
    """When each failure was last alerted, in the state database: the rate limit across processes."""

    def __init__(self, url: str) -> None:
        from eventlake.state.ingestion_jobs import IngestionJobStore

        self.engine = IngestionJobStore._make_engine(url)  # the state database's engine: WAL, busy timeout
        create_tables(_meta, self.engine)

    def hold_back(self, alert: Alert, now: float, window_seconds: float) -> tuple[bool, int]:
        """``(held back, repeats held back so far)``: a repeat inside the window is counted and held back."""
        c = alerts_sent_table.c
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(c.last_sent_at, c.suppressed).where(c.alert_key == alert.key)
            ).one_or_none()
            if row is None:
                return False, 0
            if now - row.last_sent_at < window_seconds:
                conn.execute(
                    sa.update(alerts_sent_table).where(c.alert_key == alert.key).values(suppressed=c.suppressed + 1)
                )
                return True, row.suppressed + 1
            return False, int(row.suppressed)

    def record_sent(self, alert: Alert, now: float) -> None:
        c = alerts_sent_table.c
        with self.engine.begin() as conn:
            updated = conn.execute(
                sa.update(alerts_sent_table).where(c.alert_key == alert.key).values(last_sent_at=now, suppressed=0)
            ).rowcount
            if not updated:
                conn.execute(
                    sa.insert(alerts_sent_table).values(
                        alert_key=alert.key, kind=alert.kind, subject=alert.subject, reason=alert.reason,
                        last_sent_at=now, suppressed=0,
                    )
                )

    def close(self) -> None:
        self.engine.dispose()


# -- the notifier --------------------------------------------------------------------------
def _shown_url(url: str) -> str:
    # a webhook URL's path is its secret (Slack: /services/T../B../token): log the host only
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"


class Notifier:
    """Sends alerts to the configured webhooks, at most once per window for the same failure."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.urls = list(settings.alert_webhook_urls)
        self._log: AlertLog | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.urls)

    def _alert_log(self) -> AlertLog:
        if self._log is None:
            self._log = AlertLog(self.settings.job_db)
        return self._log

    def notify(self, alert: Alert, now: float | None = None) -> str:
        """Send one alert; returns ``sent``, ``held back`` (a repeat inside the window), ``failed`` (no
        channel accepted it) or ``off`` (no channel configured). Never raises for a failing webhook."""
        if not self.urls:
            log.info("alert not sent (EVENTLAKE_ALERT_WEBHOOK_URLS is empty): %s: %s", alert.title, alert.reason)
            return "off"
        now = time.time() if now is None else now
        try:
            held, suppressed = self._alert_log().hold_back(alert, now, self.settings.alert_repeat_minutes * 60)
        except sa.exc.SQLAlchemyError:
            log.exception("alerts: the state database did not answer; sending without the rate limit")
            held, suppressed = False, 0
        if held:
            log.info("alert held back (repeat %d within %g min): %s: %s", suppressed,
                     self.settings.alert_repeat_minutes, alert.title, alert.reason)
            return "held back"
        body = payload(alert, self.settings, suppressed=suppressed)
        import httpx

        accepted = 0
        with httpx.Client(timeout=self.settings.alert_timeout_seconds) as client:
            for url in self.urls:
                try:
                    client.post(url, json=body).raise_for_status()
                    accepted += 1
                except httpx.HTTPError as exc:
                    log.warning("alert webhook %s failed: %s (%s: %s)", _shown_url(url), exc, alert.title, alert.reason)
        if not accepted:
            return "failed"
        try:
            self._alert_log().record_sent(alert, now)
        except sa.exc.SQLAlchemyError:
            log.exception("alerts: could not record the alert as sent; its repeats may be sent again")
        log.warning("alert sent to %d of %d channel(s): %s: %s", accepted, len(self.urls), alert.title, alert.reason)
        return "sent"

    def close(self) -> None:
        if self._log is not None:
            self._log.close()

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- alerts from check results ---------------------------------------------------------------
def _plain(value: Any) -> Any:
    """A Dagster metadata value as plain data (``.value`` of a MetadataValue)."""
    return getattr(value, "value", value)


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def _sample_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return _clip(text, SAMPLE_CHARS)


def _samples(metadata: Mapping[str, Any]) -> tuple[str, ...]:
    samples: list[str] = []
    failed = metadata.get("failed_expectations")
    if isinstance(failed, list):
        for r in failed:
            if not isinstance(r, Mapping):
                continue
            # the failing rows' keys (event_id, job_id...) when the check kept them, else GX's sample values
            found = r.get("failing_keys") or r.get("failing_records") or r.get("partial_unexpected_list")
            if found:
                where = r.get("expectation", "?") + (f"({r['column']})" if r.get("column") else "")
                samples.append(_sample_text(f"{where}: {_sample_text(found)}"))
    for key, value in metadata.items():
        if key == "failed_expectations" or not any(part in key.lower() for part in SAMPLE_KEY_PARTS):
            continue
        if key == "failing_rows" and samples:
            continue  # the same keys as the failed expectations' (eventlake.assets.checks.failing_rows)
        if isinstance(value, list):
            samples += [f"{key}: {_sample_text(v)}" for v in value[:SAMPLE_LIMIT]]
        elif value not in (None, "", [], {}):
            samples.append(f"{key}: {_sample_text(value)}")
    return tuple(samples[:SAMPLE_LIMIT])


def _data_docs(metadata: Mapping[str, Any]) -> str | None:
    """The Data Docs page a check's metadata names (a URL, or a local path made a file:// URL)."""
    for key, value in metadata.items():
        if "data_docs" not in key.lower() or not isinstance(value, str) or not value:
            continue
        if "://" in value:
            return value
        return Path(value).expanduser().resolve().as_uri()
    return None


def _check_reason(description: str | None, metadata: Mapping[str, Any], severity: str) -> str:
    failed = metadata.get("failed_expectations")
    if isinstance(failed, list) and failed:
        rules = sorted({
            r.get("expectation", "?") + (f"({r['column']})" if r.get("column") else "")
            for r in failed if isinstance(r, Mapping)
        })
        return "failed expectations: " + ", ".join(rules)
    problems = [k for k, v in metadata.items() if isinstance(v, int) and not isinstance(v, bool) and v > 0
                and k.startswith(("duplicate", "missing", "jobs_not"))]
    if problems:
        return "non-zero: " + ", ".join(sorted(problems))
    if description:
        return description
    return f"the check did not pass (severity {severity})"


def check_failure_alert(evaluation: Any, run_id: str | None = None) -> Alert:
    """The alert for a failed ``AssetCheckEvaluation``: a freshness breach when it is a freshness check."""
    asset = evaluation.asset_key.to_user_string()
    metadata = {k: _plain(v) for k, v in (evaluation.metadata or {}).items()}
    severity = getattr(evaluation.severity, "value", str(evaluation.severity))
    subject = f"check {evaluation.check_name} on {asset}"
    details: list[str] = []
    if FRESHNESS_PARAMS_KEY in metadata:
        params = metadata[FRESHNESS_PARAMS_KEY] or {}
        allowed = params.get("lower_bound_delta_seconds")
        reason = f"{asset} was not updated within the last {_duration(allowed)}" if allowed else "overdue for an update"
        if evaluation.description:
            details.append(evaluation.description)
        return Alert("freshness", subject, reason, tuple(details), (), run_id, _data_docs(metadata))
    reason = _check_reason(evaluation.description, metadata, severity)
    if evaluation.blocking:
        details.append(f"Blocking: the assets downstream of {asset} are not built while it fails.")
    details.append(f"Severity: {severity}.")
    for key in ("rows", "scope", "unexpected_count", "dagster_dbt/failed_row_count"):
        if key in metadata:
            details.append(f"{key}: {metadata[key]}")
    if evaluation.description and evaluation.description != reason:
        details.append(evaluation.description)
    if isinstance(metadata.get("what_to_do"), str):
        details.append(metadata["what_to_do"])
    return Alert("check_failed", subject, reason, tuple(details), _samples(metadata), run_id, _data_docs(metadata))


def never_updated(evaluation: Any) -> bool:
    """Whether a freshness check's evaluation is about an asset that was never materialized (Dagster's
    freshness checks fail then, with "Asset has never been observed/materialized", and no last update)."""
    metadata = evaluation.metadata or {}
    return FRESHNESS_PARAMS_KEY in metadata and FRESHNESS_LAST_UPDATED_KEY not in metadata


def alerts_on_check(evaluation: Any) -> bool:
    """Which failed checks alert: blocking ones, ERROR-severity (critical) ones, and freshness checks
    of assets that have been materialized at least once.

    A mart never materialized is not a freshness breach: nothing has gone stale, the first transform
    has not run yet (a fresh deployment, no data ingested). What would keep it from ever running is
    alerted on its own: a failed run (``run_failed``), a FAILED ingestion job, the consumer's lag. The
    dashboard's Quality view shows such a check as "never materialized"."""
    if evaluation.passed:
        return False
    severity = getattr(evaluation.severity, "value", str(evaluation.severity))
    if FRESHNESS_PARAMS_KEY in (evaluation.metadata or {}):
        return not never_updated(evaluation)
    return bool(evaluation.blocking) or severity == "ERROR"


# -- alerts on failed runs ---------------------------------------------------------------------
def run_failure_alert(job_name: str, run_id: str, message: str | None, steps_failed: Sequence[str] = ()) -> Alert:
    first_line = (message or "the run failed").strip().splitlines()[0] if (message or "").strip() else "the run failed"
    details = tuple(f"Step {s} failed." for s in steps_failed)
    return Alert("run_failed", f"job {job_name}", _clip(first_line, 500), details, (), run_id)


# -- ingestion jobs marked FAILED -------------------------------------------------------------
def failed_jobs_since(job_db: str, since: datetime, limit: int = 500) -> list[Job]:
    """FAILED ingestion jobs whose row changed at or after ``since``, oldest change first."""
    from eventlake.state.ingestion_jobs import IngestionJobStore, JobStatus, jobs_table

    store = IngestionJobStore(job_db)
    try:
        c = jobs_table.c
        query = (
            sa.select(c.job_id)
            .where(c.status == JobStatus.FAILED.value, c.updated_at >= since)
            .order_by(c.updated_at, c.job_id)
            .limit(limit)
        )
        with store.engine.connect() as conn:
            ids = [row[0] for row in conn.execute(query)]
        return [job for job in map(store.get, ids) if job is not None]
    finally:
        store.close()


def failed_job_alerts(jobs: Iterable[Job]) -> list[Alert]:
    """One alert per dataset and reason, naming its jobs: a broken stream fails many jobs alike, and
    their repeats within the window are held back together."""
    groups: dict[tuple[str, str], list[Job]] = {}
    for job in jobs:
        reason = (job.error_message or "no reason recorded").strip()
        groups.setdefault((job.dataset, _clip(reason, 500)), []).append(job)
    alerts = []
    for (dataset, reason), members in sorted(groups.items()):
        names = ", ".join(j.job_id for j in members[:SAMPLE_LIMIT])
        more = f" and {len(members) - SAMPLE_LIMIT} more" if len(members) > SAMPLE_LIMIT else ""
        details = (
            f"Ingestion job(s) {names}{more} of dataset {dataset}.",
            *(f"Job {j.job_id}: {j.record_count} records received, {j.parts_done}/{j.parts} chunks processed; "
              f"GET /api/v1/status/{j.job_id}" for j in members[:SAMPLE_LIMIT]),
        )
        alerts.append(Alert("job_failed", f"dataset {dataset}", reason, details))
    return alerts


# -- consumer lag ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShardLag:
    shard: str
    head: int  # the last sequence number written to the shard
    committed: int  # the consumer's position, committed to every table (the lowest over the datasets)
    oldest_unread_age_s: float = 0.0

    @property
    def lag_records(self) -> int:
        return max(self.head - self.committed, 0)


@dataclass
class LagReading:
    shards: list[ShardLag] = field(default_factory=list)
    unavailable: str | None = None  # why lag cannot be measured (another stream backend, no stream yet)


def stream_lag(settings: Settings, now: float | None = None) -> LagReading:
    """Per shard of the local stream: records written and not yet committed by the consumer
    (``eventlake.stream.lag``, the measure the dashboard and ``/metrics`` show). Kinesis' lag is its
    iterator age in CloudWatch, which its own alarm watches (deploy/README.md)."""
    from eventlake.stream.lag import LagUnavailable
    from eventlake.stream.lag import stream_lag as measure

    try:
        rows = measure(settings, datetime.fromtimestamp(now, UTC) if now is not None else None)
    except LagUnavailable as exc:
        return LagReading(unavailable=str(exc))
    return LagReading(shards=[ShardLag(r["shard"], r["head"], r["committed"], r["oldest_unread_age_s"]) for r in rows])


def lag_alert(settings: Settings, reading: LagReading) -> Alert | None:
    """An alert when any shard lags by more than ``consumer_lag_alert_records``, else None."""
    threshold = settings.consumer_lag_alert_records
    behind = [s for s in reading.shards if s.lag_records > threshold]
    if not behind:
        return None
    details = tuple(
        f"{s.shard}: {s.lag_records} records behind (written up to {s.head}, committed up to {s.committed}; "
        f"oldest unread {s.oldest_unread_age_s:g} s)"
        for s in behind
    ) + ("Is a consumer running (`eventlake consume`)? Its log is $EVENTLAKE_HOME/logs/consumer.log.",)
    return Alert(
        "consumer_lag",
        f"stream {settings.stream_name}",
        f"consumer lag over {threshold} records",
        details,
    )


def now_utc() -> datetime:
    return datetime.now(UTC)
