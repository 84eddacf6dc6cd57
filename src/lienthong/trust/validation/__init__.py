"""Signature validation: one service used by the portal page, the API, the
exchange and the dossier workflow (service.validate_document).

engine.py does the work inside a bounded child process (sandbox.py) and knows
nothing of Django; service.py gathers the trust list and policy, runs it, and
hands back a report (report.py) that renders in Vietnamese or English.
"""
