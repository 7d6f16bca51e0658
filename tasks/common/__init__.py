"""zspace.tasks.common"""
