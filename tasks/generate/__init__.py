"""zspace.tasks.generate"""
