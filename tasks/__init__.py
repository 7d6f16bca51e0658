"""zspace.tasks"""
