"""zspace.tasks.report"""
