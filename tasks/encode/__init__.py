"""zspace.tasks.encode"""
