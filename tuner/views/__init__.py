"""Offline HTML views of the study storage (``tuner report``).

Two steps kept apart on purpose: ``report_data`` turns the storage into plain numbers (what
tests check), ``figures`` and ``report`` only draw and write those numbers.
"""
