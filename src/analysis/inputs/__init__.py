"""Stage 1, inputs: a city's raw files become the harmonised codebook.

Owns the city profile (``profile``), the readers with their independent row counts
(``readers``), the codebook (``codebook``), cleaning with row accounting (``clean``),
pseudonymisation (``pseudonymise``) and the new-city toolkit (``newcity``, ``check``,
``questionnaire``). Must not estimate, draw or publish anything.
"""
