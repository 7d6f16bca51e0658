"""zspace.tasks.train"""
