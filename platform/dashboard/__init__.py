"""The Streamlit dashboard: ``data`` reads the sources (plain functions, no Streamlit),
``app`` lays the views out (the script ``streamlit run`` takes, :data:`APP`)."""

from pathlib import Path

#: The Streamlit script: ``streamlit run <APP>`` (``eventlake demo`` starts it so).
APP = Path(__file__).with_name("app.py")
