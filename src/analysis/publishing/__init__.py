"""Stage 4, publishing: from published tables to what readers see.

Owns the table contract (``tables``), the text layer (``text``), the disclosure check
(``disclosure``), figure files (``figures``), the manifest (``manifest``), the report and
brief (``report``, ``recommendations``) and the dashboard (``dashboard``). Reads published
tables only; must not re-estimate anything.
"""
