"""The Streamlit script of ``insights dashboard`` (started by :mod:`dashboard.server`):
the global filters and the page in the sidebar, and in the URL's query parameters
(``?page=retention&creator=cr_001&start=2026-02-01&end=2026-02-28&grain=week``), so a
link opens the same view. Pages are chosen by a parameter rather than by URL path: every
URL is the app's root, which Streamlit's frontend serves without probing sub-paths.
Run as ``streamlit run dashboard/app.py -- --serving PATH``."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date
from pathlib import Path

import duckdb
import streamlit as st

from dashboard import pages
from dashboard import queries as q
from dashboard.data import ServingReader

log = logging.getLogger(__name__)


def _serving_path(argv: list[str]) -> Path:
    parser = argparse.ArgumentParser(prog="dashboard/app.py")
    parser.add_argument("--serving", type=Path, required=True)
    return parser.parse_known_args(argv)[0].serving


@st.cache_resource
def _reader(path: str) -> ServingReader:
    return ServingReader(Path(path))


def _sidebar(reader: ServingReader) -> pages.Context | None:
    rows = reader.rows(q.bounds())
    first, last = rows[0] if rows else (None, None)
    if first is None:
        st.error(f"The serving database {reader.path} holds no engagement data yet: run "
                 "the pipeline (`insights run`) first.")
        return None
    names = {q.ALL_CREATORS: "All creators", **dict(reader.rows(q.creators()))}
    params = st.query_params.to_dict()
    f = q.parse_filters(params, first, last, set(names))
    side = st.sidebar
    side.markdown("### Filters")
    picked = side.date_input("Date range", value=(f.start, f.end), min_value=first,
                             max_value=last, key="range")
    start, end = (picked if isinstance(picked, tuple) and len(picked) == 2
                  else (f.start, f.end))
    ids = list(names)
    creator = side.selectbox("Creator", ids, index=ids.index(f.creator),
                             format_func=names.get, key="creator")
    grain = side.selectbox("Grain", q.GRAINS, index=q.GRAINS.index(f.grain), key="grain")
    f = q.Filters(start, end, creator, grain)
    for k, v in q.to_params(f).items():  # the URL always says what is shown
        if st.query_params.get(k) != v:
            st.query_params[k] = v
    side.caption(f"Data from {first} to {last}. Serving database: {reader.path.name}")
    return pages.Context(reader, f, names)


def _param_date(name: str) -> date | None:
    try:
        return date.fromisoformat(st.query_params.get(name, ""))
    except ValueError:
        return None


def _param_int(name: str) -> int | None:
    try:
        return int(st.query_params.get(name, ""))
    except ValueError:
        return None


def main(argv: list[str]) -> None:
    st.set_page_config(page_title="Insights dashboard", layout="wide")
    reader = _reader(str(_serving_path(argv)))
    ctx = _sidebar(reader)
    if ctx is None:
        return
    draw = {
        "overview": lambda: pages.overview(ctx),
        "engagement": lambda: pages.engagement(ctx, _param_date("day"), _param_int("band")),
        "retention": lambda: pages.retention(ctx),
        "funnels": lambda: pages.funnels(ctx, st.query_params.get("funnel"),
                                         _param_int("step")),
        "paths": lambda: pages.paths(ctx),
        "conversations": lambda: pages.conversations(ctx, _param_date("day")),
        "learning": lambda: pages.learning(ctx, st.query_params.get("topic")),
        "revenue": lambda: pages.revenue(ctx),
        "content": lambda: pages.content(ctx),
        "experiments": lambda: pages.experiments(ctx),
        "forecasts": lambda: pages.forecasts(ctx),
        "anomalies": lambda: pages.anomalies(ctx, _param_date("day")),
        "data_quality": lambda: pages.data_quality(ctx),
    }
    names = list(q.PAGES)
    asked = st.query_params.get("page")
    page = st.sidebar.radio("Page", names, index=names.index(asked) if asked in names else 0,
                            format_func=lambda n: q.PAGES[n][0], key="page")
    if st.query_params.get("page") != page:
        st.query_params["page"] = page
    try:
        draw[page]()
    except duckdb.CatalogException as exc:  # a table not published yet (a partial run)
        st.warning("This page needs a table the serving database does not hold yet: "
                   f"{str(exc).splitlines()[0]}")

main(sys.argv[1:])
