"""Analyses of a project's logs shared by the services that answer them (the Loop agent's
pre-canned analyses and tools, the classifier's label stats, the built-in dashboards): the BTQL
(queries.py, pure text) and the arithmetic on its rows (results.py). Nothing here runs a query."""
