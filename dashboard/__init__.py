"""The interactive dashboard (``insights dashboard``): a Streamlit app over the serving
database, read-only. ``queries`` builds the SQL, ``data`` runs it, ``app`` draws it."""
