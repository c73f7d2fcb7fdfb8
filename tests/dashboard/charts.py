"""Reading what the dashboard drew, in Streamlit's AppTest: each Altair chart's Vega-Lite spec and data."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
from streamlit.testing.v1 import AppTest


def vega_charts(at: AppTest) -> list[tuple[dict, list[pd.DataFrame]]]:
    """Every Altair chart: its Vega-Lite spec and its datasets as frames."""
    charts = []
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        frames = [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in chart.proto.datasets]
        charts.append((spec, frames))
    return charts


def title_of(spec: dict) -> str | None:
    title = spec.get("title")
    return title.get("text") if isinstance(title, dict) else title
