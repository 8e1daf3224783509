#!/usr/bin/env python3
"""Checks ops/grafana/shop-dashboard.json: well-formed JSON, a templated Prometheus data source
used by every panel and query, unique panel ids, and the panels the dashboard promises with the
metric each one must query. Run by `cargo xtask test`; usage: check_dashboard.py [PATH]."""

import json
import sys
from pathlib import Path

EXPECTED = {
    "Requests/s by template": "gateway_http_requests_total",
    "Error ratio by template": "gateway_http_requests_total",
    "Latency p50 / p99 by template": "gateway_http_request_duration_seconds_bucket",
    "Upstream calls/s by gRPC method and code": "gateway_upstream_requests_total",
    "Circuit breaker state": "circuit_breaker_state",
    "Healthy instances per upstream": "gateway_upstream_instances",
    "DB pool: connections in use and waiting": "db_pool_waiting",
    "Outbox: unpublished events and lag": "outbox_lag_seconds",
    "Live purchase watchers": "purchase_watchers",
}


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("shop-dashboard.json")
    dash = json.loads(path.read_text())
    errors = []
    if not 36 <= dash.get("schemaVersion", 0) <= 41:
        errors.append(f"schemaVersion {dash.get('schemaVersion')} is not ~39")
    variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        errors.append("no `datasource` variable of Prometheus data sources")
    panels = [p for p in dash.get("panels", []) if p.get("type") != "row"]
    ids = [p["id"] for p in dash.get("panels", [])]
    if len(ids) != len(set(ids)):
        errors.append(f"duplicate panel ids: {ids}")
    by_title = {p["title"]: p for p in panels}
    for title, metric in EXPECTED.items():
        panel = by_title.get(title)
        if panel is None:
            errors.append(f"missing panel {title!r}")
            continue
        exprs = [t.get("expr", "") for t in panel.get("targets", [])]
        if not any(metric in e for e in exprs):
            errors.append(f"panel {title!r} does not query {metric}: {exprs}")
    for panel in panels:
        sources = [panel.get("datasource")] + [t.get("datasource") for t in panel.get("targets", [])]
        if any(s != {"type": "prometheus", "uid": "${datasource}"} for s in sources):
            errors.append(f"panel {panel['title']!r} does not use the ${{datasource}} variable")
        if not panel.get("targets"):
            errors.append(f"panel {panel['title']!r} has no query")
    for error in errors:
        print(f"{path}: {error}", file=sys.stderr)
    if not errors:
        print(f"{path}: {len(panels)} panels OK")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
