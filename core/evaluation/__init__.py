"""Evaluation: suites of test cases, registered checks, evaluation runs, statistics, release gates and bias checks.

A suite is a named, versioned set of cases (variables, an optional reference, optional per-case checks) with a
prompt template version and suite-wide checks. An evaluation run answers every case with one or more models and
stores each output with its check results; gates compare a candidate with a baseline on the same cases.
"""
