"""Streaming exports (CSV, and XLSX in openpyxl's write-only mode) of any queryset through a column spec, and the
reports: 发票汇总表 by entity, period and rate; invoice detail; application status."""
