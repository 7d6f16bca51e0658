"""zspace.tasks.analyze"""
