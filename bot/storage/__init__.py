"""Storage for handoffs to human operators: cases, transcripts, operators, audit, aggregates.

``models`` holds the tables, ``database`` the engine, sessions and migrations
(Alembic, in ``migrations/``), ``repository`` the small operations on them.
Nothing identifying is stored: a case knows its conversation only by the keyed
hash of ``bot.connectors.identity``, and purge removes transcripts after the
retention period while the anonymous counts in ``Aggregate`` stay.
"""
