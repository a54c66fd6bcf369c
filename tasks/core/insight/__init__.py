"""What a branch's stores hold: tables, rows and sizes, key namespaces, migrations (db.inspect).

model.py holds the report, postgres.py, scylla.py and keydb.py read one store kind each (read-only,
so safe on every target), run.py reads them in parallel, views.py is what a person sees.
"""
