"""Views: what a person looks at: the offline HTML report (``tuner report``), the dashboard
(``tuner dashboard``, ``dashboard``) and the terminal tables (``formatting``).

The report is two steps kept apart on purpose: ``report_data`` turns the storage into plain
numbers (what tests check; with ``study_data`` for one study, ``spread_stats`` for its response
statistics and ``sensitivity_data`` for grid studies), ``figures`` and ``report`` only draw and
write those numbers.
"""
