"""Stage 2, geography: neighbourhood boundaries and the maps drawn on them.

Owns reading and checking boundary files (``geo``, ``boundaries_cli``) and the one
choropleth (``maps``). Must not compute survey estimates: maps draw published tables.
"""
