"""zspace.tasks.project"""
