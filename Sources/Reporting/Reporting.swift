// Reporting — what people read after a run: summaries and reports.
