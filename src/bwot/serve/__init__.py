"""`bwot serve`: a local web page to query a finished run by drawing (FastAPI + uvicorn, one static page).

`create_app(retriever, k)` builds the application (bwot.serve.app); the command is bwot.serve.cli.
"""
