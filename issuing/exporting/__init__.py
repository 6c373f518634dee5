"""Streaming exports (CSV, and XLSX written row by row into the zip) of any queryset through a column spec, and the
reports: 发票汇总表 by entity, period and rate; invoice detail; application status."""
