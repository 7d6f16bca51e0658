"""zspace.tasks.ingest"""
