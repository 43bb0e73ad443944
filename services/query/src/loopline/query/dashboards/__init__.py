"""Dashboards: saved charts (a BTQL query + a chart spec) grouped into dashboards per project, the
built-in dashboards every project gets (defined in code, never stored), and running a dashboard's
charts with one time range, granularity and filters applied to all of them.

- `models.py`: the request and stored shapes (pydantic), with their limits;
- `compose.py`: a chart's BTQL + the dashboard's view (range, granularity, filters) → one BTQL
  query (AST and text, the text is what "open in the sandbox" shows);
- `builtin.py`: the built-in dashboards;
- `store.py`: the `dashboards` table (query's migration 300) and its reads/writes, per org;
- `run.py`: a dashboard's charts run concurrently, bounded;
- `routes.py`: the HTTP routes (`/dashboards...`).
"""
