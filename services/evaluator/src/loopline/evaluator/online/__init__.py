"""Online scoring of production logs: `/v1/project_score` rules applied to committed project logs."""
